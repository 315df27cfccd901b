"""MMT text-video retrieval: the task for `videozoo.training.fit` (ranking loss over the global batch, retrieval
metrics) and its recipe for `scripts/run_retrieval.py` (docs/mmt.md).

    accelerate launch scripts/run_retrieval.py train --model_type mmt --dataset_name synthetic \
        --output_dir runs/mmt-synthetic

    # the authors' feature layout (gabeur/mmt `base/base_dataset.py`), fine-tuning a converted checkpoint:
    accelerate launch scripts/run_retrieval.py train --model_type mmt --model_name_or_path mmt-howto100m \
        --dataset_name features --data_dir data/MSRVTT \
        --train_split_file data/MSRVTT/symlinked-feats/train_list_jsfusion.txt \
        --eval_split_file data/MSRVTT/symlinked-feats/val_list_jsfusion.txt --output_dir runs/mmt-msrvtt \
        --learning_rate 5e-5 --per_device_train_batch_size 32 --lr_scheduler_type step --lr_step_size 1000 \
        --lr_gamma 0.95 --max_steps 50000

    python scripts/run_retrieval.py evaluate --model_type mmt --model_name_or_path runs/mmt-synthetic \
        --dataset_name synthetic --num_train_videos 0

`--dataset_name` is `synthetic` (the embedded task), `features` (the authors' HDF5 layout) or a folder written by
`datasets.DatasetDict.save_to_disk` with `train` and `test` splits in the videozoo schema. Without
`--model_name_or_path` a new model is built (`--model_size small` for the synthetic task, `paper` for the paper's
sizes); its tokenizer comes from `--vocab_file` or is trained offline on the training captions.
`--model_name_or_path` may also name a modality-masking pre-training (`mmt_modality_masking`): `MMTModel` then
loads its video encoder and caption side (the fine-tuning of Gabeur et al., WACV 2022).

Evaluation encodes the test videos and captions separately, ranks them with `MMTRetrievalTask.evaluate` (the
computation of the metric module `videozoo/metrics/video_retrieval`), writes `metrics.json` and a recall@K plot
`recall_at_k.png`, and prints the metrics.
"""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import datasets
import torch
from accelerate import Accelerator
from transformers import AutoModel, AutoProcessor, BertConfig, set_seed

from ..arguments import dataset_problem, file_problem, folder_problem, positive_problem, raise_if_any
from ..configuration import MMTConfig
from ..configuration.configuration_mmt import MMT_EXPERT_TABLE
from ..data.mmt import SYNTHETIC_EXPERTS, MMTCollator, load_mmt_features, synthetic_mmt_dataset
from ..distributed import gather_with_grad
from ..metrics.video_retrieval.video_retrieval import retrieval_metrics_from_embeddings
from ..modeling.losses import max_margin_ranking_loss
from ..modeling.modeling_mmt import MMTModel
from ..processors import MMTProcessor
from ..processors.processing_mmt import normalize_caption, train_wordpiece_vocab
from ..recipes import EvaluationArguments, Recipe, checked_checkpoint, print_recalls, run_evaluation
from ..training import TrainerArguments, fit, processor_for_resume

VIDEO_KEYS = ("expert_features", "expert_times", "expert_attention_mask", "expert_pooled")


