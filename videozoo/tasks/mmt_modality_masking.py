"""Modality-masking pre-training task for `videozoo.training.fit`."""

import torch
from accelerate import Accelerator

from ..distributed import gather_with_grad
from ..metrics.video_retrieval.video_retrieval import retrieval_metrics
from ..modeling.losses import max_margin_ranking_loss
from ..modeling.modeling_mmt import MMTModel
from ..modeling.modeling_mmt_modality_masking import sample_masked_modality

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
            similarity = self.similarity(
                encoded["query_embeds"][valid].float(),
                encoded["query_weights"][valid].float(),
                encoded["video_embeds"].float(),
                encoded["video_availability"].float(),
            )
            targets = torch.arange(len(valid))[valid]
            result = retrieval_metrics(similarity, targets)
            metrics.update(
                {
                    f"{masked}_R1": result["t2v_R1"],
                    f"{masked}_R5": result["t2v_R5"],
                    f"{masked}_MedR": result["t2v_MedR"],
                }
            )
            concepts = encoded["concept"]
            if (concepts >= 0).all():
                top = similarity.argmax(dim=1)
                metrics[f"{masked}_concept_R1"] = 100.0 * (concepts[top] == concepts[valid]).float().mean().item()
        for suffix in ("R1", "concept_R1"):
            values = [metrics[f"{m}_{suffix}"] for m in self.schedule if f"{m}_{suffix}" in metrics]
            if values:
                metrics[f"mean_{suffix}"] = sum(values) / len(values)
        return metrics


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
