"""The AVATAR speech recognition task for `videozoo.training.fit`: label-smoothed token cross-entropy, corpus WER.

This module is also AVATAR's recipe of the speech recognition family (`scripts/run_speech_recognition.py`).

Training, audio-visual or audio-only with `--modalities audio`:

    # the embedded synthetic task (SynthAV-ASR): content-word masking with p = 0.5 makes the model look
    accelerate launch scripts/run_speech_recognition.py train --model_type avatar --dataset_name synthetic \
        --output_dir runs/avatar-av --word_masking content --word_mask_rate 0.5 --optimizer adamw \
        --learning_rate 1e-3 --max_grad_norm 1.0 --max_steps 1500 --per_device_train_batch_size 32 --decoding greedy

    # How2 fine-tuning with the released recipe (the reference's How2 config): SGD momentum 0.9, lr 0.3 cosine
    # to 0 over 40K steps, no warm-up, global-norm clipping 1.0, label smoothing 0.1, batch 256, content-word
    # masking, SpecAugment
    accelerate launch scripts/run_speech_recognition.py train --model_type avatar --dataset_name how2 \
        --data_dir how2-300h/data --video_dir how2/video --vocab_file bert-base-uncased/vocab.txt \
        --word_masking content --spec_augment --optimizer sgd --learning_rate 0.3 --lr_scheduler_type cosine \
        --max_grad_norm 1.0 --max_steps 40000 --per_device_train_batch_size 32 --gradient_accumulation_steps 8 \
        --output_dir runs/avatar-how2

`--model_name_or_path` fine-tunes a videozoo checkpoint (e.g. a converted one); otherwise a model is built at
`--model_size paper` (the paper's configuration) or `synthetic` (D = 64, 3 + 3 encoder layers fused from layer 1,
2 decoder layers, 32 mel bins, 32 x 32 frames), randomly initialised or, with `--vit_name_or_path <local ViT-B/16
folder>`, with both encoder streams initialised from the image ViT as the paper does. The reference's video
augmentation (scale jitter, colour, grey-scale) is on except for the synthetic task (`--video_augmentation`);
SpecAugment follows the reference code's 2 frequency masks unless `--spec_augment_policy park`. The collator applies
all training augmentation (`videozoo.data.avatar_augmentation.AvatarAugmentation`); the saved processor has none.

Evaluation: corpus WER (metric module `videozoo/metrics/avatar_wer`) per test condition, and a plot of WER
against the SNR of the added noise. Several checkpoints (e.g. audio-visual and audio-only) are scored on the same
corrupted inputs and drawn on the same plot.

    python scripts/run_speech_recognition.py evaluate \
        --model_name_or_path runs/avatar-synthetic-av runs/avatar-synthetic-a --dataset_name synthetic \
        --output_dir runs/avatar-synthetic-eval

    python scripts/run_speech_recognition.py evaluate --model_name_or_path runs/avatar-how2 --dataset_name how2 \
        --data_dir how2/data --video_dir how2/video --split dev5 --noise_bank audioset_noise.npy

Conditions (`--conditions`, comma-separated; see `videozoo.data.avatar.parse_condition`): `clean`,
`noise@<dB>dB` (environment noise from `--noise_bank`, a `[n_clips, n_samples]` .npy at 16 kHz; the synthetic task
uses its own babble bank), `burst@<max_rate>`, `mixed@<dB>dB,<max_rate>`, `masked_words` (content words of the
alignment silenced), `masked_shuffled_frames`, `masked_zeroed_frames`, `shuffled_frames`, `zeroed_frames`.
Defaults: the reference's levels for real data (burst 0.1 / 0.2 / 0.3, SNR 1, 1/2, 1/3 = 0, -3, -4.8 dB, mixed
pairs, random frames); for the synthetic task also the masked-word conditions and a wider SNR sweep.
Writes `metrics.json` (model -> condition -> metrics) and `wer_vs_snr.png` in `--output_dir`.
"""

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import datasets
import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from torch.utils.data import DataLoader
from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor, set_seed

from ..arguments import (
    checkpoint_problem,
    dataset_problem,
    file_problem,
    folder_problem,
    output_folder_problem,
    positive_problem,
    raise_if_any,
)
from ..configuration.configuration_avatar import AvatarConfig
from ..data.avatar import (
    SYNTHETIC_CONTENT_WORDS,
    SYNTHETIC_STOP_WORDS,
    AvatarCollator,
    load_how2_split,
    load_visspeech,
    parse_condition,
    synthetic_avatar_dataset,
    synthetic_noise_bank,
)
from ..data.avatar_augmentation import AvatarAugmentation
from ..metrics.avatar_wer.avatar_wer import word_error_rate
from ..modeling.modeling_avatar import AvatarForConditionalGeneration, avatar_beam_search
from ..processors.augmentation_avatar import ENGLISH_STOP_WORDS
from ..processors.feature_extraction_avatar import AvatarFeatureExtractor
from ..processors.processing_avatar import AvatarProcessor, write_vocab
from ..processors.video_processing_avatar import AvatarVideoProcessor
from ..recipes import Recipe, save_evaluation
from ..training import TrainerArguments, fit

