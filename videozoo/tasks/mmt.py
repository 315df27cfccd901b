"""The MMT retrieval task for `videozoo.training.fit`: ranking loss over the global batch, retrieval metrics."""

import torch
from accelerate import Accelerator

from ..distributed import gather_with_grad
from ..metrics.video_retrieval.video_retrieval import retrieval_metrics_from_embeddings
from ..modeling.losses import max_margin_ranking_loss
from ..modeling.modeling_mmt import MMTModel

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
