"""Everything at Once: the task for `videozoo.training.fit` (combinatorial loss over the global batch, zero-shot
retrieval from text to video, audio and their fusion) and its recipe for `scripts/run_retrieval.py`
(docs/everything_at_once.md).

    accelerate launch scripts/run_retrieval.py train --model_type everything_at_once --dataset_name synthetic \
        --output_dir runs/eao-synthetic --max_steps 300 --per_device_train_batch_size 128 --learning_rate 5e-4

    # zero-shot (or fine-tuned) text -> video retrieval as in the paper's section 4.2:
    python scripts/run_retrieval.py evaluate --model_type everything_at_once \
        --model_name_or_path everything-at-once --dataset_name pickle \
        --eval_pickle msrvtt/resnet/msrvtt_jsfusion_test.pkl --word_vectors GoogleNews.bin --max_frames 3072 \
        --num_missing_clips 32

`--dataset_name synthetic` is the embedded tri-modal task (the architecture scaled down: width 128, 4 heads, one
block, audio CNN widths 16..64 with one block per stage); any `datasets` folder in the videozoo schema (`text`,
`video`, `audio` arrays per clip) works with `--dataset_name <folder>`, and `--model_name_or_path` fine-tunes a
converted checkpoint (the paper's fine-tuning uses all loss weights 1: `--finetune_weights`). Evaluation reports
text -> fused video+audio (`t2va`), -> video (`t2v`), -> audio (`t2a`), -> late fusion (`t2v+a`) and writes
metrics.json.
"""

from dataclasses import dataclass, field

import datasets
import torch
from accelerate import Accelerator
from transformers import AutoModel, set_seed

from ..arguments import dataset_problem, file_problem, folder_problem, positive_problem, raise_if_any
from ..configuration import EverythingAtOnceConfig
from ..data.avlnet import howto100m_index
from ..data.everything_at_once import (
    EverythingAtOnceCollator,
    HowTo100MEAOCollator,
    load_eao_clip_pickle,
    synthetic_eao_dataset,
)
from ..distributed import gather_with_grad
from ..metrics.video_retrieval.video_retrieval import retrieval_metrics_from_embeddings
from ..modeling.modeling_everything_at_once import combinatorial_loss
from ..processors import AVLnetFeatureExtractor, EverythingAtOnceProcessor
from ..processors.word_vectors import load_word_vectors
from ..recipes import EvaluationArguments, Recipe, checked_checkpoint, load_checkpoint, print_recalls, run_evaluation
from ..training import TrainerArguments, fit

EMBEDS = {
    "text": "text_embeds",
    "video": "video_embeds",
    "audio": "audio_embeds",
    "text_video": "text_video_embeds",
    "text_audio": "text_audio_embeds",
    "video_audio": "video_audio_embeds",
}


class EverythingAtOnceTask:
    """Training: every embedding and nonempty mask is all-gathered (embeddings with gradients) and the combinatorial
    loss runs on the global batch. Evaluation (paper §4.2 and the reference's `trainer/trainer.py` `eval`: cosine
    similarities, ties averaged): text -> video+audio fused (`t2va_*`), text -> video (`t2v_*`), text -> audio
    (`t2a_*`), text -> late fusion v+a (`t2v+a_*`)."""

    def __init__(self, weights: dict[str, float], temperature: float = 0.05, missing_clips: int = 0):
        self.weights = weights
        self.temperature = temperature
        self.missing_clips = missing_clips  # test clips absent from the features: failures in R@K (as the reference)

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        out = model(**batch)
        embeds = {k: gather_with_grad(getattr(out, v)) for k, v in EMBEDS.items() if getattr(out, v) is not None}
        nonempty = {
            m: gather_with_grad(getattr(out, f"{m}_nonempty_mask").float()).bool()
            for m in ("text", "video", "audio")
            if getattr(out, f"{m}_nonempty_mask") is not None
        }
        return combinatorial_loss(embeds, nonempty, self.weights, self.temperature)

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        parts: dict[str, list] = {}
        for batch in dataloader:
            out = model(**batch)
            local = {
                k: getattr(out, k)
                for k in (
                    "text_embeds",
                    "video_embeds",
                    "audio_embeds",
                    "video_audio_embeds",
                    "video_plus_audio_embeds",
                )
            }
            for key, value in accelerator.gather_for_metrics(local).items():
                parts.setdefault(key, []).append(value.float().cpu())
        embeds = {k: torch.nn.functional.normalize(torch.cat(v), dim=-1, eps=1e-8) for k, v in parts.items()}
        metrics = {}
        for name, gallery in (
            ("t2va", "video_audio_embeds"),
            ("t2v", "video_embeds"),
            ("t2a", "audio_embeds"),
            ("t2v+a", "video_plus_audio_embeds"),
        ):
            result = retrieval_metrics_from_embeddings(
                embeds["text_embeds"], embeds[gallery], missing_queries=self.missing_clips
            )
            metrics.update({f"{name}_{k[4:]}": v for k, v in result.items() if k.startswith("t2v_")})
        return metrics


# ------------------------------------------------------------------------------------------------------ recipe
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