MODEL_KEYS = ("input_features", "pixel_values", "labels")


def label_smoothed_loss(
    logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.1, pad_token_id: int = 0
) -> torch.Tensor:
    """The reference loss: cross-entropy with label smoothing (on-value 1 - eps + eps / V, off-value eps / V) over the
    target positions with label != PAD, summed and divided by their number (per device batch)."""
    return F.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]),
        labels.reshape(-1),
        ignore_index=pad_token_id,
        label_smoothing=smoothing,
    )


class AvatarSpeechRecognitionTask:
    """Training: `label_smoothed_loss` (smoothing 0.1: the reference code's, the paper does not give it) on the
    teacher-forced logits.

    Evaluation: decode every clip (`decoding="beam"`: the reference beam search, 4 beams, alpha 0.6; `"greedy"`: the
    standard greedy `generate`), detokenise the reference's way and score the corpus WER (metric module
    `videozoo/metrics/avatar_wer`) against the normalised transcripts, with the content / stop word split.
    Returns fractions (`wer`, `deletion_rate`, ...) and `wer_percent`.
    """

    def __init__(
        self,
        processor,
        label_smoothing: float = 0.1,
        decoding: str = "beam",
        num_beams: int = 4,
        length_penalty: float = 0.6,
        max_length: int = 128,
        stop_words=ENGLISH_STOP_WORDS,
    ):
        if decoding not in ("beam", "greedy"):
            raise ValueError(f"decoding must be 'beam' or 'greedy', got {decoding!r}")
        self.processor = processor
        self.label_smoothing = label_smoothing
        self.decoding = decoding
        self.num_beams = num_beams
        self.length_penalty = length_penalty
        self.max_length = max_length
        self.stop_words = stop_words

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        inputs = {k: v for k, v in batch.items() if k in MODEL_KEYS}
        logits = model(**inputs).logits
        return label_smoothed_loss(logits, inputs["labels"], self.label_smoothing, pad_token_id=0)

    def transcribe(self, model, batch: dict) -> list[str]:
        """Generated transcripts of one batch (the model may be wrapped by Accelerate)."""
        inputs = {k: batch[k] for k in ("input_features", "pixel_values") if k in batch}
        max_length = min(self.max_length, model.config.max_position_embeddings)
        if self.decoding == "beam":
            ids = model.generate(
                **inputs,
                num_beams=self.num_beams,
                length_penalty=self.length_penalty,
                max_length=max_length,
                custom_generate=avatar_beam_search,
            )
        else:
            ids = model.generate(**inputs, do_sample=False, num_beams=1, max_length=max_length)
        return self.processor.batch_decode(ids[:, 1:])

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        unwrapped = accelerator.unwrap_model(model)
        predictions, references = [], []
        for batch in dataloader:
            predictions += accelerator.gather_for_metrics(self.transcribe(unwrapped, batch), use_gather_object=True)
            references += accelerator.gather_for_metrics(list(batch["references"]), use_gather_object=True)
        metrics = word_error_rate(predictions, references, self.stop_words)
        metrics["wer_percent"] = 100.0 * metrics["wer"]
        return metrics


__all__ = ["AvatarSpeechRecognitionTask", "label_smoothed_loss"]


# ---- the recipe: training ----


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


def train(args: AvatarArguments, training_args: TrainerArguments) -> dict[str, float]:
    """Train (or fine-tune) AVATAR; every argument is checked before anything is loaded or written."""
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


# ---- the recipe: evaluation ----

REAL_CONDITIONS = (
    "clean,burst@0.1,burst@0.2,burst@0.3,noise@0dB,noise@-3dB,noise@-4.8dB,mixed@0dB,0.1,mixed@-3dB,0.2,"
    "mixed@-4.8dB,0.3,shuffled_frames"
)
SYNTHETIC_CONDITIONS = (
    "clean,masked_words,masked_shuffled_frames,masked_zeroed_frames,burst@0.1,burst@0.3,"
    "noise@10dB,noise@5dB,noise@0dB,noise@-5dB,noise@-10dB,noise@-15dB"
)


