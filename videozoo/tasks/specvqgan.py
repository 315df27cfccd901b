"""SpecVQGAN tasks for `videozoo.training.fit`.

`SpecVQGANCodebookTask` trains Stage I with the loss of `SpecVQGANModel.forward` (L1 + codebook);
`SpecVQGANAdversarialCodebookTask` adds the reference's perceptual and adversarial terms (`SpecVQGANTrainingLoss`)
and the discriminator's own optimizer, alternating with the autoencoder's (the shared loop's auxiliary parts).
`SpecVQGANSamplerTask` trains Stage II with teacher forcing on the frozen Stage I's indices (the reference's
`Net2NetTransformer.shared_step`). They evaluate over the whole set, gathered over processes.

This module is also the recipe of both SpecVQGAN stages in the generation family (`scripts/run_generation.py`):
`--model_type specvqgan` trains Stage I (the spectrogram codebook), `--model_type specvqgan_sampler` Stage II (the
sampler) on a frozen Stage I.

    # the synthetic task (the visual condition decides pitch and rhythm of a tone; 0.5 s, 16 mel bands):
    python scripts/run_generation.py train --model_type specvqgan --dataset_name synthetic --max_steps 60 \
        --learning_rate 2e-3 --per_device_train_batch_size 4 --output_dir runs/synthetic-codebook
    python scripts/run_generation.py train --model_type specvqgan_sampler --first_stage runs/synthetic-codebook \
        --dataset_name synthetic --max_steps 150 --learning_rate 3e-3 --per_device_train_batch_size 4 \
        --output_dir runs/synthetic-sampler

    # the authors' VAS layout (their spectrograms and ResNet-50 features; split lists next to the folder):
    python scripts/run_generation.py train --model_type specvqgan_sampler --first_stage converted-vas-codebook \
        --dataset_name vas --data_dir data/vas --num_features 212 ... --output_dir runs/vas-sampler
    # the authors' VGGSound layout (BN-Inception RGB + flow features, 2048-d; vggsound_{train,valid}.txt beside it):
    python scripts/run_generation.py train --model_type specvqgan_sampler \
        --first_stage converted-vggsound-codebook --dataset_name vggsound --data_dir data/vggsound --num_features 212 \
        ... --output_dir runs/vggsound-sampler

Stage I trains with L1 + codebook loss, or with `--adversarial` also the reference's hinge patch-GAN
(`SpecVQGANTrainingLoss`, adaptive weight, the discriminator on its own Adam with betas (0.5, 0.9), alternating with
the autoencoder's optimizer from `--disc_start` batches on; the reference also uses betas (0.5, 0.9) for the
autoencoder: `--adam_beta1 0.5 --adam_beta2 0.9`). The perceptual (LPAPS) term is left out: its VGGish-ish weights
do not ship with the project. A fresh codebook starts from encoder outputs of up to 64 training spectrograms
(`init_codebook_from`; the reference's U(-1/K, 1/K) start collapses onto a few codes in short runs). The
reference's sampler optimiser (AdamW, betas 0.9 / 0.95, weight decay 0.01) is set with the flags
(`--adam_beta2 0.95 --weight_decay 0.01`); note that the shared loop decays every weight matrix.

Evaluation of the sampler (`run_generation.py evaluate`, Stage I has none of its own: its reconstruction L1 and
codebook use are the training evaluation): the paper's protocol (Iashin and Rahtu, BMVC 2021, section 4.2): several
samples per held-out video, decoded by the frozen Stage I, scored by a classifier against the real clip: FID on its
features, MKL on its class distributions (the shipped `melception_fid_mkl` module), for

- `visual`: the video's own features (the model's use), and
- `random`: Gaussian features with the held-out set's per-channel mean and standard deviation (the control: what
  the model produces when the condition carries no information), with the same sampling seed.

A model that uses the condition scores lower FID and MKL, and higher accuracy, with `visual` than with `random`.

    # the synthetic task (after training, above): the task's own classifier (`SyntheticToneClassifier`, fitted
    # on the training spectrograms) stands in for Melception; adds the class and pitch accuracy
    python scripts/run_generation.py evaluate --model_name_or_path runs/synthetic-sampler --dataset_name synthetic

    # the authors' VAS layout with a converted Melception (scripts/convert_melception_original_checkpoint.py)
    python scripts/run_generation.py evaluate --model_name_or_path converted-vas-sampler --dataset_name vas \
        --data_dir data/vas --split valid --melception converted-melception --samples_per_video 10 --top_k 64

The reference ranks generated samples against one real spectrogram per video (the authors' `_mel.npy`, centre
cropped to the model's length); Melception's 309 VGGSound classes do not match VAS's 8, so no accuracy is
reported there. Writes `metrics.json` (atomically) to `--output_dir` (default `<model>/eval`).
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from accelerate import Accelerator
from transformers import AutoModel

from ..arguments import checkpoint_problem, folder_problem, output_folder_problem, positive_problem, raise_if_any
from ..configuration.configuration_specvqgan import SpecVQGANConfig, SpecVQGANSamplerConfig
from ..data.specvqgan import SyntheticToneClassifier, collate, list_clips, load_example, make_synthetic_dataset
from ..metrics import load_metric
from ..modeling.modeling_specvqgan import SpecVQGANForConditionalGeneration, SpecVQGANModel, SpecVQGANTrainingLoss
from ..processors.feature_extraction_specvqgan import SpecVQGANFeatureExtractor
from ..processors.processing_specvqgan import SpecVQGANProcessor
from ..recipes import Recipe, save_evaluation
from ..training import TrainerArguments, fit


class SpecVQGANCodebookTask:
    def training_loss(self, model, batch: dict) -> torch.Tensor:
        return model(input_features=batch["input_features"], return_loss=True).loss

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        l1, codebook, indices = [], [], []
        for batch in dataloader:
            out = model(input_features=batch["input_features"])
            error = (out.reconstruction - batch["input_features"]).abs().flatten(1).mean(dim=1)
            gathered = accelerator.gather_for_metrics(
                {"l1": error, "codebook": out.codebook_loss.expand(len(error)), "indices": out.indices}
            )
            l1.append(gathered["l1"].cpu())
            codebook.append(gathered["codebook"].cpu())
            indices.append(gathered["indices"].cpu())
        used = torch.cat(indices).unique().numel()
        return {
            "l1": torch.cat(l1).mean().item(),
            "codebook_loss": torch.cat(codebook).mean().item(),
            "codes_used": used,
        }


class SpecVQGANAdversarialCodebookTask(SpecVQGANCodebookTask):
    """Stage I with the reference's full objective (`SpecVQGANTrainingLoss`, the reference's
    `VQLPAPSWithDiscriminator`): the autoencoder step (L1 + perceptual + codebook + adaptive-weighted hinge generator
    term) through the model's optimizer, then the discriminator step through its own Adam, as the reference's two
    Lightning optimizers (`optimizer_idx` 0 then 1 on every batch, the discriminator seeing a fresh reconstruction
    by the updated autoencoder). The adversarial terms are 0 before `config.disc_start` batches; the discriminator
    step is skipped there (the reference multiplies its loss by 0, which leaves Adam's moments at zero too).
    As Lightning's `toggle_optimizer`, the discriminator's weights take no gradient from the autoencoder step.

    `loss`: a `SpecVQGANTrainingLoss` (its LPAPS needs VGGish-ish weights when `perceptual_weight > 0`); `lr`,
    `betas`: the discriminator's Adam (the reference: the autoencoder's learning rate, betas (0.5, 0.9))."""

    def __init__(self, loss, lr: float, betas: tuple[float, float] = (0.5, 0.9)):
        self.loss, self.lr, self.betas = loss, lr, betas
        self.current_step = 0
        self.auxiliary = []

    def auxiliary_parts(self, model):
        optimizer = torch.optim.Adam(self.loss.discriminator.parameters(), lr=self.lr, betas=self.betas)
        return [(self.loss, optimizer)]

    def _loss_module(self):
        return self.auxiliary[0][0] if self.auxiliary else self.loss

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        inputs = batch["input_features"]
        out = model(input_features=inputs)
        loss_module = self._loss_module()
        discriminator = getattr(loss_module, "module", loss_module).discriminator
        discriminator.requires_grad_(False)
        try:
            last_layer = (model.module if hasattr(model, "module") else model).get_last_layer()
            loss, _ = loss_module(out.codebook_loss, inputs, out.reconstruction, 0, self.current_step, last_layer)
        finally:
            discriminator.requires_grad_(True)
        return loss

    def auxiliary_loss(self, model, part: int, batch: dict) -> torch.Tensor | None:
        loss_module = self._loss_module()
        if self.current_step < getattr(loss_module, "module", loss_module).config.disc_start:
            return None
        inputs = batch["input_features"]
        with torch.no_grad():
            out = model(input_features=inputs)
        loss, _ = loss_module(out.codebook_loss, inputs, out.reconstruction, 1, self.current_step)
        return loss


class SpecVQGANSamplerTask:
    def _forward(self, model, batch: dict):
        return model(
            input_features=batch["input_features"],
            visual_features=batch["visual_features"],
            class_ids=batch.get("class_ids") if model.config.num_classes > 0 else None,
        )

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        return self._forward(model, batch).loss

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        losses, correct = [], []
        for batch in dataloader:
            out = self._forward(model, batch)
            unwrapped = accelerator.unwrap_model(model)
            target = unwrapped.encode_to_indices(batch["input_features"])
            nll = torch.nn.functional.cross_entropy(out.logits.transpose(1, 2).float(), target, reduction="none")
            gathered = accelerator.gather_for_metrics(
                {"nll": nll.mean(dim=1), "correct": (out.logits.argmax(-1) == target).float().mean(dim=1)}
            )
            losses.append(gathered["nll"].cpu())
            correct.append(gathered["correct"].cpu())
        return {"loss": torch.cat(losses).mean().item(), "token_accuracy": torch.cat(correct).mean().item()}


__all__ = ["SpecVQGANAdversarialCodebookTask", "SpecVQGANCodebookTask", "SpecVQGANSamplerTask"]


# ---- the recipes: training ----


STAGE_TYPES = {"codebook": "specvqgan", "sampler": "specvqgan_sampler"}


@dataclass
class SpecVQGANArguments:
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


def argument_problems(args: SpecVQGANArguments, stage: str) -> list[str | None]:
    """Every problem of the SpecVQGAN arguments for `stage` ("codebook" or "sampler"), found before anything is
    loaded or written."""
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
    stage_type = STAGE_TYPES[stage]
    problems.append(checkpoint_problem("--model_name_or_path", args.model_name_or_path, (stage_type,), required=False))
    if stage == "sampler":
        if args.model_name_or_path and args.first_stage:
            problems.append("--first_stage: a sampler checkpoint (--model_name_or_path) holds its own Stage I")
        elif not args.model_name_or_path:
            problems.append(checkpoint_problem("--first_stage", args.first_stage, ("specvqgan",)))
        if args.adversarial or args.disc_start is not None:
            problems.append("--adversarial and --disc_start are for Stage I (--model_type specvqgan)")
    elif args.first_stage:
        problems.append("--first_stage is for the sampler (--model_type specvqgan_sampler)")
    if args.disc_start is not None and not args.adversarial:
        problems.append("--disc_start needs --adversarial")
    return problems


def train(args: SpecVQGANArguments, training_args: TrainerArguments, stage: str = "codebook") -> dict[str, float]:
    """Train Stage I (`stage="codebook"`) or Stage II (`"sampler"`); every argument is checked first."""
    raise_if_any([*training_args.problems(), *argument_problems(args, stage)])
    if args.dataset_name == "synthetic":
        processor = synthetic_processor()
    else:
        processor = SpecVQGANProcessor(num_features=args.num_features)
    train, evaluation = datasets(args, processor)
    torch.manual_seed(training_args.seed)
    if args.model_name_or_path:  # fine-tuning a model of this stage
        model_class = SpecVQGANModel if stage == "codebook" else SpecVQGANForConditionalGeneration
        model = model_class.from_pretrained(args.model_name_or_path)
        task = SpecVQGANCodebookTask() if stage == "codebook" else SpecVQGANSamplerTask()
    elif stage == "codebook":
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
            raise ValueError("the sampler needs --first_stage (a trained or converted Stage I folder)")
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
        hparams={**vars(args), "stage": stage},
    )


def train_codebook(args: SpecVQGANArguments, training_args: TrainerArguments) -> dict[str, float]:
    return train(args, training_args, "codebook")


def train_sampler(args: SpecVQGANArguments, training_args: TrainerArguments) -> dict[str, float]:
    return train(args, training_args, "sampler")


# ---- the sampler's recipe: evaluation ----

CONDITIONS = ("visual", "random")


@dataclass
class EvaluationArguments:
    model_name_or_path: str = field(default="", metadata={"help": "A trained or converted sampler."})
    dataset_name: Literal["synthetic", "vas", "vggsound"] = "synthetic"
    data_dir: str | None = field(default=None, metadata={"help": "vas / vggsound: the authors' data folder."})
    split: str = field(default="valid", metadata={"help": "The split list <data_dir>/../<dataset_name>_<split>.txt."})
    melception: str | None = field(default=None, metadata={"help": "vas / vggsound: a converted Melception."})
    num_train_examples: int = field(default=16, metadata={"help": "synthetic: rows the classifier is fitted on."})
    num_eval_examples: int = field(default=16, metadata={"help": "synthetic: held-out videos (seed 1 rows)."})
    max_videos: int | None = field(default=None, metadata={"help": "Evaluate the first videos only."})
    samples_per_video: int = field(default=10, metadata={"help": "Samples drawn per video (the paper: 10)."})
    conditions: str = field(default="visual,random", metadata={"help": "Comma-separated: visual, random."})
    top_k: int | None = field(default=None, metadata={"help": "Keep the k largest logits (default: all)."})
    temperature: float = 1.0
    batch_size: int = 32
    seed: int = 0
    output_dir: str = field(default="", metadata={"help": "Where metrics.json goes (default <model>/eval)."})


def evaluation_problems(args: EvaluationArguments) -> list[str | None]:
    conditions = [c for c in args.conditions.split(",") if c]
    unknown = [c for c in conditions if c not in CONDITIONS]
    problems = [
        checkpoint_problem("--model_name_or_path", args.model_name_or_path, ("specvqgan_sampler",)),
        output_folder_problem("--output_dir", args.output_dir) if args.output_dir else None,
        positive_problem("--samples_per_video", args.samples_per_video),
        positive_problem("--batch_size", args.batch_size),
        positive_problem("--temperature", args.temperature),
        positive_problem("--top_k", args.top_k),
        positive_problem("--max_videos", args.max_videos),
        f"--conditions: unknown condition {unknown[0]!r} (known: {', '.join(CONDITIONS)})" if unknown else None,
        "--conditions is empty" if not conditions else None,
    ]
    if args.dataset_name != "synthetic":
        problems += [
            folder_problem("--data_dir", args.data_dir, required=True),
            checkpoint_problem("--melception", args.melception, ("melception",)),
        ]
    else:
        problems += [
            positive_problem("--num_train_examples", args.num_train_examples),
            positive_problem("--num_eval_examples", args.num_eval_examples),
            "--melception is for --dataset_name vas / vggsound (the synthetic task has its own classifier)"
            if args.melception
            else None,
        ]
    return problems


def random_features(features: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Gaussian features with `features`' per-channel mean and standard deviation (over videos and frames)."""
    flat = features.flatten(0, 1)
    noise = torch.randn(features.shape, generator=generator, dtype=features.dtype)
    return noise * flat.std(0, correction=0) + flat.mean(0)


