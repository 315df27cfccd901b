"""Train AVATAR (audio-visual, or audio-only with `--modalities audio`) for speech recognition.

    # the embedded synthetic task (SynthAV-ASR): content-word masking with p = 0.5 makes the model look
    accelerate launch scripts/train_avatar.py --dataset_name synthetic --output_dir runs/avatar-av \
        --word_masking content --word_mask_rate 0.5 --optimizer adamw --learning_rate 1e-3 --max_grad_norm 1.0 \
        --max_steps 1500 --per_device_train_batch_size 32 --decoding greedy

    # How2 fine-tuning with the released recipe (the reference's How2 config): SGD momentum 0.9, lr 0.3 cosine
    # to 0 over 40K steps, no warm-up, global-norm clipping 1.0, label smoothing 0.1, batch 256, content-word
    # masking, SpecAugment
    accelerate launch scripts/train_avatar.py --dataset_name how2 --data_dir how2-300h/data --video_dir how2/video \
        --vocab_file bert-base-uncased/vocab.txt --word_masking content --spec_augment \
        --optimizer sgd --learning_rate 0.3 --lr_scheduler_type cosine --max_grad_norm 1.0 --max_steps 40000 \
        --per_device_train_batch_size 32 --gradient_accumulation_steps 8 --output_dir runs/avatar-how2

`--model_name_or_path` fine-tunes a videozoo checkpoint (e.g. a converted one); otherwise a model is built at
`--model_size paper` (the paper's configuration) or `synthetic` (D = 64, 3 + 3 encoder layers fused from layer 1,
2 decoder layers, 32 mel bins, 32 x 32 frames), randomly initialised or, with `--vit_name_or_path <local ViT-B/16
folder>`, with both encoder streams initialised from the image ViT as the paper does. The reference's video
augmentation (scale jitter, colour, grey-scale) is on except for the synthetic task (`--video_augmentation`);
SpecAugment follows the reference code's 2 frequency masks unless `--spec_augment_policy park`. The collator applies
all training augmentation (`videozoo.data.avatar_augmentation.AvatarAugmentation`); the saved processor has none.
"""

from dataclasses import dataclass, field
from typing import Literal

import datasets
import torch
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, HfArgumentParser, set_seed

import videozoo  # noqa: F401
from videozoo.arguments import dataset_problem, file_problem, folder_problem, positive_problem, raise_if_any
from videozoo.configuration import AvatarConfig
from videozoo.data.avatar import (
    SYNTHETIC_CONTENT_WORDS,
    SYNTHETIC_STOP_WORDS,
    AvatarCollator,
    load_how2_split,
    synthetic_avatar_dataset,
)
from videozoo.data.avatar_augmentation import AvatarAugmentation
from videozoo.modeling import AvatarForConditionalGeneration
from videozoo.processors import AvatarFeatureExtractor, AvatarProcessor, AvatarVideoProcessor
from videozoo.processors.processing_avatar import write_vocab
from videozoo.tasks.avatar import AvatarSpeechRecognitionTask
from videozoo.training import TrainerArguments, fit