@dataclass
class EvaluationArguments:
    model_name_or_path: list[str] = field(metadata={"help": "One or more AVATAR checkpoints."})
    dataset_name: str = field(
        default="synthetic", metadata={"help": "'synthetic', 'how2', 'visspeech' or a save_to_disk folder."}
    )
    data_dir: str | None = None
    video_dir: str | None = None
    split: str = "dev5"
    visspeech_csv: str | None = None
    num_test_clips: int = field(
        default=512, metadata={"help": "Synthetic test clips (held out: another seed than training)."}
    )
    noise_bank: str | None = field(default=None, metadata={"help": ".npy [n_clips, n_samples] of 16 kHz noise."})
    conditions: str | None = None
    decoding: str = field(default="beam", metadata={"help": "'beam' (the reference, 4 beams, alpha 0.6) or 'greedy'."})
    batch_size: int = 64
    output_dir: str = field(default="", metadata={"help": "Default: <first model>/eval."})


def _split_conditions(text: str) -> list[str]:
    """Comma-separated names; the comma inside `mixed@<dB>dB,<rate>` belongs to the name."""
    return [c for c in re.split(r",(?![0-9.]+(?:,|$))", text) if c]


def evaluation_problems(args: EvaluationArguments, conditions: list[str]) -> list[str | None]:
    """What is wrong with these arguments, found before anything is loaded."""
    found = [checkpoint_problem("--model_name_or_path", path, ("avatar",)) for path in args.model_name_or_path]
    if not args.model_name_or_path:
        found.append("--model_name_or_path is required")
    found += [
        dataset_problem("--dataset_name", args.dataset_name, ("synthetic", "how2", "visspeech")),
        file_problem("--noise_bank", args.noise_bank),
        positive_problem("--num_test_clips", args.num_test_clips),
        positive_problem("--batch_size", args.batch_size),
        output_folder_problem("--output_dir", args.output_dir) if args.output_dir else None,
    ]
    if args.decoding not in ("beam", "greedy"):
        found.append(f"--decoding must be 'beam' or 'greedy' (got {args.decoding!r})")
    if args.dataset_name == "how2":
        found += [
            folder_problem("--data_dir", args.data_dir, required=True),
            folder_problem("--video_dir", args.video_dir, required=True),
        ]
    if args.dataset_name == "visspeech":
        found += [
            file_problem("--visspeech_csv", args.visspeech_csv, required=True),
            folder_problem("--video_dir", args.video_dir, required=True),
        ]
    kinds = []
    for name in conditions:
        try:
            kinds.append(parse_condition(name)["kind"])
        except ValueError as error:
            found.append(f"--conditions: {error}")
    if not args.noise_bank and args.dataset_name != "synthetic" and {"noise", "mixed"} & set(kinds):
        found.append("--conditions: noise conditions need --noise_bank (a [n_clips, n_samples] .npy of 16 kHz noise)")
    return found


def load_test_split(args: EvaluationArguments):
    if args.dataset_name == "synthetic":
        return synthetic_avatar_dataset(0, args.num_test_clips)["test"].with_format("numpy")
    if args.dataset_name == "how2":
        return load_how2_split(args.data_dir, args.split, args.video_dir)
    if args.dataset_name == "visspeech":
        return load_visspeech(args.visspeech_csv, args.video_dir)
    return datasets.load_from_disk(args.dataset_name)["test"].with_format("numpy")


def plot_wer_vs_snr(results: dict, path: Path) -> bool:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 4))
    drawn = False
    for model, conditions in results.items():
        points = sorted(
            (float(name.split("@")[1].removesuffix("dB")), m["wer_percent"])
            for name, m in conditions.items()
            if name.startswith("noise@")
        )
        color = None
        if points:
            (line,) = axis.plot(*zip(*points), marker="o", label=model)
            color, drawn = line.get_color(), True
        if "clean" in conditions:
            axis.axhline(conditions["clean"]["wer_percent"], linestyle=":", color=color)
    axis.set_xlabel("SNR of the added noise (dB)")
    axis.set_ylabel("WER (%)")
    axis.set_title("AVATAR: WER against SNR (dotted: clean)")
    axis.invert_xaxis()
    axis.grid(alpha=0.3)
    if drawn:
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return drawn