def generate_samples(model, features: torch.Tensor, args: EvaluationArguments, seed: int) -> torch.Tensor:
    """`samples_per_video` decoded spectrograms per video, `(videos * samples, F, T)` in [-1, 1] (video-major)."""
    repeated = features.repeat_interleave(args.samples_per_video, dim=0)
    torch.manual_seed(seed)
    out = []
    for start in range(0, len(repeated), args.batch_size):
        out.append(
            model.generate(
                repeated[start : start + args.batch_size],
                do_sample=True,
                top_k=args.top_k,
                temperature=args.temperature,
            ).spectrogram
        )
    return torch.cat(out)


def score(outputs, generated01: torch.Tensor, real: tuple[np.ndarray, np.ndarray], samples: int) -> dict:
    """FID and MKL of the generated set against the real clips (one per video) through the metric module."""
    features, logits = outputs(generated01)
    metric = load_metric("melception_fid_mkl")
    per_video = [slice(v * samples, (v + 1) * samples) for v in range(len(real[0]))]
    result = metric.compute(
        predictions=[{"features": features[s].tolist(), "logits": logits[s].tolist()} for s in per_video],
        references=[{"features": f.tolist(), "logits": g.tolist()} for f, g in zip(*real)],
    )
    return {"fid": result["frechet_inception_distance"], "mkl": result["kullback_leibler_divergence"]}, logits


