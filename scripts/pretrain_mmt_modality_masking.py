"""Pre-train the MMT video encoder by masking whole modalities (WACV 2022).

    accelerate launch scripts/pretrain_mmt_modality_masking.py --dataset_name synthetic \
        --output_dir runs/mmt-masking --max_steps 900 --per_device_train_batch_size 48 --learning_rate 5e-4

    # HowTo100M-style clips in the MMT HDF5 layout (features.s3d / .vggish / .asr, the transcript as caption 0),
    # the paper's recipe (batch 1,200 over the processes, Adam 1e-4, x0.98 every 2K steps, random 30-s crops):
    accelerate launch scripts/pretrain_mmt_modality_masking.py --dataset_name features --data_dir data/HowTo100M \
        --train_split_file .../train_list.txt --eval_split_file .../val_list.txt --model_size paper \
        --clip_duration 30 --learning_rate 1e-4 --lr_scheduler_type step --lr_step_size 2000 --lr_gamma 0.98

Fine-tune the result on captions with `scripts/train_mmt.py --model_name_or_path <output_dir>`: `MMTModel`
loads Psi and Phi_text from this checkpoint (`--select_best_metric t2v_geometric_mean_R1-R5-R10` selects on
validation, as the paper does).
"""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import datasets
from transformers import AutoModel, AutoProcessor, BertConfig, HfArgumentParser, set_seed

import videozoo  # noqa: F401  (registers the architectures)
from videozoo.arguments import dataset_problem, file_problem, folder_problem, positive_problem, raise_if_any
from videozoo.configuration import MMTConfig, MMTModalityMaskingConfig
from videozoo.configuration.configuration_mmt_modality_masking import MASKING_EXPERT_TABLE
from videozoo.data.mmt import load_mmt_features
from videozoo.data.mmt_modality_masking import (
    SYNTHETIC_MASKING_EXPERTS,
    ModalityMaskingCollator,
    asr_text_from_captions,
    synthetic_masking_dataset,
)
from videozoo.processors import MMTProcessor
from videozoo.processors.processing_mmt import train_wordpiece_vocab
from videozoo.tasks.mmt_modality_masking import ModalityMaskingTask
from videozoo.training import TrainerArguments, fit, processor_for_resume


@dataclass
class MaskingArguments:
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A modality-masking checkpoint to continue from."}
    )
    model_size: Literal["small", "paper"] = "small"
    dataset_name: str = field(
        default="synthetic", metadata={"help": "'synthetic', 'features', or a save_to_disk folder."}
    )
    data_dir: str | None = None
    train_split_file: str | None = None
    eval_split_file: str | None = None
    num_train_clips: int = 3000
    synthetic_seed: int = 0
    mask_probability_asr: float = field(
        default=0.8, metadata={"help": "p; 1.0 is the standard ASR-only pre-training."}
    )
    mask_fraction: float = 1.0
    asr_query_tokens: int = 30
    clip_duration: float | None = field(
        default=None, metadata={"help": "Random crops of this many seconds (paper: 30)."}
    )
    max_rgb_tokens: int = 30
    max_audio_tokens: int = 30
    max_asr_tokens: int = 128
    vocab_file: str | None = None
    vocab_size: int = 300


def argument_problems(args: MaskingArguments) -> list[str | None]:
    """What is wrong with these arguments, found before anything is loaded."""
    found = [
        dataset_problem("--dataset_name", args.dataset_name, ("synthetic", "features")),
        file_problem("--vocab_file", args.vocab_file),
        positive_problem("--num_train_clips", args.num_train_clips),
        positive_problem("--asr_query_tokens", args.asr_query_tokens),
        positive_problem("--clip_duration", args.clip_duration),
        positive_problem("--max_rgb_tokens", args.max_rgb_tokens),
        positive_problem("--max_audio_tokens", args.max_audio_tokens),
        positive_problem("--max_asr_tokens", args.max_asr_tokens),
        positive_problem("--vocab_size", args.vocab_size),
    ]
    for flag, value in (
        ("--mask_probability_asr", args.mask_probability_asr),
        ("--mask_fraction", args.mask_fraction),
    ):
        if not 0.0 <= value <= 1.0:
            found.append(f"{flag} must be in [0, 1] (got {value})")
    if args.dataset_name == "features":
        found += [
            folder_problem("--data_dir", args.data_dir, required=True),
            file_problem("--train_split_file", args.train_split_file, required=True),
            file_problem("--eval_split_file", args.eval_split_file, required=True),
        ]
    return found


