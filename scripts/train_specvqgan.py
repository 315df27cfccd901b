"""Train SpecVQGAN through `videozoo.training.fit`: Stage I (the spectrogram codebook), then Stage II (the sampler)
on the frozen Stage I.

    # the synthetic task (the visual condition decides pitch and rhythm of a tone; 0.5 s, 16 mel bands):
    python scripts/train_specvqgan.py --stage codebook --dataset_name synthetic --max_steps 60 --learning_rate 2e-3 \
        --per_device_train_batch_size 4 --output_dir runs/synthetic-codebook
    python scripts/train_specvqgan.py --stage sampler --first_stage runs/synthetic-codebook --dataset_name synthetic \
        --max_steps 150 --learning_rate 3e-3 --per_device_train_batch_size 4 --output_dir runs/synthetic-sampler

    # the authors' VAS layout (their spectrograms and ResNet-50 features; split lists next to the folder):
    python scripts/train_specvqgan.py --stage sampler --first_stage converted-vas-codebook --dataset_name vas \
        --data_dir data/vas --num_features 212 ... --output_dir runs/vas-sampler
    # the authors' VGGSound layout (BN-Inception RGB + flow features, 2048-d; vggsound_{train,valid}.txt beside it):
    python scripts/train_specvqgan.py --stage sampler --first_stage converted-vggsound-codebook \
        --dataset_name vggsound --data_dir data/vggsound --num_features 212 ... --output_dir runs/vggsound-sampler

Stage I trains with L1 + codebook loss, or with `--adversarial` also the reference's hinge patch-GAN
(`SpecVQGANTrainingLoss`, adaptive weight, the discriminator on its own Adam with betas (0.5, 0.9), alternating with
the autoencoder's optimizer from `--disc_start` batches on; the reference also uses betas (0.5, 0.9) for the
autoencoder: `--adam_beta1 0.5 --adam_beta2 0.9`). The perceptual (LPAPS) term is left out: its VGGish-ish weights
do not ship with the project. A fresh codebook starts from encoder outputs
of up to 64 training spectrograms (`init_codebook_from`; the reference's U(-1/K, 1/K) start collapses onto a few
codes in short runs). The reference's sampler optimiser (AdamW, betas 0.9 / 0.95, weight decay 0.01) is set with
the flags (`--adam_beta2 0.95 --weight_decay 0.01`); note that the shared loop decays every weight matrix.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from transformers import AutoModel, HfArgumentParser

import videozoo  # noqa: F401
from videozoo.arguments import checkpoint_problem, folder_problem, positive_problem, raise_if_any
from videozoo.configuration import SpecVQGANConfig, SpecVQGANSamplerConfig
from videozoo.data.specvqgan import collate, list_clips, load_example, make_synthetic_dataset
from videozoo.modeling import SpecVQGANForConditionalGeneration, SpecVQGANModel, SpecVQGANTrainingLoss
from videozoo.processors import SpecVQGANFeatureExtractor, SpecVQGANProcessor
from videozoo.tasks.specvqgan import SpecVQGANAdversarialCodebookTask, SpecVQGANCodebookTask, SpecVQGANSamplerTask
from videozoo.training import TrainerArguments, fit


@dataclass
class SpecVQGANArguments:
    stage: Literal["codebook", "sampler"] = "codebook"
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A trained or converted model of this stage to fine-tune."}
    )
    dataset_name: Literal["synthetic", "vas", "vggsound"] = "synthetic"
    data_dir: str | None = field(
        default=None, metadata={"help": "vas / vggsound: the authors' data folder (docs/specvqgan.md, data layouts)."}
    )
    num_train_examples: int = field(default=16, metadata={"help": "synthetic: training rows."})
    num_eval_examples: int = field(default=8, metadata={"help": "synthetic: evaluation rows."})
    first_stage: str | None = field(default=None, metadata={"help": "sampler: a trained / converted Stage I."})
    num_features: int = field(default=2, metadata={"help": "sampler: conditioning vectors N (212, 5, 1 for VAS)."})
    adversarial: bool = field(
        default=False,
        metadata={"help": "codebook: add the patch discriminator (hinge GAN, own Adam) as the reference; no LPAPS."},
    )
    disc_start: int | None = field(
        default=None, metadata={"help": "codebook --adversarial: batches before the discriminator starts."}
    )
    hidden_size: int = 32
    num_hidden_layers: int = 2
    num_attention_heads: int = 4


def synthetic_processor() -> SpecVQGANProcessor:
    extractor = SpecVQGANFeatureExtractor(feature_size=16, pad_to_seconds=0.5, max_frames=None, crop_frames=40)
    return SpecVQGANProcessor(extractor, num_features=2, feature_length=11, feature_crop_length=9, feature_size=8)


def datasets(args: SpecVQGANArguments, processor: SpecVQGANProcessor):
    if args.dataset_name == "synthetic":
        return (
            make_synthetic_dataset(processor, args.num_train_examples, 0.5, seed=0),
            make_synthetic_dataset(processor, args.num_eval_examples, 0.5, seed=1),
        )
    if args.data_dir is None:
        raise ValueError(f"--dataset_name {args.dataset_name} needs --data_dir (the authors' data folder)")
    root = Path(args.data_dir)
    splits = [root.parent / f"{args.dataset_name}_train.txt", root.parent / f"{args.dataset_name}_valid.txt"]
    rows = []
    for split in splits:
        clips = list_clips(root, split if split.is_file() else None, layout=args.dataset_name)
        if not clips:
            raise ValueError(f"no complete clip (video, spectrogram, features) under {root} for {split.name}")
        rows.append([load_example(clip, processor) for clip in clips])
    return rows[0], rows[1]


def argument_problems(args: SpecVQGANArguments) -> list[str | None]:
    """Every problem of the SpecVQGAN arguments, found before anything is loaded or written."""
    problems = [
        positive_problem("--num_train_examples", args.num_train_examples),
        positive_problem("--num_eval_examples", args.num_eval_examples),
        positive_problem("--num_features", args.num_features),
        positive_problem("--hidden_size", args.hidden_size),
        positive_problem("--num_hidden_layers", args.num_hidden_layers),
        positive_problem("--num_attention_heads", args.num_attention_heads),
        positive_problem("--disc_start", args.disc_start, allow_zero=True),
    ]
    if args.num_attention_heads > 0 and args.hidden_size % args.num_attention_heads:
        problems.append(f"--hidden_size {args.hidden_size} is not a multiple of --num_attention_heads")
    if args.dataset_name != "synthetic":
        problems.append(folder_problem("--data_dir", args.data_dir, required=True))
    stage_type = {"codebook": "specvqgan", "sampler": "specvqgan_sampler"}[args.stage]
    problems.append(checkpoint_problem("--model_name_or_path", args.model_name_or_path, (stage_type,), required=False))
    if args.stage == "sampler":
        if args.model_name_or_path and args.first_stage:
            problems.append("--first_stage: a sampler checkpoint (--model_name_or_path) holds its own Stage I")
        elif not args.model_name_or_path:
            problems.append(checkpoint_problem("--first_stage", args.first_stage, ("specvqgan",)))
        if args.adversarial or args.disc_start is not None:
            problems.append("--adversarial and --disc_start are for --stage codebook")
    elif args.first_stage:
        problems.append("--first_stage is for --stage sampler")
    if args.disc_start is not None and not args.adversarial:
        problems.append("--disc_start needs --adversarial")
    return problems


def main(argv: list[str] | None = None) -> dict[str, float]:
    args, training_args = HfArgumentParser((SpecVQGANArguments, TrainerArguments)).parse_args_into_dataclasses(argv)
    raise_if_any([*training_args.problems(), *argument_problems(args)])
    if args.dataset_name == "synthetic":
        processor = synthetic_processor()
    else:
        processor = SpecVQGANProcessor(num_features=args.num_features)
    train, evaluation = datasets(args, processor)
    torch.manual_seed(training_args.seed)
    if args.model_name_or_path:  # fine-tuning a model of this stage
        model_class = SpecVQGANModel if args.stage == "codebook" else SpecVQGANForConditionalGeneration
        model = model_class.from_pretrained(args.model_name_or_path)
        task = SpecVQGANCodebookTask() if args.stage == "codebook" else SpecVQGANSamplerTask()
    elif args.stage == "codebook":
        if args.dataset_name == "synthetic":
            config = SpecVQGANConfig(
                num_mel_bins=16,
                base_channels=32,
                channel_multipliers=[1, 1, 2],
                num_res_blocks=1,
                attn_resolutions=[4],
                resolution=16,
                z_channels=32,
                embed_dim=8,
                num_embeddings=16,
                disc_num_layers=2,  # 16 mel bands: three stride-2 layers would leave the 4 x 4 kernels no room
            )
        else:
            config = SpecVQGANConfig(num_embeddings=128)  # the VAS codebook
        model = SpecVQGANModel(config)
        model.init_codebook_from(collate(train[:64])["input_features"])  # up to 64 training spectrograms
        if args.adversarial:
            # no VGGish-ish weights ship with the project: the perceptual term is dropped (docs/specvqgan.md)
            model.config.perceptual_weight = 0.0
            if args.disc_start is not None:
                model.config.disc_start = args.disc_start
            task = SpecVQGANAdversarialCodebookTask(
                SpecVQGANTrainingLoss(model.config), training_args.learning_rate, (0.5, 0.9)
            )
        else:
            task = SpecVQGANCodebookTask()
    else:
        if args.first_stage is None:
            raise ValueError("--stage sampler needs --first_stage (a trained or converted Stage I folder)")
        first_stage = AutoModel.from_pretrained(args.first_stage)
        if not isinstance(first_stage, SpecVQGANModel):
            raise ValueError(f"{args.first_stage} is not a SpecVQGAN Stage I checkpoint")
        frames = train[0]["input_features"].shape[-1]
        config = SpecVQGANSamplerConfig(
            latent_grid=list(first_stage.config.latent_size(frames)),
            feature_size=processor.feature_size,
            num_features=processor.num_features,
            hidden_size=args.hidden_size,
            num_hidden_layers=args.num_hidden_layers,
            num_attention_heads=args.num_attention_heads,
            intermediate_size=4 * args.hidden_size,
        )
        model = SpecVQGANForConditionalGeneration.from_first_stage(first_stage, config)
        task = SpecVQGANSamplerTask()
    return fit(
        model,
        task,
        train,
        training_args,
        collate_fn=collate,
        eval_dataset=evaluation,
        processor=processor,
        hparams=vars(args),
    )


if __name__ == "__main__":
    print(main())