def evaluate(args: EvaluationArguments) -> dict:
    """FID / MKL (and, on the synthetic task, accuracies) of the sampler's samples per condition; writes
    metrics.json."""
    raise_if_any(evaluation_problems(args))
    model = AutoModel.from_pretrained(args.model_name_or_path).eval()
    if args.dataset_name == "synthetic":
        processor = synthetic_processor()
        train = collate(make_synthetic_dataset(processor, args.num_train_examples, 0.5, seed=0))
        held_out = collate(make_synthetic_dataset(processor, args.num_eval_examples, 0.5, seed=1))
        classifier = SyntheticToneClassifier(processor.post_process(train["input_features"]), train["class_ids"])
        outputs = classifier.outputs
    else:
        from ..metrics.melception_fid_mkl.melception_fid_mkl import melception_outputs

        processor = SpecVQGANProcessor.default(model.config)
        root = Path(args.data_dir)
        split_file = root.parent / f"{args.dataset_name}_{args.split}.txt"
        clips = list_clips(root, split_file if split_file.is_file() else None, layout=args.dataset_name)
        if not clips:
            raise ValueError(f"--data_dir: no complete clip (video, spectrogram, features) under {root}")
        held_out = collate([load_example(clip, processor) for clip in clips[: args.max_videos]])
        melception = AutoModel.from_pretrained(args.melception).eval()

        def outputs(spectrograms01):
            return melception_outputs(melception, spectrograms01, batch_size=args.batch_size)

    if args.max_videos:
        held_out = {key: value[: args.max_videos] for key, value in held_out.items()}
    videos = len(held_out["visual_features"])
    with torch.no_grad():
        reconstruction = model.first_stage_model(held_out["input_features"]).reconstruction
    real01 = processor.post_process(held_out["input_features"])
    real = outputs(real01)
    metrics = {
        "dataset": args.dataset_name,
        "videos": videos,
        "samples_per_video": args.samples_per_video,
        "top_k": args.top_k,
        "temperature": args.temperature,
        "reconstruction/l1": (reconstruction - held_out["input_features"]).abs().mean().item(),
    }
    labels = held_out.get("class_ids") if args.dataset_name == "synthetic" else None
    if labels is not None:
        metrics["reconstruction/class_accuracy"] = float(
            (torch.from_numpy(outputs(processor.post_process(reconstruction))[1]).argmax(1) == labels).float().mean()
        )
        metrics["real/class_accuracy"] = float((torch.from_numpy(real[1]).argmax(1) == labels).float().mean())
    generator = torch.Generator().manual_seed(args.seed)
    for condition in [c for c in args.conditions.split(",") if c]:
        features = held_out["visual_features"]
        if condition == "random":
            features = random_features(features, generator)
        generated01 = processor.post_process(generate_samples(model, features, args, args.seed))
        scores, logits = score(outputs, generated01, real, args.samples_per_video)
        metrics.update({f"{condition}/{key}": value for key, value in scores.items()})
        if labels is not None:
            targets = labels.repeat_interleave(args.samples_per_video)
            predicted = torch.from_numpy(logits).argmax(1)
            metrics[f"{condition}/class_accuracy"] = float((predicted == targets).float().mean())
            metrics[f"{condition}/pitch_accuracy"] = float(
                (classifier.pitch_of(generated01) == targets % 2).float().mean()
            )
    save_evaluation(metrics, args.output_dir, args.model_name_or_path)
    return metrics


