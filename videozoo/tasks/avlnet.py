"""AVLnet audio-video retrieval (audio-video, Text-Tri or Text-Fused): the task for `videozoo.training.fit` (MMS
loss over the global batch, retrieval metrics) and its recipe for `scripts/run_retrieval.py` (docs/avlnet.md).

    accelerate launch scripts/run_retrieval.py train --model_type avlnet --dataset_name synthetic \
        --output_dir runs/avlnet-synthetic --max_steps 400 --per_device_train_batch_size 64 --learning_rate 1e-3

    # the authors' clip pickles (YouCook2: 5,120 frames per clip), fine-tuning a converted checkpoint:
    accelerate launch scripts/run_retrieval.py train --model_type avlnet --model_name_or_path avlnet \
        --dataset_name pickle --train_pickle youcook_train.pkl --eval_pickle youcook_val.pkl --max_frames 5120 \
        --learning_rate 1e-5 --output_dir runs/avlnet-youcook2

    python scripts/run_retrieval.py evaluate --model_type avlnet --model_name_or_path runs/avlnet-synthetic \
        --dataset_name synthetic

`--dataset_name synthetic` is the embedded tone-band x rhythm task (a small model: stage widths 16/16/32/32/64,
D = 256). Text variants need `--word_vectors <local word2vec/GloVe file>` for real captions. Evaluation reports
audio->video and video->audio retrieval (text->audio+video for Tri, audio+text->video for Fused) and writes
metrics.json.
"""

from dataclasses import dataclass, field
from typing import Literal

import datasets
import torch
from accelerate import Accelerator
from transformers import AutoModel, set_seed

from ..arguments import dataset_problem, file_problem, folder_problem, positive_problem, raise_if_any
from ..configuration import AVLnetConfig
from ..data.avlnet import (
    AVLnetCollator,
    HowTo100MCollator,
    howto100m_index,
    load_avlnet_pickle,
    synthetic_avlnet_dataset,
)
from ..distributed import gather_with_grad
from ..metrics.video_retrieval.video_retrieval import retrieval_metrics_from_embeddings
from ..modeling.losses import mms_loss
from ..processors import AVLnetFeatureExtractor, AVLnetProcessor
from ..recipes import EvaluationArguments, Recipe, checked_checkpoint, load_checkpoint, print_recalls, run_evaluation
from ..training import TrainerArguments, fit


class AVLnetRetrievalTask:
    """Training: embeddings are all-gathered with gradients and the variant's MMS objective runs on the global batch
    (every process computes the same global loss; the gather's backward and DDP's averaging give its exact gradient).
    `text_tri` pre-trains on the three pairs, or, with `fuse_audio_video=True` (the fine-tuning recipes), on text
    against audio + video.

    Evaluation (metric module `videozoo/metrics/video_retrieval`, one query per clip): audio->video and
    video->audio (`a2v_*`, `v2a_*`); Tri adds text->(audio+video) (`t2av_*`); Fused scores (audio+text)->video
    (`at2v_*`, `v2at_*`).
    """

    def __init__(self, variant: str, margin: float = 0.001, fuse_audio_video: bool = False, missing_clips: int = 0):
        self.missing_clips = missing_clips  # e.g. MSR-VTT: recalls over 1,000 clips although 968 have audio
        self.variant = variant
        self.margin = margin
        self.fuse_audio_video = fuse_audio_video

    def _embed(self, model, batch: dict) -> dict[str, torch.Tensor]:
        out = model(**batch)
        names = {
            "av": ("audio_embeds", "video_embeds"),
            "text_tri": ("audio_embeds", "video_embeds", "text_embeds"),
            "text_fused": ("audio_text_embeds", "video_embeds"),
        }[self.variant]
        return {name: getattr(out, name) for name in names}

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        embeds = {name: gather_with_grad(value) for name, value in self._embed(model, batch).items()}
        if self.variant == "text_fused":
            return mms_loss(embeds["audio_text_embeds"] @ embeds["video_embeds"].T, self.margin)
        audio, video = embeds["audio_embeds"], embeds["video_embeds"]
        if self.variant == "av":
            return mms_loss(audio @ video.T, self.margin)
        text = embeds["text_embeds"]
        if self.fuse_audio_video:
            return mms_loss(text @ (audio + video).T, self.margin)
        return (
            mms_loss(audio @ video.T, self.margin)
            + mms_loss(audio @ text.T, self.margin)
            + mms_loss(text @ video.T, self.margin)
        )

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        parts: dict[str, list] = {}
        for batch in dataloader:
            for name, value in accelerator.gather_for_metrics(self._embed(model, batch)).items():
                parts.setdefault(name, []).append(value.float().cpu())
        embeds = {name: torch.cat(values) for name, values in parts.items()}
        video = embeds["video_embeds"]
        metrics = {}

        def add(prefix_pair: tuple[str, str], queries: torch.Tensor, gallery: torch.Tensor) -> None:
            result = retrieval_metrics_from_embeddings(queries, gallery, missing_queries=self.missing_clips)
            for key, value in result.items():
                if key.startswith("t2v_"):
                    metrics[f"{prefix_pair[0]}_{key[4:]}"] = value
                elif key.startswith("v2t_"):
                    metrics[f"{prefix_pair[1]}_{key[4:]}"] = value

        if self.variant == "text_fused":
            add(("at2v", "v2at"), embeds["audio_text_embeds"], video)
        else:
            add(("a2v", "v2a"), embeds["audio_embeds"], video)
            if self.variant == "text_tri":
                add(("t2av", "av2t"), embeds["text_embeds"], embeds["audio_embeds"] + video)
        return metrics


