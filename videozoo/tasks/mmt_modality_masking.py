"""Modality-masking pre-training (Gabeur et al., WACV 2022): the task for `videozoo.training.fit` and its recipe for
`scripts/run_retrieval.py` (docs/mmt.md).

`train` is the pre-training of the MMT video encoder by masking whole modalities; `evaluate` is masked-modality ->
video retrieval on held-out clips (per modality, and concept@1 where the data has latent concepts):

    accelerate launch scripts/run_retrieval.py train --model_type mmt_modality_masking --dataset_name synthetic \
        --output_dir runs/mmt-masking --max_steps 900 --per_device_train_batch_size 48 --learning_rate 5e-4

    # HowTo100M-style clips in the MMT HDF5 layout (features.s3d / .vggish / .asr, the transcript as caption 0),
    # the paper's recipe (batch 1,200 over the processes, Adam 1e-4, x0.98 every 2K steps, random 30-s crops):
    accelerate launch scripts/run_retrieval.py train --model_type mmt_modality_masking --dataset_name features \
        --data_dir data/HowTo100M --train_split_file .../train_list.txt --eval_split_file .../val_list.txt \
        --model_size paper --clip_duration 30 --learning_rate 1e-4 --lr_scheduler_type step --lr_step_size 2000 \
        --lr_gamma 0.98

    python scripts/run_retrieval.py evaluate --model_type mmt_modality_masking --model_name_or_path runs/mmt-masking

The paper's fine-tuning on captions is MMT's training started from this checkpoint:
`run_retrieval.py train --model_type mmt --model_name_or_path <pre-training>` (`MMTModel` loads Psi and Phi_text
from it; `--select_best_metric t2v_geometric_mean_R1-R5-R10` selects on validation, as the paper does).
"""

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import torch
from accelerate import Accelerator
from transformers import AutoModel, BertConfig, set_seed

from ..arguments import positive_problem, raise_if_any
from ..configuration import MMTConfig, MMTModalityMaskingConfig
from ..configuration.configuration_mmt_modality_masking import MASKING_EXPERT_TABLE
from ..data.mmt import load_mmt_features
from ..data.mmt_modality_masking import (
    SYNTHETIC_MASKING_EXPERTS,
    ModalityMaskingCollator,
    asr_text_from_captions,
    synthetic_masking_dataset,
)
from ..distributed import gather_with_grad
from ..metrics.video_retrieval.video_retrieval import retrieval_metrics_from_embeddings
from ..modeling.losses import max_margin_ranking_loss
from ..modeling.modeling_mmt import MMTModel
from ..modeling.modeling_mmt_modality_masking import sample_masked_modality
from ..processors import MMTProcessor
from ..processors.processing_mmt import train_wordpiece_vocab
from ..recipes import EvaluationArguments, Recipe, checked_checkpoint, load_checkpoint, run_evaluation
from ..training import TrainerArguments, fit, processor_for_resume
from .mmt import FeaturesDataArguments

LABEL_KEYS = ("concept",)


