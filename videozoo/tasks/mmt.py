"""The MMT retrieval task for `videozoo.training.fit`: ranking loss over the global batch, retrieval metrics."""

import torch
from accelerate import Accelerator

from ..distributed import gather_with_grad
from ..metrics.video_retrieval.video_retrieval import retrieval_metrics
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
    `videozoo/metrics/video_retrieval` (text->video and video->text, ties averaged, several captions per video).
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

    def evaluate(self, model, dataloader, accelerator: Accelerator) -> dict[str, float]:
        encoded = self.embed(model, dataloader, accelerator)
        keep = encoded["caption_mask"].bool().reshape(-1)
        num_videos, captions = encoded["caption_mask"].shape
        text_embeds = encoded["text_embeds"].flatten(0, 1)[keep]
        text_weights = encoded["text_weights"].flatten(0, 1)[keep]
        caption_to_video = torch.arange(num_videos).repeat_interleave(captions)[keep]
        similarity = self.similarity(text_embeds, text_weights, encoded["video_embeds"], encoded["video_availability"])
        return retrieval_metrics(similarity, caption_to_video)


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