def evaluate(args: EvaluationArguments) -> dict:
    """WER of every checkpoint under every condition; writes metrics.json and wer_vs_snr.png."""
    names = _split_conditions(
        args.conditions or (SYNTHETIC_CONDITIONS if args.dataset_name == "synthetic" else REAL_CONDITIONS)
    )
    raise_if_any(evaluation_problems(args, names))
    split = load_test_split(args)
    conditions = [parse_condition(name) for name in names]
    if args.noise_bank:
        noise_bank = np.load(args.noise_bank).astype(np.float32)
    elif args.dataset_name == "synthetic":
        noise_bank = synthetic_noise_bank()
    else:
        noise_bank = None
        if any(c["kind"] in ("noise", "mixed") for c in conditions):
            raise ValueError("noise conditions need --noise_bank (a [n_clips, n_samples] .npy of 16 kHz noise)")
    accelerator = Accelerator()
    results: dict[str, dict] = {}
    for checkpoint in args.model_name_or_path:
        model = AutoModelForSpeechSeq2Seq.from_pretrained(checkpoint).eval()
        if model.config.model_type != "avatar":
            raise ValueError(f"{checkpoint} is not an AVATAR checkpoint ({model.config.model_type!r})")
        processor = AutoProcessor.from_pretrained(checkpoint)
        model = accelerator.prepare(model)
        use_video = "rgb" in model.config.modalities
        task = AvatarSpeechRecognitionTask(processor, decoding=args.decoding)
        label = f"{Path(checkpoint).name} ({'A+V' if use_video else 'A'})"
        results[label] = {}
        for condition in conditions:
            if not use_video and "frames" in condition["kind"]:
                continue  # frames do not exist for the audio-only model
            collator = AvatarCollator(processor, condition=condition, noise_bank=noise_bank, use_video=use_video)
            loader = accelerator.prepare(DataLoader(split, batch_size=args.batch_size, collate_fn=collator))
            metrics = task.evaluate(model, loader, accelerator)
            results[label][condition["name"]] = metrics
            accelerator.print(
                f"{label:40s} {condition['name']:24s} WER {metrics['wer_percent']:6.2f}%  "
                f"content {100 * metrics['content_wer']:6.2f}%  stop {100 * metrics['stop_wer']:6.2f}%"
            )
    if accelerator.is_main_process:
        output_dir = save_evaluation(results, args.output_dir, args.model_name_or_path[0])
        if plot_wer_vs_snr(results, output_dir / "wer_vs_snr.png"):
            accelerator.print(f"wrote {output_dir / 'metrics.json'} and {output_dir / 'wer_vs_snr.png'}")
    return results


RECIPE = Recipe(
    train_arguments=(AvatarArguments,),
    train=train,
    evaluate_arguments=(EvaluationArguments,),
    evaluate=evaluate,
)


def benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: the paper configuration (271.6 M parameters: a 12-layer ViT-B MBT encoder
    over 2 frames of 224 x 224 and 2,500 log-mel frames, an 8-layer decoder, 30,522 wordpieces; Gabeur et al. 2022
    Sec. 4), 64-token targets, the label-smoothed loss of training. Generation: greedy `generate()` with the cache
    against `use_cache=False` (the prefix and the memory projections recomputed at every step)."""
    from ..benchmarking import Workload
    from ..configuration import AvatarConfig
    from ..modeling import AvatarForConditionalGeneration

    paper = config is None
    config = config or AvatarConfig()
    target_tokens = 64 if paper else 12

    def make_inputs(batch, generator):
        return {
            "input_features": torch.randn(batch, config.max_audio_frames, config.num_mel_bins, generator=generator),
            "pixel_values": torch.rand(batch, 3, config.num_frames, *config.frame_size, generator=generator) * 2 - 1,
            "labels": torch.randint(4, config.vocab_size, (batch, target_tokens), generator=generator),
        }

    def generation(model, inputs, new_tokens):
        encoder_inputs = {k: inputs[k] for k in ("input_features", "pixel_values")}
        memory = model.get_encoder()(**encoder_inputs)
        common = dict(
            encoder_outputs=memory,
            do_sample=False,
            num_beams=1,
            max_new_tokens=new_tokens,
            min_new_tokens=new_tokens,
            eos_token_id=None,
        )
        return {
            "generate, key/value cache": lambda: model.generate(
                input_features=inputs["input_features"], use_cache=True, **common
            )[:, -new_tokens:],
            "generate, no cache": lambda: model.generate(
                input_features=inputs["input_features"], use_cache=False, **common
            )[:, -new_tokens:],
        }

    return Workload(
        description=f"{config.num_frames} frames of {config.frame_size}, {config.max_audio_frames} log-mel frames, "
        f"{target_tokens}-token targets",
        build_model=lambda: AvatarForConditionalGeneration(config),
        make_inputs=make_inputs,
        loss=lambda model, inputs: label_smoothed_loss(model(**inputs).logits, inputs["labels"], 0.1, pad_token_id=0),
        paper_batch_size=32,
        cpu_batch_size=2,
        learning_rate=1e-4,
        generate=generation,
    )