class ModalityMaskingTask:
    """At batch `current_step` (set by `fit`), the modality drawn from `(seed, current_step)` is masked on every
    process; query and video embeddings are all-gathered with gradients and the ranking loss runs over the clips of
    the global batch that carry the masked modality.

    Evaluation, for each modality mu: queries are Phi(mu) of the evaluation clips, the gallery is Psi(the same clips
    without mu); reports `<mu>_R1/R5/MedR` (the clip itself is the target) and, when the data has latent concepts,
    `<mu>_concept_R1` (the top clip shares the query's concept), plus their mean over modalities.
    """

    def __init__(
        self, schedule: dict[str, float], seed: int = 0, margin: float = 0.05, renormalize_over_present: bool = True
    ):
        self.schedule = schedule
        self.seed = seed
        self.margin = margin
        self.renormalize = renormalize_over_present
        self.current_step = 0

    def similarity(self, query_embeds, query_weights, video_embeds, availability) -> torch.Tensor:
        return MMTModel.compute_similarity(query_embeds, query_weights, video_embeds, availability, self.renormalize)

    def training_loss(self, model, batch: dict) -> torch.Tensor:
        masked = sample_masked_modality(self.schedule, self.seed, self.current_step)
        inputs = {k: v for k, v in batch.items() if k not in LABEL_KEYS}
        out = model(**inputs, masked_modality=masked)
        valid = gather_with_grad(out.query_valid.to(out.query_embeds.dtype)).bool()
        if int(valid.sum()) < 2:
            raise ValueError(
                f"step {self.current_step}: fewer than two clips of the global batch carry the masked modality "
                f"{masked!r}"
            )
        similarity = self.similarity(
            gather_with_grad(out.query_embeds)[valid],
            gather_with_grad(out.query_weights)[valid],
            gather_with_grad(out.video_embeds)[valid],
            gather_with_grad(out.video_availability)[valid],
        )
        return max_margin_ranking_loss(similarity, self.margin)

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        unwrapped = accelerator.unwrap_model(model)
        metrics: dict[str, float] = {}
        for masked in self.schedule:
            parts: dict[str, list] = {}
            for batch in dataloader:
                inputs = {k: v for k, v in batch.items() if k not in LABEL_KEYS}
                out = unwrapped(**inputs, masked_modality=masked)
                local = {
                    "query_embeds": out.query_embeds,
                    "query_weights": out.query_weights,
                    "video_embeds": out.video_embeds,
                    "video_availability": out.video_availability,
                    "valid": out.query_valid,
                    "concept": batch.get("concept", torch.full_like(out.query_valid, -1, dtype=torch.long)),
                }
                for key, value in accelerator.gather_for_metrics(local).items():
                    parts.setdefault(key, []).append(value.cpu())
            encoded = {key: torch.cat(values) for key, values in parts.items()}
            valid = encoded["valid"].bool()
            queries, weights = encoded["query_embeds"][valid].float(), encoded["query_weights"][valid].float()
            videos, availability = encoded["video_embeds"].float(), encoded["video_availability"].float()

            def similarity(q, v, queries=queries, weights=weights, videos=videos, availability=availability):
                return self.similarity(queries[q], weights[q], videos[v], availability[v])

            targets = torch.arange(len(valid))[valid]
            # ranks block by block, never the whole matrix (docs/retrieval_at_scale.md)
            result = retrieval_metrics_from_embeddings(queries, videos, targets, similarity=similarity)
            metrics.update(
                {
                    f"{masked}_R1": result["t2v_R1"],
                    f"{masked}_R5": result["t2v_R5"],
                    f"{masked}_MedR": result["t2v_MedR"],
                }
            )
            concepts = encoded["concept"]
            if (concepts >= 0).all():
                all_videos, rows = torch.arange(len(videos)), max(1, (1 << 24) // max(len(videos), 1))
                top = torch.cat(
                    [similarity(q, all_videos).argmax(dim=1) for q in torch.arange(len(queries)).split(rows)]
                )
                metrics[f"{masked}_concept_R1"] = 100.0 * (concepts[top] == concepts[valid]).float().mean().item()
        for suffix in ("R1", "concept_R1"):
            values = [metrics[f"{m}_{suffix}"] for m in self.schedule if f"{m}_{suffix}" in metrics]
            if values:
                metrics[f"mean_{suffix}"] = sum(values) / len(values)
        return metrics


# ------------------------------------------------------------------------------------------------------ recipe
@dataclass
class MaskingArguments(FeaturesDataArguments):
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "A modality-masking checkpoint to continue from (train) or to evaluate."}
    )
    num_train_clips: int = 3000
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


def argument_problems(args: MaskingArguments) -> list[str | None]:
    """What is wrong with these arguments, found before anything is loaded."""
    found = [
        *args.problems(),
        positive_problem("--num_train_clips", args.num_train_clips),
        positive_problem("--asr_query_tokens", args.asr_query_tokens),
        positive_problem("--clip_duration", args.clip_duration),
        positive_problem("--max_rgb_tokens", args.max_rgb_tokens),
        positive_problem("--max_audio_tokens", args.max_audio_tokens),
        positive_problem("--max_asr_tokens", args.max_asr_tokens),
    ]
    for flag, value in (
        ("--mask_probability_asr", args.mask_probability_asr),
        ("--mask_fraction", args.mask_fraction),
    ):
        if not 0.0 <= value <= 1.0:
            found.append(f"{flag} must be in [0, 1] (got {value})")
    return found


def load_splits(args: MaskingArguments, sizes: dict[str, int]) -> datasets.DatasetDict:
    if args.dataset_name == "synthetic":
        splits = synthetic_masking_dataset(num_train_clips=args.num_train_clips, seed=args.synthetic_seed)
        splits = datasets.DatasetDict(train=splits["train"], test=splits["test"])
    elif args.dataset_name == "features":
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
    video_sizes = dict(expert_names=experts, expert_feature_sizes=sizes, expert_type_ids=type_ids)
    if args.model_size == "small":  # the synthetic task's model
        small = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=2, intermediate_size=256)
        text = BertConfig(vocab_size=vocab_size, max_position_embeddings=64, **small)
        video = MMTConfig(text_config=text, **video_sizes, **small)
        layers, heads = 2, 2
    else:
        video = MMTConfig(text_config=dict(vocab_size=vocab_size), **video_sizes)
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


def _task(config: MMTModalityMaskingConfig, seed: int = 0) -> ModalityMaskingTask:
    return ModalityMaskingTask(
        config.schedule,
        seed=seed,
        margin=config.ranking_margin,
        renormalize_over_present=config.renormalize_over_present,
    )


