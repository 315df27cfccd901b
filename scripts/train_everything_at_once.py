"""Train Everything at Once with the combinatorial loss.

    accelerate launch scripts/train_everything_at_once.py --dataset_name synthetic --output_dir runs/eao-synthetic \
        --max_steps 300 --per_device_train_batch_size 128 --learning_rate 5e-4

`--dataset_name synthetic` is the embedded tri-modal task (the architecture scaled down: width 128, 4 heads,
one block, audio CNN widths 16..64 with one block per stage); any `datasets` folder in the videozoo schema
(`text`, `video`, `audio` arrays per clip) works with `--dataset_name <folder>`, and `--model_name_or_path`
fine-tunes a converted checkpoint (the paper's fine-tuning uses all loss weights 1: `--finetune_weights`).
"""

from dataclasses import dataclass, field

import datasets
from transformers import AutoModel, AutoProcessor, HfArgumentParser, set_seed

import videozoo  # noqa: F401
from videozoo.arguments import dataset_problem, file_problem, folder_problem, positive_problem, raise_if_any
from videozoo.configuration import EverythingAtOnceConfig
from videozoo.data.avlnet import howto100m_index
from videozoo.data.everything_at_once import (
    EverythingAtOnceCollator,
    HowTo100MEAOCollator,
    load_eao_clip_pickle,
    synthetic_eao_dataset,
)
from videozoo.processors import AVLnetFeatureExtractor, EverythingAtOnceProcessor
from videozoo.processors.word_vectors import load_word_vectors
from videozoo.tasks.everything_at_once import EverythingAtOnceTask
from videozoo.training import TrainerArguments, fit


@dataclass
class EAOArguments:
    model_name_or_path: str | None = field(default=None, metadata={"help": "videozoo checkpoint to fine-tune."})
    dataset_name: str = field(
        default="synthetic",
        metadata={"help": "'synthetic', 'howto100m' (with --eval_pickle), 'pickle', or a save_to_disk folder."},
    )
    train_csv: str | None = None
    features_path: str | None = None
    captions_pickle: str | None = None
    train_pickle: str | None = None
    eval_pickle: str | None = None
    word_vectors: str | None = None
    clips_per_video: int = 10
    num_missing_clips: int = field(
        default=0, metadata={"help": "Test clips absent from the features (failures in R@K)."}
    )
    num_train_clips: int = 8192
    max_frames: int | None = field(default=None, metadata={"help": "Audio frames per clip (a multiple of 64)."})
    finetune_weights: bool = field(default=False, metadata={"help": "All six loss terms weighted 1 (fine-tuning)."})


def argument_problems(args: EAOArguments) -> list[str | None]:
    """What is wrong with these arguments, found before anything is loaded."""
    found = [
        dataset_problem("--dataset_name", args.dataset_name, ("synthetic", "howto100m", "pickle")),
        file_problem("--word_vectors", args.word_vectors),
        positive_problem("--clips_per_video", args.clips_per_video),
        positive_problem("--num_missing_clips", args.num_missing_clips, allow_zero=True),
        positive_problem("--num_train_clips", args.num_train_clips),
    ]
    if args.max_frames is not None and (args.max_frames <= 0 or args.max_frames % 64):
        found.append(f"--max_frames must be a positive multiple of 64 (got {args.max_frames})")
    if args.dataset_name in ("howto100m", "pickle"):
        found.append(file_problem("--eval_pickle", args.eval_pickle, required=True))
    if args.dataset_name == "howto100m":
        found += [
            file_problem("--train_csv", args.train_csv, required=True),
            folder_problem("--features_path", args.features_path, required=True),
            file_problem("--captions_pickle", args.captions_pickle),
        ]
    elif args.dataset_name == "pickle":
        found.append(file_problem("--train_pickle", args.train_pickle, required=True))
    return found


def main(argv: list[str] | None = None) -> dict[str, float]:
    args, training_args = HfArgumentParser((EAOArguments, TrainerArguments)).parse_args_into_dataclasses(argv)
    raise_if_any([*training_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)
    vectors = load_word_vectors(args.word_vectors) if args.word_vectors else None
    train_collator = None
    if args.dataset_name == "synthetic":
        splits = synthetic_eao_dataset(args.num_train_clips)
    elif args.dataset_name in ("howto100m", "pickle"):
        if not args.eval_pickle:
            raise ValueError(f"--dataset_name {args.dataset_name} needs --eval_pickle (YouCook2 or MSR-VTT)")
        test = load_eao_clip_pickle(args.eval_pickle, vectors)
        if args.dataset_name == "howto100m":
            if not (args.train_csv and args.features_path):
                raise ValueError("--dataset_name howto100m needs --train_csv and --features_path")
            train = howto100m_index(args.train_csv, args.features_path)
            train_collator = HowTo100MEAOCollator(
                args.captions_pickle, vectors, args.clips_per_video, args.max_frames or 768
            )
        else:
            train = load_eao_clip_pickle(args.train_pickle, vectors)
        splits = datasets.DatasetDict(train=train, test=test)
    else:
        splits = datasets.load_from_disk(args.dataset_name)
    splits = splits.with_format("numpy")
    if args.model_name_or_path:
        model = AutoModel.from_pretrained(args.model_name_or_path)
        processor = AutoProcessor.from_pretrained(args.model_name_or_path)
        if model.config.model_type != "everything_at_once":
            raise ValueError(
                f"{args.model_name_or_path} is not an Everything-at-Once checkpoint ({model.config.model_type!r})"
            )
    else:
        row = splits["test"][0]
        config = EverythingAtOnceConfig(
            text_feature_size=row["text"].shape[1],
            video_feature_size=row["video"].shape[1],
            num_mel_bins=row["audio"].shape[1],
            audio_stage_depths=[1] * 6,
            audio_stage_widths=[16, 16, 32, 32, 64, 64, 64],
            hidden_size=128,
            num_attention_heads=4,
            num_hidden_layers=1,
            projection_dim=128,
        )
        model = AutoModel.from_config(config)
        processor = EverythingAtOnceProcessor(
            AVLnetFeatureExtractor(max_frames=args.max_frames or 768), word_embedding_size=config.text_feature_size
        )
    weights = {k: 1.0 for k in model.config.loss_weights} if args.finetune_weights else model.config.loss_weights
    collator = EverythingAtOnceCollator(args.max_frames, 2 ** len(model.config.audio_stage_depths))
    task = EverythingAtOnceTask(weights, model.config.temperature, args.num_missing_clips)
    return fit(
        model,
        task,
        splits["train"],
        training_args,
        collate_fn=train_collator or collator,
        eval_dataset=splits["test"],
        eval_collate_fn=collator,
        processor=processor,
        hparams=vars(args),
    )


if __name__ == "__main__":
    main()