@dataclass
class AvatarArguments:
    model_name_or_path: str | None = field(default=None, metadata={"help": "videozoo AVATAR checkpoint to fine-tune."})
    model_size: Literal["synthetic", "paper"] = "synthetic"
    vit_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Local ViT checkpoint (e.g. ViT-B/16 ImageNet-21k) to start both encoder streams from."},
    )
    modalities: Literal["rgb,audio", "audio"] = field(
        default="rgb,audio", metadata={"help": "'audio' = the A baseline."}
    )
    dataset_name: str = field(default="synthetic", metadata={"help": "'synthetic', 'how2', or a save_to_disk folder."})
    data_dir: str | None = field(
        default=None, metadata={"help": "How2: the folder holding <split>/text and segments."}
    )
    video_dir: str | None = field(default=None, metadata={"help": "How2: the media files <video_id>.<ext>."})
    train_split: str = "train"
    eval_split: str = "val"
    vocab_file: str | None = field(default=None, metadata={"help": "Local BERT-uncased vocab.txt (real data)."})
    num_train_clips: int = 4096
    num_eval_clips: int = 256
    word_masking: Literal["none", "random", "content"] = "none"
    word_mask_rate: float | None = field(default=None, metadata={"help": "Default: 0.10 (random), 0.363 (content)."})
    spec_augment: bool = field(default=False, metadata={"help": "SpecAugment in training (policy below)."})
    spec_augment_policy: Literal["reference", "park"] = field(
        default="reference",
        metadata={"help": "reference: 2 frequency masks (the code); park: + time warp and 2 time masks (the paper)."},
    )
    video_augmentation: Literal["auto", "reference", "none"] = field(
        default="auto",
        metadata={
            "help": "reference: scale jitter U(0.9, 1.33) + colour augmentation (p 0.8) + grey-scale (p 0.1) in "
            "training; "
            "auto: none for the synthetic task (whose words are colours at grid positions: no flips either), "
            "reference otherwise."
        },
    )
    label_smoothing: float = 0.1
    optimizer: Literal["sgd", "adamw"] = field(default="sgd", metadata={"help": "sgd: momentum 0.9 (the reference)."})
    momentum: float = 0.9
    decoding: Literal["beam", "greedy"] = "beam"
    max_target_tokens: int = 64


def synthetic_processor(folder: str | None = None) -> AvatarProcessor:
    """The synthetic task's processor; its vocabulary file is written into `folder` (default: a new temporary
    folder, never the run's output folder, which only the final save writes to)."""
    import tempfile
    from pathlib import Path

    folder = Path(folder if folder is not None else tempfile.mkdtemp())
    folder.mkdir(parents=True, exist_ok=True)
    vocab = write_vocab(SYNTHETIC_STOP_WORDS + SYNTHETIC_CONTENT_WORDS, folder / "synthetic_vocab.txt")
    extractor = AvatarFeatureExtractor(num_mel_bins=32, max_frames=64)
    frames = AvatarVideoProcessor(num_frames=2, size=32, crop_size=32)
    return AvatarProcessor.from_vocab_file(vocab, extractor, frames, max_target_tokens=16)


def synthetic_config(vocab_size: int, modalities: tuple[str, ...]) -> AvatarConfig:
    return AvatarConfig(
        hidden_size=64,
        d_model=64,
        encoder_layers=3,
        fusion_layer=1,
        encoder_attention_heads=4,
        encoder_intermediate_size=128,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_dim=128,
        patch_size=8,
        image_size=32,
        num_frames=2,
        num_mel_bins=32,
        max_audio_frames=64,
        vocab_size=vocab_size,
        max_position_embeddings=16,
        modalities=modalities,
        encoder_drop_path_rate=0.0,
        encoder_attention_dropout=0.0,
        decoder_dropout=0.0,
        eos_token_id=3,
    )


def argument_problems(args: AvatarArguments) -> list[str | None]:
    """What is wrong with these arguments, found before anything is loaded."""
    found = [
        dataset_problem("--dataset_name", args.dataset_name, ("synthetic", "how2")),
        file_problem("--vocab_file", args.vocab_file),
        folder_problem("--vit_name_or_path", args.vit_name_or_path),
        positive_problem("--label_smoothing", args.label_smoothing, allow_zero=True),
        positive_problem("--momentum", args.momentum, allow_zero=True),
        positive_problem("--max_target_tokens", args.max_target_tokens),
        positive_problem("--num_train_clips", args.num_train_clips),
        positive_problem("--num_eval_clips", args.num_eval_clips),
    ]
    if args.word_mask_rate is not None and not 0.0 <= args.word_mask_rate <= 1.0:
        found.append(f"--word_mask_rate must be in [0, 1] (got {args.word_mask_rate})")
    if args.dataset_name == "how2":
        found += [
            folder_problem("--data_dir", args.data_dir, required=True),
            folder_problem("--video_dir", args.video_dir, required=True),
        ]
    if not args.model_name_or_path and args.model_size == "paper" and not args.vocab_file:
        found.append("--vocab_file (a local BERT-uncased vocab.txt) is required for a new paper-size model")
    return found