def train(args: MaskingArguments, training_args: TrainerArguments) -> dict[str, float]:
    raise_if_any([*training_args.problems(), *argument_problems(args)])
    set_seed(training_args.seed)
    if args.model_name_or_path:
        model, processor = load_checkpoint(args.model_name_or_path, ("mmt_modality_masking",))
        splits = load_splits(args, dict(model.config.video_config.expert_feature_sizes))
    else:
        sizes = (
            SYNTHETIC_MASKING_EXPERTS
            if args.dataset_name == "synthetic"
            else {k: v[0] for k, v in MASKING_EXPERT_TABLE.items()}
        )
        splits = load_splits(args, sizes)
        model, processor = build_model_and_processor(args, splits, sizes)
    processor = processor_for_resume(training_args, processor)
    queries = model.config.asr_query_tokens
    return fit(
        model,
        _task(model.config, training_args.seed),
        splits["train"],
        training_args,
        collate_fn=ModalityMaskingCollator(processor, True, queries, args.clip_duration),
        eval_dataset=splits["test"],
        eval_collate_fn=ModalityMaskingCollator(processor, False, queries, args.clip_duration),
        processor=processor,
        hparams=vars(args),
    )


def evaluate(args: MaskingArguments, eval_args: EvaluationArguments) -> dict[str, float]:
    problems = [*eval_args.problems(), *argument_problems(args)]
    model, processor = checked_checkpoint(args.model_name_or_path, ("mmt_modality_masking",), problems)
    split = load_splits(args, dict(model.config.video_config.expert_feature_sizes))["test"]
    collator = ModalityMaskingCollator(processor, False, model.config.asr_query_tokens, args.clip_duration)

    def report(metrics: dict[str, float], output_dir: Path) -> None:
        for name, value in metrics.items():
            print(f"{name:20s} {value:.2f}")

    return run_evaluation(model, _task(model.config), split, collator, eval_args, args.model_name_or_path, report)


RECIPE = Recipe(
    train_arguments=(MaskingArguments,),
    train=train,
    evaluate_arguments=(MaskingArguments, EvaluationArguments),
    evaluate=evaluate,
)


def benchmark_workload(config=None, variant=None):
    """`scripts/benchmark.py` workload: pre-training at the paper's sizes (Psi: MMT 4x4, 512 wide, over RGB 30 +
    audio 30 + ASR 128 tokens; Phi_text: BERT-base over 32 ASR wordpieces; batch 1,200 over 8 GPUs, i.e. 150 per
    device; Gabeur et al. 2022 Sec. 4) with `--variant` the masked modality (asr, s3d or vggish)."""
    from ..benchmarking import Workload
    from ..configuration import MMTModalityMaskingConfig
    from ..modeling import MMTForModalityMaskingPretraining

    paper = config is None
    config = config or MMTModalityMaskingConfig()
    video = config.video_config
    budgets = {"s3d": 30, "vggish": 30, "asr": 128} if paper else {}
    masked = variant or ("asr" if "asr" in video.expert_names else video.expert_names[0])
    if masked not in video.expert_names:
        raise ValueError(f"--variant {masked!r} is not one of the experts {list(video.expert_names)}")
    query_tokens = 32 if paper else 6

    def make_inputs(batch, generator):
        inputs = {"expert_features": {}, "expert_times": {}, "expert_attention_mask": {}, "expert_pooled": {}}
        for name in video.expert_names:
            size, tokens = video.expert_feature_sizes[name], budgets.get(name, 5)
            inputs["expert_features"][name] = torch.randn(batch, tokens, size, generator=generator)
            times = torch.arange(tokens).float() * min(30, tokens) / tokens + 2
            inputs["expert_times"][name] = times.expand(batch, -1)
            inputs["expert_attention_mask"][name] = torch.ones(batch, tokens, dtype=torch.long)
            inputs["expert_pooled"][name] = torch.randn(batch, size, generator=generator)
        vocab = video.text_config.vocab_size
        inputs["asr_query_ids"] = torch.randint(
            min(1000, vocab - 1), vocab, (batch, query_tokens), generator=generator
        )
        inputs["asr_query_attention_mask"] = torch.ones(batch, query_tokens, dtype=torch.long)
        return inputs

    return Workload(
        description=f"masked {masked}; tokens {budgets or 5} per expert, {query_tokens} ASR query wordpieces",
        build_model=lambda: MMTForModalityMaskingPretraining(config),
        make_inputs=make_inputs,
        loss=lambda model, inputs: model(**inputs, masked_modality=masked, return_loss=True).loss,
        paper_batch_size=150,
        cpu_batch_size=16,
        learning_rate=1e-4,
        extra={"variants": tuple(video.expert_names)},
    )