class MMTRetrievalTask:
    """Text-video retrieval with MMT.

    Training: every process encodes its captions and videos, the embeddings are all-gathered *with gradients*,
    and every process computes the bidirectional max-margin ranking loss on the global (B x B) similarity matrix,
    so the negatives are those of the global batch, as in the single-GPU reference. (Each process computes the
    same global loss; the gather's backward sums the per-process gradients and DDP averages them, which gives
    exactly the gradient of the global loss.)

    Evaluation: videos and captions are encoded separately, gathered, and ranked with the metric module
    `videozoo/metrics/video_retrieval` (text->video and video->text, ties averaged, several captions per video),
    block by block from the embeddings with the per-expert weighted similarity, never the whole matrix
    (docs/retrieval_at_scale.md).
    """

    def __init__(self, margin: float = 0.05, renormalize_missing_modalities: bool = False):
        self.margin = margin
        self.renormalize = renormalize_missing_modalities

    def similarity(self, text_embeds, text_weights, video_embeds, availability) -> torch.Tensor:
        return MMTModel.compute_similarity(text_embeds, text_weights, video_embeds, availability, self.renormalize)

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        out = model(**batch)
        similarity = self.similarity(
            gather_with_grad(out.text_embeds),
            gather_with_grad(out.text_weights),
            gather_with_grad(out.video_embeds),
            gather_with_grad(out.video_availability),
        )
        return max_margin_ranking_loss(similarity, self.margin)

    def embed(self, model, dataloader, accelerator: Accelerator) -> dict[str, torch.Tensor]:
        """Encode an evaluation set: per-video embeddings and per-caption embeddings (video-major, masked)."""
        unwrapped = accelerator.unwrap_model(model)
        parts = {
            "video_embeds": [],
            "video_availability": [],
            "text_embeds": [],
            "text_weights": [],
            "caption_mask": [],
        }
        for batch in dataloader:
            videos = len(batch["caption_mask"])
            video_embeds, availability = unwrapped.get_video_features(**{k: batch[k] for k in VIDEO_KEYS})
            text_embeds, text_weights = unwrapped.get_text_features(batch["input_ids"], batch["attention_mask"])
            captions = batch["caption_mask"].shape[1]
            local = {
                "video_embeds": video_embeds,
                "video_availability": availability,
                "text_embeds": text_embeds.reshape(videos, captions, *text_embeds.shape[1:]),
                "text_weights": text_weights.reshape(videos, captions, -1),
                "caption_mask": batch["caption_mask"],
            }
            for key, value in accelerator.gather_for_metrics(local).items():
                parts[key].append(value.float().cpu())
        return {key: torch.cat(values) for key, values in parts.items()}

    def retrieval_metrics(self, encoded: dict[str, torch.Tensor]) -> dict[str, float]:
        """Metrics of an encoded set (`embed`): padded captions left out, the similarity scored in blocks."""
        keep = encoded["caption_mask"].bool().reshape(-1)
        num_videos, captions = encoded["caption_mask"].shape
        text_embeds = encoded["text_embeds"].flatten(0, 1)[keep]
        text_weights = encoded["text_weights"].flatten(0, 1)[keep]
        video_embeds, availability = encoded["video_embeds"], encoded["video_availability"]
        caption_to_video = torch.arange(num_videos).repeat_interleave(captions)[keep]
        return retrieval_metrics_from_embeddings(
            text_embeds,
            video_embeds,
            caption_to_video,
            similarity=lambda c, v: self.similarity(text_embeds[c], text_weights[c], video_embeds[v], availability[v]),
        )

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        return self.retrieval_metrics(self.embed(model, dataloader, accelerator))


# ------------------------------------------------------------------------------------------------------ recipe
@dataclass
class FeaturesDataArguments:
    """What MMT and its modality-masking pre-training share: the model size, and the data (the embedded synthetic
    task, the authors' HDF5 feature layout, gabeur/mmt `base/base_dataset.py`, or a save_to_disk folder) with the
    vocabulary a new model's tokenizer gets."""

    model_size: Literal["small", "paper"] = "small"
    dataset_name: str = field(
        default="synthetic", metadata={"help": "'synthetic', 'features', or a save_to_disk folder."}
    )
    data_dir: str | None = None
    train_split_file: str | None = None
    eval_split_file: str | None = None
    synthetic_seed: int = 0
    vocab_file: str | None = None
    vocab_size: int = 300

    def problems(self) -> list[str | None]:
        found = [
            dataset_problem("--dataset_name", self.dataset_name, ("synthetic", "features")),
            file_problem("--vocab_file", self.vocab_file),
            positive_problem("--vocab_size", self.vocab_size),
        ]
        if self.dataset_name == "features":
            found += [
                folder_problem("--data_dir", self.data_dir, required=True),
                file_problem("--train_split_file", self.train_split_file, required=True),
                file_problem("--eval_split_file", self.eval_split_file, required=True),
            ]
        return found


@dataclass
class MMTArguments(FeaturesDataArguments):
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "videozoo MMT (or modality-masking) checkpoint to fine-tune."}
    )
    config_name: str | None = field(
        default=None, metadata={"help": "Train from scratch with the config and processor of this checkpoint."}
    )
    experts: str = field(default="s3d,vggish", metadata={"help": "Experts of a new model / of the features layout."})
    num_train_videos: int = 4000
    num_test_videos: int = 250
    max_train_samples: int | None = None
    max_eval_samples: int | None = None
    text_model_name_or_path: str | None = field(
        default=None,
        metadata={
            "help": "Local BERT (e.g. bert-base-cased) to initialise a new model's caption encoder and tokenizer."
        },
    )
    max_text_tokens: int = 30
    max_feature_tokens: int = 30
    eval_captions_per_video: int = field(default=0, metadata={"help": "Captions ranked per test video; 0 = all."})


@dataclass
class MMTEvaluationArguments(EvaluationArguments):
    output_dir: str = field(
        default="", metadata={"help": "Where metrics.json and the plot go (default: <model>/eval)."}
    )
    split: str = "test"