@dataclass
class EAOEvaluationArguments:
    model_name_or_path: str = field(metadata={"help": "an Everything-at-Once checkpoint"})
    dataset_name: str = field(default="synthetic", metadata={"help": "'synthetic', 'pickle' or a save_to_disk folder"})
    eval_pickle: str | None = None
    word_vectors: str | None = None
    max_frames: int | None = None
    num_missing_clips: int = 0


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


def evaluation_problems(args: EAOEvaluationArguments) -> list[str | None]:
    """What is wrong with these evaluation arguments, found before anything is loaded."""
    return [
        dataset_problem("--dataset_name", args.dataset_name, ("synthetic", "pickle")),
        file_problem("--eval_pickle", args.eval_pickle, required=args.dataset_name == "pickle"),
        file_problem("--word_vectors", args.word_vectors),
        positive_problem("--max_frames", args.max_frames),
        positive_problem("--num_missing_clips", args.num_missing_clips, allow_zero=True),
    ]


def load_splits(args: EAOArguments, vectors) -> datasets.DatasetDict:
    if args.dataset_name == "synthetic":
        splits = synthetic_eao_dataset(args.num_train_clips)
    elif args.dataset_name in ("howto100m", "pickle"):
        test = load_eao_clip_pickle(args.eval_pickle, vectors)
        if args.dataset_name == "howto100m":
            train = howto100m_index(args.train_csv, args.features_path)
        else:
            train = load_eao_clip_pickle(args.train_pickle, vectors)
        splits = datasets.DatasetDict(train=train, test=test)
    else:
        splits = datasets.load_from_disk(args.dataset_name)
    return splits.with_format("numpy")


def _collator(config: EverythingAtOnceConfig, max_frames: int | None) -> EverythingAtOnceCollator:
    return EverythingAtOnceCollator(max_frames, 2 ** len(config.audio_stage_depths))


def train(args: EAOArguments, training_args: TrainerArguments) -> dict[str, float]:
    raise_if_any([*training_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)
    vectors = load_word_vectors(args.word_vectors) if args.word_vectors else None
    splits = load_splits(args, vectors)
    if args.model_name_or_path:
        model, processor = load_checkpoint(args.model_name_or_path, ("everything_at_once",))
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
    train_collator = None
    if args.dataset_name == "howto100m":
        train_collator = HowTo100MEAOCollator(
            args.captions_pickle, vectors, args.clips_per_video, args.max_frames or 768
        )
    weights = {k: 1.0 for k in model.config.loss_weights} if args.finetune_weights else model.config.loss_weights
    collator = _collator(model.config, args.max_frames)
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


def evaluate(args: EAOEvaluationArguments, eval_args: EvaluationArguments) -> dict[str, float]:
    problems = [*evaluation_problems(args), *eval_args.problems()]
    model, _ = checked_checkpoint(args.model_name_or_path, ("everything_at_once",), problems, with_processor=False)
    if args.dataset_name == "synthetic":
        split = synthetic_eao_dataset(num_train=0)["test"]
    elif args.dataset_name == "pickle":
        vectors = load_word_vectors(args.word_vectors) if args.word_vectors else None
        split = load_eao_clip_pickle(args.eval_pickle, vectors)
    else:
        split = datasets.load_from_disk(args.dataset_name)["test"]
    task = EverythingAtOnceTask(model.config.loss_weights, missing_clips=args.num_missing_clips)

    def report(metrics: dict[str, float], output_dir) -> None:
        print_recalls(metrics, ["t2va", "t2v", "t2a", "t2v+a"])

    collator = _collator(model.config, args.max_frames)
    split = split.with_format("numpy")
    return run_evaluation(model, task, split, collator, eval_args, args.model_name_or_path, report)


RECIPE = Recipe(
    train_arguments=(EAOArguments,),
    train=train,
    evaluate_arguments=(EAOEvaluationArguments, EvaluationArguments),
    evaluate=evaluate,
)


def benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: the paper configuration (width 4096, 64 heads, ResDAVEnet v2 up to 4096
    channels; 20 words, 12 video tokens, 768 audio frames; batch 224, learning rate 5e-5; Shvetsova et al. 2022
    Sec. 4) with the combinatorial loss of the model."""
    from ..benchmarking import Workload
    from ..configuration import EverythingAtOnceConfig
    from ..modeling import EverythingAtOnceModel

    paper = config is None
    config = config or EverythingAtOnceConfig()
    words, video_tokens, frames = (20, 12, 768) if paper else (5, 6, 32)

    def make_inputs(batch, generator):
        return {
            "text_features": torch.randn(batch, words, config.text_feature_size, generator=generator),
            "video_features": torch.randn(batch, video_tokens, config.video_feature_size, generator=generator),
            "input_features": -40 + 10 * torch.randn(batch, config.num_mel_bins, frames, generator=generator),
        }

    return Workload(
        description=f"width {config.hidden_size}, {words} words, {video_tokens} video tokens, {frames} audio frames",
        build_model=lambda: EverythingAtOnceModel(config),
        make_inputs=make_inputs,
        loss=lambda model, inputs: model(**inputs, return_loss=True).loss,
        paper_batch_size=224,
        cpu_batch_size=8,
        learning_rate=5e-5,
    )