def load_splits(args: AvatarArguments) -> datasets.DatasetDict:
    if args.dataset_name == "synthetic":
        return synthetic_avatar_dataset(args.num_train_clips, args.num_eval_clips).with_format("numpy")
    if args.dataset_name == "how2":
        if not (args.data_dir and args.video_dir):
            raise ValueError("--dataset_name how2 needs --data_dir and --video_dir")
        return datasets.DatasetDict(
            train=load_how2_split(args.data_dir, args.train_split, args.video_dir, training=True),
            test=load_how2_split(args.data_dir, args.eval_split, args.video_dir),
        )
    return datasets.load_from_disk(args.dataset_name).with_format("numpy")


def build(args: AvatarArguments):
    """(model, processor) from a checkpoint, or new at the requested size."""
    if args.model_name_or_path:
        model = AutoModelForSpeechSeq2Seq.from_pretrained(args.model_name_or_path)
        processor = AutoProcessor.from_pretrained(args.model_name_or_path)
        if model.config.model_type != "avatar":
            raise ValueError(f"{args.model_name_or_path} is not an AVATAR checkpoint ({model.config.model_type!r})")
        return model, processor
    modalities = tuple(args.modalities.split(","))
    if args.model_size == "synthetic":
        processor = synthetic_processor()
        config = synthetic_config(len(processor.tokenizer), modalities)
    else:
        if not args.vocab_file:
            raise ValueError("--vocab_file (a local BERT-uncased vocab.txt) is required for a new paper-size model")
        processor = AvatarProcessor.from_vocab_file(args.vocab_file)
        config = AvatarConfig(
            modalities=modalities,
            fusion_layer=8 if "rgb" in modalities else 12,
            vocab_size=len(processor.tokenizer),
            eos_token_id=processor.tokenizer.sep_token_id,
        )
    if args.vit_name_or_path:
        return AvatarForConditionalGeneration.from_vit_pretrained(args.vit_name_or_path, config), processor
    return AutoModelForSpeechSeq2Seq.from_config(config), processor


def training_augmentation(args: AvatarArguments) -> AvatarAugmentation:
    """The training collator's augmentation from `--word_masking`, `--spec_augment(_policy)` and
    `--video_augmentation`."""
    synthetic = args.dataset_name == "synthetic"
    choice = args.video_augmentation if args.video_augmentation != "auto" else "none" if synthetic else "reference"
    audio = {
        "word_masking": args.word_masking,
        "word_mask_rate": args.word_mask_rate,
        "spec_augment": args.spec_augment_policy if args.spec_augment else None,
        "random_flip": not synthetic,
    }
    return AvatarAugmentation.reference(**audio) if choice == "reference" else AvatarAugmentation(**audio)


def main(argv: list[str] | None = None) -> dict[str, float]:
    args, training_args = HfArgumentParser((AvatarArguments, TrainerArguments)).parse_args_into_dataclasses(argv)
    raise_if_any([*training_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)
    splits = load_splits(args)
    model, processor = build(args)
    use_video = "rgb" in model.config.modalities
    train_collator = AvatarCollator(
        processor, training_augmentation(args), use_video=use_video, max_target_tokens=args.max_target_tokens
    )
    eval_collator = AvatarCollator(processor, use_video=use_video)
    optimizer = None
    if args.optimizer == "sgd":
        optimizer = torch.optim.SGD(model.parameters(), lr=training_args.learning_rate, momentum=args.momentum)
    task = AvatarSpeechRecognitionTask(processor, args.label_smoothing, args.decoding)
    return fit(
        model,
        task,
        splits["train"],
        training_args,
        collate_fn=train_collator,
        eval_dataset=splits["test"],
        eval_collate_fn=eval_collator,
        processor=processor,
        optimizer=optimizer,
        hparams=vars(args),
    )


if __name__ == "__main__":
    main()