def argument_problems(args: MMTArguments) -> list[str | None]:
    """What is wrong with these arguments, found before anything is loaded."""
    found = [
        *args.problems(),
        folder_problem("--text_model_name_or_path", args.text_model_name_or_path),
        positive_problem("--max_text_tokens", args.max_text_tokens),
        positive_problem("--max_feature_tokens", args.max_feature_tokens),
        positive_problem("--eval_captions_per_video", args.eval_captions_per_video, allow_zero=True),
    ]
    if args.model_name_or_path and args.config_name:
        found.append("--model_name_or_path and --config_name exclude each other (fine-tune, or train anew)")
    if not (args.model_name_or_path or args.config_name):
        table = SYNTHETIC_EXPERTS if args.dataset_name == "synthetic" else MMT_EXPERT_TABLE
        unknown = [name for name in args.experts.split(",") if name not in table]
        if unknown:
            found.append(f"--experts: unknown experts {unknown} (known: {sorted(table)})")
    return found


def load_splits(args: MMTArguments, expert_feature_sizes: dict[str, int] | None = None) -> datasets.DatasetDict:
    if args.dataset_name == "synthetic":
        splits = synthetic_mmt_dataset(args.num_train_videos, args.num_test_videos, seed=args.synthetic_seed)
    elif args.dataset_name == "features":
        splits = datasets.DatasetDict(
            train=load_mmt_features(args.data_dir, args.train_split_file, expert_feature_sizes),
            test=load_mmt_features(args.data_dir, args.eval_split_file, expert_feature_sizes),
        )
    else:
        splits = datasets.load_from_disk(args.dataset_name)
    splits = splits.with_format("numpy")  # Array2D columns come back as arrays, one call per batch
    if args.max_train_samples:
        splits["train"] = splits["train"].select(range(min(args.max_train_samples, len(splits["train"]))))
    if args.max_eval_samples:
        for name in ("validation", "test"):
            if name in splits:
                splits[name] = splits[name].select(range(min(args.max_eval_samples, len(splits[name]))))
    return splits


def new_model_and_processor(args: MMTArguments, splits: datasets.DatasetDict, sizes: dict[str, int]):
    experts = list(sizes)
    small = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256)
    if args.text_model_name_or_path is not None:  # real BERT weights and vocabulary, from a local folder
        text_path = Path(args.text_model_name_or_path)
        processor = MMTProcessor.from_vocab_file(
            text_path / "vocab.txt",
            experts,
            sizes,
            max_text_tokens=args.max_text_tokens,
            max_feature_tokens=args.max_feature_tokens,
        )
        text_model = AutoModel.from_pretrained(text_path, add_pooling_layer=False)
        size = {} if args.model_size == "paper" else small
        model = AutoModel.from_config(
            MMTConfig(text_config=text_model.config, expert_names=experts, expert_feature_sizes=sizes, **size)
        )
        model.text_model.load_state_dict(text_model.state_dict())
        return model, processor
    if args.vocab_file is None:
        captions = (normalize_caption(str(c)) for cs in splits["train"]["captions"] for c in cs)
        vocab = train_wordpiece_vocab(captions, vocab_size=args.vocab_size)
        vocab_file = Path(tempfile.mkdtemp()) / "vocab.txt"
        vocab_file.write_text("\n".join(vocab) + "\n")
    else:
        vocab_file = Path(args.vocab_file)
    processor = MMTProcessor.from_vocab_file(
        vocab_file, experts, sizes, max_text_tokens=args.max_text_tokens, max_feature_tokens=args.max_feature_tokens
    )
    vocab_size = len(processor.tokenizer)
    if args.model_size == "small":  # the synthetic task's model
        text = BertConfig(vocab_size=vocab_size, max_position_embeddings=64, **small)
        config = MMTConfig(text_config=text, expert_names=experts, expert_feature_sizes=sizes, **small)
    else:
        config = MMTConfig(text_config=dict(vocab_size=vocab_size), expert_names=experts, expert_feature_sizes=sizes)
    return AutoModel.from_config(config), processor


def _task(config: MMTConfig) -> MMTRetrievalTask:
    return MMTRetrievalTask(config.ranking_margin, config.renormalize_missing_modalities)