def load_splits(args: MaskingArguments, sizes: dict[str, int]) -> datasets.DatasetDict:
    if args.dataset_name == "synthetic":
        splits = synthetic_masking_dataset(num_train_clips=args.num_train_clips, seed=args.synthetic_seed)
        splits = datasets.DatasetDict(train=splits["train"], test=splits["test"])
    elif args.dataset_name == "features":
        if not (args.data_dir and args.train_split_file and args.eval_split_file):
            raise ValueError("--dataset_name features needs --data_dir, --train_split_file and --eval_split_file")
        splits = datasets.DatasetDict(
            train=asr_text_from_captions(load_mmt_features(args.data_dir, args.train_split_file, sizes)),
            test=asr_text_from_captions(load_mmt_features(args.data_dir, args.eval_split_file, sizes)),
        )
    else:
        splits = datasets.load_from_disk(args.dataset_name)
    return splits.with_format("numpy")


def build_model_and_processor(args: MaskingArguments, splits, sizes: dict[str, int]):
    experts = list(sizes)
    type_ids = {name: MASKING_EXPERT_TABLE[name][1] for name in experts}
    if args.vocab_file is None:
        vocab = train_wordpiece_vocab((str(t) + " ." for t in splits["train"]["asr_text"]), vocab_size=args.vocab_size)
        vocab_file = Path(tempfile.mkdtemp()) / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n")
    else:
        vocab_file = Path(args.vocab_file)
    budgets = {"s3d": args.max_rgb_tokens, "vggish": args.max_audio_tokens, "asr": args.max_asr_tokens}
    processor = MMTProcessor.from_vocab_file(
        vocab_file,
        experts,
        sizes,
        max_text_tokens=args.asr_query_tokens + 2,
        max_feature_tokens=args.max_rgb_tokens,
        expert_max_tokens={k: v for k, v in budgets.items() if k in experts},
    )
    vocab_size = len(processor.tokenizer)
    if args.model_size == "small":  # the synthetic task's model
        text = BertConfig(
            vocab_size=vocab_size,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=256,
            max_position_embeddings=64,
        )
        video = MMTConfig(
            text_config=text,
            expert_names=experts,
            expert_feature_sizes=sizes,
            expert_type_ids=type_ids,
            hidden_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=256,
        )
        layers, heads = 2, 2
    else:
        video = MMTConfig(
            text_config=dict(vocab_size=vocab_size),
            expert_names=experts,
            expert_feature_sizes=sizes,
            expert_type_ids=type_ids,
        )
        layers, heads = 4, 4
    config = MMTModalityMaskingConfig(
        video_config=video,
        query_av_num_hidden_layers=layers,
        query_av_num_attention_heads=heads,
        mask_probability_asr=args.mask_probability_asr,
        mask_fraction=args.mask_fraction,
        asr_query_tokens=args.asr_query_tokens,
    )
    return AutoModel.from_config(config), processor


def main(argv: list[str] | None = None) -> dict[str, float]:
    args, training_args = HfArgumentParser((MaskingArguments, TrainerArguments)).parse_args_into_dataclasses(argv)
    raise_if_any([*training_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)
    if args.model_name_or_path:
        model = AutoModel.from_pretrained(args.model_name_or_path)
        processor = AutoProcessor.from_pretrained(args.model_name_or_path)
        if model.config.model_type != "mmt_modality_masking":
            raise ValueError(
                f"{args.model_name_or_path} is not a modality-masking checkpoint ({model.config.model_type!r})"
            )
        sizes = dict(model.config.video_config.expert_feature_sizes)
        splits = load_splits(args, sizes)
    else:
        sizes = (
            SYNTHETIC_MASKING_EXPERTS
            if args.dataset_name == "synthetic"
            else {k: v[0] for k, v in MASKING_EXPERT_TABLE.items()}
        )
        splits = load_splits(args, sizes)
        model, processor = build_model_and_processor(args, splits, sizes)
    processor = processor_for_resume(training_args, processor)
    config = model.config
    task = ModalityMaskingTask(
        config.schedule,
        seed=training_args.seed,
        margin=config.ranking_margin,
        renormalize_over_present=config.renormalize_over_present,
    )
    return fit(
        model,
        task,
        splits["train"],
        training_args,
        collate_fn=ModalityMaskingCollator(processor, True, config.asr_query_tokens, args.clip_duration),
        eval_dataset=splits["test"],
        eval_collate_fn=ModalityMaskingCollator(processor, False, config.asr_query_tokens, args.clip_duration),
        processor=processor,
        hparams=vars(args),
    )


if __name__ == "__main__":
    main()