CODEBOOK_RECIPE = Recipe(
    train_arguments=(SpecVQGANArguments,),
    train=train_codebook,
    evaluate_note="Stage I's evaluation is the training one (reconstruction L1, codebook use); samples are scored "
    "on a sampler: run_generation.py evaluate --model_type specvqgan_sampler",
)
SAMPLER_RECIPE = Recipe(
    train_arguments=(SpecVQGANArguments,),
    train=train_sampler,
    evaluate_arguments=(EvaluationArguments,),
    evaluate=evaluate,
)


def codebook_benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: the VGGSound Stage I codebook (128 base channels, 71.7 M parameters without
    its discriminator) on 80 x 848 spectrograms, L1 + codebook loss (the step before `disc_start`); batch 3 per GPU
    (v-iashin/SpecVQGAN configs/vggsound_codebook.yaml)."""
    from ..benchmarking import Workload
    from ..configuration import SpecVQGANConfig
    from ..modeling import SpecVQGANModel

    paper = config is None
    config = config or SpecVQGANConfig()
    frames = 848 if paper else 10

    return Workload(
        description=f"{config.base_channels} base channels, {config.num_mel_bins} x {frames} spectrograms",
        build_model=lambda: SpecVQGANModel(config),
        make_inputs=lambda batch, generator: {
            "input_features": torch.rand(batch, config.num_mel_bins, frames, generator=generator) * 2 - 1
        },
        loss=SpecVQGANCodebookTask().training_loss,
        paper_batch_size=3,
        cpu_batch_size=1,
        learning_rate=4.5e-6,
    )


def full_prefix_sampling(model, features: torch.Tensor, steps: int) -> torch.Tensor:
    """The reference's greedy sampler: a forward pass over [condition, every index so far] for each new index (no
    key/value cache), the baseline `generate()` is measured against."""
    bos = torch.full((features.shape[0], 1), model.config.bos_token_id, device=features.device)
    tokens = torch.zeros(features.shape[0], 0, dtype=torch.long, device=features.device)
    for _ in range(steps):
        logits = model(input_ids=torch.cat([bos, tokens], 1), visual_features=features).logits[:, -1]
        tokens = torch.cat([tokens, logits.argmax(-1, keepdim=True)], dim=1)
    return tokens


def sampler_benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: the VGGSound Stage II transformer (24 layers, 1024 wide, 16 heads, 307 M
    parameters) on 212 feature vectors, teacher-forced over the 265 indices of a 10 s spectrogram; batch 2 per GPU
    (configs/vggsound_transformer.yaml). Generation: the 265 indices with the key/value cache (`generate`) against
    the reference's full-prefix sampler, greedy (identical indices); `--new_tokens k` runs the reference for the
    first k indices only (the cache always samples all of them), and the rates are per index."""
    from ..benchmarking import Workload
    from ..configuration import SpecVQGANConfig, SpecVQGANSamplerConfig
    from ..modeling import SpecVQGANForConditionalGeneration

    paper = config is None
    config = config or SpecVQGANSamplerConfig(first_stage_config=SpecVQGANConfig(num_embeddings=1024))

    def make_inputs(batch, generator):
        tokens = torch.randint(0, config.codebook_size, (batch, config.num_tokens), generator=generator)
        bos = torch.full((batch, 1), config.bos_token_id)
        return {
            "visual_features": torch.randn(batch, config.num_features, config.feature_size, generator=generator),
            "input_ids": torch.cat([bos, tokens[:, :-1]], dim=1),
            "labels": tokens,
        }

    def generation(model, inputs, new_tokens):
        features = inputs["visual_features"]

        def cached():
            return model.generate(features, do_sample=False, decode=False).indices  # always all indices

        return {
            "generate, key/value cache": cached,
            "reference, full prefix": lambda: full_prefix_sampling(model, features, new_tokens),
        }

    return Workload(
        description=f"{config.num_hidden_layers} layers x {config.hidden_size}, {config.num_features} features, "
        f"{config.num_tokens} indices",
        build_model=lambda: SpecVQGANForConditionalGeneration(config),
        make_inputs=make_inputs,
        loss=lambda model, inputs: model(**inputs).loss,
        paper_batch_size=2,
        cpu_batch_size=1 if paper else 2,
        learning_rate=5e-6,
        generate=generation,
        generated_unit="indices",
    )
