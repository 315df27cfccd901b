"""Modality-masking pre-training task for `videozoo.training.fit`."""

import torch
from accelerate import Accelerator

from ..distributed import gather_with_grad
from ..metrics.video_retrieval.video_retrieval import retrieval_metrics_from_embeddings
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