# ------------------------------------------------------------------------------------------------------ recipe
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


@dataclass
class AVLnetEvaluationArguments(EvaluationArguments):
    num_missing_clips: int = field(default=0, metadata={"help": "Test clips absent from the data (failures in R@K)."})

    def problems(self) -> list[str | None]:
        return [*super().problems(), positive_problem("--num_missing_clips", self.num_missing_clips, allow_zero=True)]


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
        return datasets.DatasetDict(
            train=howto100m_index(args.train_csv, args.features_path),
            test=load_avlnet_pickle(args.eval_pickle).with_format("numpy"),
        )
    elif args.dataset_name == "pickle":
        splits = datasets.DatasetDict(
            train=load_avlnet_pickle(args.train_pickle), test=load_avlnet_pickle(args.eval_pickle)
        )
    else:
        splits = datasets.load_from_disk(args.dataset_name)
    return splits.with_format("numpy")


def _with_word_vectors(model, processor, word_vectors: str | None) -> bool:
    """Loads the word vectors a text variant needs into its processor; whether the variant reads text."""
    with_text = model.config.variant != "av"
    if with_text:
        if not word_vectors:
            raise ValueError(
                f"--word_vectors: the {model.config.variant} variant needs a local word2vec or GloVe file"
            )
        processor.load_word_vectors(word_vectors)
    return with_text


def train(args: AVLnetArguments, training_args: TrainerArguments) -> dict[str, float]:
    raise_if_any([*training_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)
    splits = load_splits(args)
    if args.model_name_or_path:
        model, processor = load_checkpoint(args.model_name_or_path, ("avlnet",))
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
    collator = AVLnetCollator(args.max_frames, processor, _with_word_vectors(model, processor, args.word_vectors))
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


def evaluate(args: AVLnetArguments, eval_args: AVLnetEvaluationArguments) -> dict[str, float]:
    problems = [*eval_args.problems(), *argument_problems(args)]
    model, processor = checked_checkpoint(args.model_name_or_path, ("avlnet",), problems)
    collator = AVLnetCollator(args.max_frames, processor, _with_word_vectors(model, processor, args.word_vectors))
    task = AVLnetRetrievalTask(model.config.variant, missing_clips=eval_args.num_missing_clips)
    directions = {"av": ["a2v", "v2a"], "text_tri": ["a2v", "v2a", "t2av", "av2t"], "text_fused": ["at2v", "v2at"]}

    def report(metrics: dict[str, float], output_dir) -> None:
        print_recalls(metrics, directions[model.config.variant])

    split = load_splits(args)["test"]
    return run_evaluation(model, task, split, collator, eval_args, args.model_name_or_path, report)


RECIPE = Recipe(
    train_arguments=(AVLnetArguments,),
    train=train,
    evaluate_arguments=(AVLnetArguments, AVLnetEvaluationArguments),
    evaluate=evaluate,
)


def benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: the audio-video model of the paper (ResDAVEnet 128..1024 over 1,000-frame
    log-mel clips, D = 4096, 4096-d video features; Rouditchenko et al. 2021 Sec. 3) with its MMS loss."""
    from ..benchmarking import Workload
    from ..configuration import AVLnetConfig
    from ..modeling import AVLnetModel

    paper = config is None
    config = config or AVLnetConfig()
    frames = 1000 if paper else 64

    def make_inputs(batch, generator):
        inputs = {
            "input_features": -80 * torch.rand(batch, config.num_mel_bins, frames, generator=generator),
            "audio_lengths": torch.full((batch,), frames),
            "video_features": torch.rand(batch, config.video_feature_size, generator=generator),
        }
        if config.variant != "av":
            inputs["text_features"] = torch.randn(batch, 5, config.word_embedding_size, generator=generator)
        return inputs

    return Workload(
        description=f"{config.variant}, {frames} log-mel frames, D = {config.embed_dim}",
        build_model=lambda: AVLnetModel(config),
        make_inputs=make_inputs,
        loss=lambda model, inputs: model(**inputs, return_loss=True).loss,
        paper_batch_size=128,
        cpu_batch_size=16,
        learning_rate=1e-3,
    )