def train(args: MMTArguments, training_args: TrainerArguments) -> dict[str, float]:
    raise_if_any([*training_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)  # a new model's initialisation is part of the run
    if args.model_name_or_path or args.config_name:
        # an MMT checkpoint, or a modality-masking one (MMTModel then loads its video encoder and caption side)
        source = args.model_name_or_path or args.config_name
        if args.model_name_or_path:
            model = MMTModel.from_pretrained(source)
        else:
            model = MMTModel(MMTConfig.from_pretrained(source))
        processor = AutoProcessor.from_pretrained(source)
        if not isinstance(processor, MMTProcessor):
            raise ValueError(f"{source} has no MMT processor ({type(processor).__name__})")
        sizes = dict(model.config.expert_feature_sizes)
    else:
        experts = args.experts.split(",")
        table = SYNTHETIC_EXPERTS if args.dataset_name == "synthetic" else {n: MMT_EXPERT_TABLE[n][0] for n in experts}
        sizes = {name: table[name] for name in experts}
    splits = load_splits(args, sizes)
    if not (args.model_name_or_path or args.config_name):
        model, processor = new_model_and_processor(args, splits, sizes)
    processor = processor_for_resume(training_args, processor)
    eval_split = splits["validation"] if "validation" in splits else splits["test"]  # model selection on validation
    captions = args.eval_captions_per_video or max(len(c) for c in eval_split["captions"])
    return fit(
        model,
        _task(model.config),
        splits["train"],
        training_args,
        collate_fn=MMTCollator(processor, training=True),
        eval_dataset=eval_split,
        eval_collate_fn=MMTCollator(processor, training=False, captions_per_video=captions),
        processor=processor,
        hparams=vars(args),
    )


def plot_recall_at_k(metrics: dict[str, float], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ks = [1, 5, 10, 50]
    figure, axis = plt.subplots(figsize=(5, 3.5))
    for direction, label in (("t2v", "text → video"), ("v2t", "video → text")):
        axis.plot(ks, [metrics[f"{direction}_R{k}"] for k in ks], marker="o", label=label)
    axis.set(
        xscale="log",
        xticks=ks,
        xticklabels=[str(k) for k in ks],
        xlabel="K",
        ylabel="Recall@K (%)",
        ylim=(0, 100),
        title=title,
    )
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def evaluate(args: MMTArguments, eval_args: MMTEvaluationArguments) -> dict[str, float]:
    problems = [*eval_args.problems(), *argument_problems(args)]
    model, processor = checked_checkpoint(args.model_name_or_path, ("mmt",), problems)
    split = load_splits(args, dict(model.config.expert_feature_sizes))[eval_args.split]
    captions = args.eval_captions_per_video or max(len(c) for c in split["captions"])

    def report(metrics: dict[str, float], output_dir: Path) -> None:
        plot_recall_at_k(metrics, output_dir / "recall_at_k.png", f"MMT, {args.dataset_name} {eval_args.split}")
        print_recalls(metrics, ["t2v", "v2t"], ("R1", "R5", "R10", "MedR", "MeanR"))
        print(f"{metrics['num_queries_t2v']} captions, {metrics['num_queries_v2t']} videos")
        print(f"wrote {output_dir / 'recall_at_k.png'}")

    collator = MMTCollator(processor, training=False, captions_per_video=captions)
    return run_evaluation(
        model, _task(model.config), split, collator, eval_args, args.model_name_or_path, report=report
    )


RECIPE = Recipe(
    train_arguments=(MMTArguments,),
    train=train,
    evaluate_arguments=(MMTArguments, MMTEvaluationArguments),
    evaluate=evaluate,
    initializes_from=("mmt_modality_masking",),
)


def mmt_batch(config, batch_size: int, generator: torch.Generator, tokens: int, text_length: int) -> dict:
    """A synthetic batch: `tokens` features per expert (one per second), `text_length` caption wordpieces."""
    inputs = {"expert_features": {}, "expert_times": {}, "expert_attention_mask": {}, "expert_pooled": {}}
    for name in config.expert_names:
        size = config.expert_feature_sizes[name]
        inputs["expert_features"][name] = torch.randn(batch_size, tokens, size, generator=generator)
        inputs["expert_times"][name] = torch.arange(tokens).float().expand(batch_size, -1) + 2.5
        inputs["expert_attention_mask"][name] = torch.ones(batch_size, tokens, dtype=torch.long)
        inputs["expert_pooled"][name] = torch.randn(batch_size, size, generator=generator)
    vocab = config.text_config.vocab_size
    inputs["input_ids"] = torch.randint(min(1000, vocab - 1), vocab, (batch_size, text_length), generator=generator)
    inputs["attention_mask"] = torch.ones(batch_size, text_length, dtype=torch.long)
    return inputs


def benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: the paper's MSR-VTT recipe (7 experts x 30 features, BERT-base captions of
    30 wordpieces, batch 32, learning rate 5e-5, Gabeur et al. 2020 Sec. 4.1) with the ranking loss."""
    from ..benchmarking import Workload
    from ..configuration import MMTConfig

    paper = config is None
    config = config or MMTConfig()
    tokens, text_length = (30, 30) if paper else (5, 9)
    task = MMTRetrievalTask(margin=config.ranking_margin)
    return Workload(
        description=f"{len(config.expert_names)} experts x {tokens} features, {text_length} caption tokens",
        build_model=lambda: MMTModel(config),
        make_inputs=lambda batch, generator: mmt_batch(config, batch, generator, tokens, text_length),
        loss=task.training_loss,
        paper_batch_size=32,
        cpu_batch_size=32,
        learning_rate=5e-5,
    )
