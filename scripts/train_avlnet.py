"""Train AVLnet (audio-video, Text-Tri or Text-Fused).

    accelerate launch scripts/train_avlnet.py --dataset_name synthetic --output_dir runs/avlnet-synthetic \
        --max_steps 400 --per_device_train_batch_size 64 --learning_rate 1e-3

    # the authors' clip pickles (YouCook2: 5,120 frames per clip), fine-tuning a converted checkpoint:
    accelerate launch scripts/train_avlnet.py --model_name_or_path avlnet --train_pickle youcook_train.pkl \
        --eval_pickle youcook_val.pkl --max_frames 5120 --learning_rate 1e-5 --output_dir runs/avlnet-youcook2

`--dataset_name synthetic` is the embedded tone-band x rhythm task (a small model: stage widths
16/16/32/32/64, D = 256). Text variants need `--word_vectors <local word2vec/GloVe file>` for real captions.
"""

from dataclasses import dataclass, field
from typing import Literal

import datasets
from transformers import AutoModel, AutoProcessor, HfArgumentParser, set_seed

import videozoo  # noqa: F401
from videozoo.arguments import dataset_problem, file_problem, folder_problem, positive_problem, raise_if_any
from videozoo.configuration import AVLnetConfig
from videozoo.data.avlnet import (
    AVLnetCollator,
    HowTo100MCollator,
    howto100m_index,
    load_avlnet_pickle,
    synthetic_avlnet_dataset,
)
from videozoo.processors import AVLnetFeatureExtractor, AVLnetProcessor
from videozoo.tasks.avlnet import AVLnetRetrievalTask
from videozoo.training import TrainerArguments, fit


@dataclass
class AVLnetArguments:
    model_name_or_path: str | None = field(default=None, metadata={"help": "videozoo AVLnet checkpoint to fine-tune."})
    variant: Literal["av", "text_tri", "text_fused"] = "av"
    model_size: Literal["small", "paper"] = "small"
    dataset_name: str = field(
        default="synthetic",
        metadata={"help": "'synthetic', 'pickle', 'howto100m' (with --eval_pickle), or a save_to_disk folder."},
    )
    train_pickle: str | None = None
    train_csv: str | None = field(default=None, metadata={"help": "HowTo100M CSV of video paths."})
    features_path: str | None = field(default=None, metadata={"help": "HowTo100M feature and spectrogram root."})
    clips_per_video: int = 32
    eval_pickle: str | None = None
    num_train_clips: int = 4096
    max_frames: int = 256
    word_vectors: str | None = None
    mask_padding_in_training: bool = field(default=False, metadata={"help": "Masked audio pooling in training too."})
    fuse_audio_video: bool = field(default=False, metadata={"help": "Tri fine-tuning: text against audio + video."})


def argument_problems(args: AVLnetArguments) -> list[str | None]:
    """What is wrong with these arguments, found before anything is loaded."""
    found = [
        dataset_problem("--dataset_name", args.dataset_name, ("synthetic", "pickle", "howto100m")),
        file_problem("--word_vectors", args.word_vectors),
        positive_problem("--max_frames", args.max_frames),
        positive_problem("--clips_per_video", args.clips_per_video),
        positive_problem("--num_train_clips", args.num_train_clips),
    ]
    if args.dataset_name == "howto100m":
        found += [
            file_problem("--train_csv", args.train_csv, required=True),
            folder_problem("--features_path", args.features_path, required=True),
            file_problem("--eval_pickle", args.eval_pickle, required=True),
        ]
    elif args.dataset_name == "pickle":
        found += [
            file_problem("--train_pickle", args.train_pickle, required=True),
            file_problem("--eval_pickle", args.eval_pickle, required=True),
        ]
    if not args.model_name_or_path and args.variant != "av" and not args.word_vectors:
        found.append(f"--variant {args.variant} needs --word_vectors (a local word2vec or GloVe file)")
    return found


def load_splits(args: AVLnetArguments) -> datasets.DatasetDict:
    if args.dataset_name == "synthetic":
        splits = synthetic_avlnet_dataset(args.num_train_clips, frames=args.max_frames)
    elif args.dataset_name == "howto100m":
        if not (args.train_csv and args.features_path and args.eval_pickle):
            raise ValueError("--dataset_name howto100m needs --train_csv, --features_path and --eval_pickle")
        return datasets.DatasetDict(
            train=howto100m_index(args.train_csv, args.features_path),
            test=load_avlnet_pickle(args.eval_pickle).with_format("numpy"),
        )
    elif args.dataset_name == "pickle":
        if not (args.train_pickle and args.eval_pickle):
            raise ValueError("--dataset_name pickle needs --train_pickle and --eval_pickle")
        splits = datasets.DatasetDict(
            train=load_avlnet_pickle(args.train_pickle), test=load_avlnet_pickle(args.eval_pickle)
        )
    else:
        splits = datasets.load_from_disk(args.dataset_name)
    return splits.with_format("numpy")


def main(argv: list[str] | None = None) -> dict[str, float]:
    args, training_args = HfArgumentParser((AVLnetArguments, TrainerArguments)).parse_args_into_dataclasses(argv)
    raise_if_any([*training_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)
    splits = load_splits(args)
    if args.model_name_or_path:
        model = AutoModel.from_pretrained(args.model_name_or_path)
        processor = AutoProcessor.from_pretrained(args.model_name_or_path)
        if model.config.model_type != "avlnet":
            raise ValueError(f"{args.model_name_or_path} is not an AVLnet checkpoint ({model.config.model_type!r})")
    else:
        video_dim = len(splits["train"][0]["video_2d"]) + len(splits["train"][0]["video_3d"])
        sizes = dict(embed_dim=256, audio_stage_widths=[16, 16, 32, 32, 64]) if args.model_size == "small" else {}
        config = AVLnetConfig(
            variant=args.variant,
            video_feature_size=video_dim,
            audio_train_pool_includes_padding=not args.mask_padding_in_training,
            **sizes,
        )
        model = AutoModel.from_config(config)
        processor = AVLnetProcessor(
            AVLnetFeatureExtractor(max_frames=args.max_frames), word_embedding_size=config.word_embedding_size
        )
    with_text = model.config.variant != "av"
    if with_text:
        if not args.word_vectors:
            raise ValueError(
                f"the {model.config.variant} variant needs --word_vectors (a local word2vec or GloVe file)"
            )
        processor.load_word_vectors(args.word_vectors)
    collator = AVLnetCollator(args.max_frames, processor, with_text)
    train_collator = (
        HowTo100MCollator(args.clips_per_video, args.max_frames) if args.dataset_name == "howto100m" else collator
    )
    task = AVLnetRetrievalTask(model.config.variant, model.config.mms_margin, args.fuse_audio_video)
    return fit(
        model,
        task,
        splits["train"],
        training_args,
        collate_fn=train_collator,
        eval_dataset=splits["test"],
        eval_collate_fn=collator,
        processor=processor,
        hparams=vars(args),
    )


if __name__ == "__main__":
    main()
