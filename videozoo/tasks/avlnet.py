"""The AVLnet retrieval task for `videozoo.training.fit`: MMS loss over the global batch, retrieval metrics."""

import torch
from accelerate import Accelerator

from ..distributed import gather_with_grad
from ..metrics.video_retrieval.video_retrieval import retrieval_metrics_from_embeddings
from ..modeling.losses import mms_loss


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
