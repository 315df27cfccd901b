"""The Everything-at-Once task for `videozoo.training.fit`: combinatorial loss over the global batch, zero-shot
retrieval from text to video, audio and their fusion."""

import torch
from accelerate import Accelerator

from ..distributed import gather_with_grad
from ..metrics.video_retrieval.video_retrieval import retrieval_metrics_from_embeddings
from ..modeling.modeling_everything_at_once import combinatorial_loss

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
