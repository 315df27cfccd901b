"""Modality-masking pre-training of the MMT video encoder (Gabeur, Nagrani, Sun, Alahari, Schmid; "Masking
Modalities for Cross-modal Video Retrieval", WACV 2022, arXiv:2111.01300).

At every step one whole modality mu (ASR, RGB or audio, drawn with the paper's schedule: p = 0.8 for ASR) is hidden
from the video encoder Psi, an MMT over the three modalities, and becomes the query: the ASR through Phi_text (BERT +
one gated embedding unit per Psi slot + mixture weights, i.e. exactly the MMT caption side, which fine-tuning then
reuses for captions), RGB or audio through Phi_av (a temporal-free MMT over the masked modality). The bidirectional
max-margin ranking loss asks Psi(other two modalities) to be closest to Phi(mu) of the same clip. Psi and Phi_text
are the `MMTModel` held in `self.mmt`, so `MMTModel.from_pretrained(<this checkpoint>)` starts fine-tuning from them.

The authors released no code; the decisions left open by the papers (WACV 2022 and the thesis ch. 4), as taken here:
- Phi_av turns the masked modality into the three per-slot query embeddings through its [AGG] output, then one
  gated embedding unit per Psi slot and a softmax mixture (mirroring Phi_text); one Phi_av serves RGB and audio,
  told apart by the expert-type embedding, with no temporal embedding at all (`temporal_encoding="none"`);
- the masked slot is not scored: the mixture weights are renormalised over the modalities present in Psi's input
  (`renormalize_over_present=True`); fine-tuning then follows the MMT default;
- clips that lack the masked modality are left out of that step's loss (a batch where none has it is an error);
- masking is per batch and identical on every process (the schedule is drawn from (seed, step)), and the ranking
  loss sees the global batch (embeddings all-gathered with gradients);
- partial masking (`mask_fraction` < 1) hides a random subset of the masked modality's tokens from Psi and gives
  only those to the query encoder; it is implemented for RGB and audio (Phi_av), not for the ASR query.
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers.models.bert.modeling_bert import BertSelfAttention
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ..configuration.configuration_mmt import MMTConfig
from ..configuration.configuration_mmt_modality_masking import MMTModalityMaskingConfig
from ..processors.validation import check_ids
from .layers.attention import returns_attentions
from .layers.gating import GatedEmbeddingUnit
from .layers.pooling import masked_max, masked_mean
from .losses import max_margin_ranking_loss
from .modeling_mmt import (
    MMTModel,
    MMTPreTrainedModel,
    MMTReduceDim,
    MMTVideoEncoder,
    encode_experts,
)


@dataclass
class MMTModalityMaskingOutput(ModelOutput):
    r"""
    loss (`torch.Tensor` of shape `()`, *optional*): ranking loss over the clips that carry the masked modality.
    logits (`torch.Tensor` of shape `(batch, batch)`): s(Phi(mu of clip i), Psi(clip j without mu)).
    query_embeds (`torch.Tensor` of shape `(batch, num_experts, hidden_size)`): Phi(mu), one embedding per Psi slot.
    query_weights (`torch.Tensor` of shape `(batch, num_experts)`): the query's mixture weights.
    video_embeds (`torch.Tensor` of shape `(batch, num_experts, hidden_size)`): Psi of the clip without mu.
    video_availability (`torch.Tensor` of shape `(batch, num_experts)`): 1 where Psi's input has the modality.
    query_valid (`torch.Tensor` of shape `(batch,)`): True for clips that carry the masked modality.
    attentions (with `output_attentions=True`): the `(batch, heads, tokens, tokens)` self-attention weights of every
        BERT layer that ran (Psi, then the query encoder), in call order.
    """

    loss: torch.Tensor | None = None
    logits: torch.Tensor | None = None
    query_embeds: torch.Tensor | None = None
    query_weights: torch.Tensor | None = None
    video_embeds: torch.Tensor | None = None
    video_availability: torch.Tensor | None = None
    query_valid: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


def sample_masked_modality(schedule: dict[str, float], seed: int, step: int) -> str:
    """The modality masked at `step`: a draw from `schedule` that every process makes identically."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + step)
    names = list(schedule)
    index = torch.multinomial(torch.tensor([schedule[n] for n in names], dtype=torch.float64), 1, generator=generator)
    return names[int(index)]


def _single_expert_config(video: MMTConfig, name: str, layers: int, heads: int) -> MMTConfig:
    return MMTConfig(
        text_config=video.text_config,
        expert_names=[name],
        expert_feature_sizes={name: video.expert_feature_sizes[name]},
        expert_type_ids={name: video.expert_type_ids[name]},
        hidden_size=video.hidden_size,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=video.intermediate_size,
        hidden_act=video.hidden_act,
        hidden_dropout_prob=video.hidden_dropout_prob,
        attention_probs_dropout_prob=video.attention_probs_dropout_prob,
        max_temporal_positions=video.max_temporal_positions,
        type_vocab_size=video.type_vocab_size,
        layer_norm_eps=video.layer_norm_eps,
        temporal_encoding="none",  # the query MMT sees no time: aligning silences would make the task trivial
        agg_init=video.agg_init,
    )


class MMTQueryAVEncoder(nn.Module):
    """Phi_av: a temporal-free MMT over the masked RGB or audio features; its [AGG] output -> per-slot gated units."""

    def __init__(self, config: MMTModalityMaskingConfig):
        super().__init__()
        video = config.video_config
        self.av_experts = [name for name in video.expert_names if name != config.asr_modality]
        self.slots = list(video.expert_names)
        self.expert_configs = {
            name: _single_expert_config(
                video, name, config.query_av_num_hidden_layers, config.query_av_num_attention_heads
            )
            for name in self.av_experts
        }
        encoder_config = next(iter(self.expert_configs.values()))
        encoder_config._attn_implementation = config._attn_implementation
        self.video_model = MMTVideoEncoder(encoder_config)
        self.expert_projections = nn.ModuleDict(
            {name: MMTReduceDim(video.expert_feature_sizes[name], video.hidden_size) for name in self.av_experts}
        )
        use_bn = video.text_projection == "gated_bn"
        self.heads = nn.ModuleDict(
            {
                name: GatedEmbeddingUnit(video.hidden_size, video.hidden_size, use_batch_norm=use_bn)
                for name in self.slots
            }
        )
        self.mixture = nn.Linear(video.hidden_size, len(self.slots))
        self.dropout = nn.Dropout(video.hidden_dropout_prob)

    def forward(self, name: str, features, times, mask, pooled) -> tuple[torch.Tensor, torch.Tensor]:
        embeds, _ = encode_experts(
            self.expert_configs[name],
            self.video_model,
            self.expert_projections,
            {name: features},
            {name: times},
            {name: mask},
            {name: pooled},
        )
        agg = embeds[:, 0]  # (batch, hidden)
        query = torch.stack([self.heads[slot](agg) for slot in self.slots], dim=1)
        weights = torch.softmax(self.mixture(self.dropout(agg)), dim=-1)
        return query, weights


class MMTModalityMaskingPreTrainedModel(MMTPreTrainedModel):
    """MMT's base (weight initialisation, attention switching) with this config and its inputs."""

    config: MMTModalityMaskingConfig
    config_class = MMTModalityMaskingConfig
    main_input_name = "expert_features"
    input_modalities = ("video", "audio", "text")


class MMTForModalityMaskingPretraining(MMTModalityMaskingPreTrainedModel):
    """Psi + Phi_text (`self.mmt`, an `MMTModel`) and Phi_av (`self.query_av`).

    Inputs are those of `MMTModel` for the three modalities, plus the ASR query: `asr_query_ids` /
    `asr_query_attention_mask` `(batch, length)`, wordpiece ids of consecutive ASR words with [CLS] and [SEP] (a clip
    without speech gives an all-zero mask). `masked_modality` names the modality hidden at this step; without it, one
    is drawn from the schedule with torch's global generator (training passes it, so every process agrees).
    """

    def __init__(self, config: MMTModalityMaskingConfig):
        super().__init__(config)
        self.mmt = MMTModel(config.video_config)
        self.query_av = MMTQueryAVEncoder(config)
        self.post_init()

    def _hide(self, name: str, features: dict, times: dict, mask: dict, pooled: dict) -> tuple[dict, dict]:
        """Split the masked modality into Psi's share and the query's share."""
        hidden = mask[name].bool()
        if self.config.mask_fraction < 1.0:
            count = mask[name].sum(dim=1, keepdim=True)
            scores = torch.rand(mask[name].shape, device=hidden.device).masked_fill(~hidden, 2.0)
            order = scores.argsort(dim=1).argsort(dim=1)
            hidden = hidden & (order < torch.ceil(count * self.config.mask_fraction))
        visible = mask[name].bool() & ~hidden
        psi = {
            key: dict(values)
            for key, values in (("features", features), ("times", times), ("mask", mask), ("pooled", pooled))
        }
        if self.config.mask_fraction < 1.0:
            psi["mask"][name] = visible.long()
            psi["pooled"][name] = self._pool(features[name], visible)
            query = (features[name], times[name], hidden.long(), self._pool(features[name], hidden))
        else:  # the whole modality: no token at all in Psi
            empty = features[name][:, :0]
            psi["features"][name], psi["times"][name], psi["mask"][name] = empty, times[name][:, :0], mask[name][:, :0]
            psi["pooled"][name] = torch.zeros_like(pooled[name])
            query = (features[name], times[name], mask[name], pooled[name])
        return psi, query

    def _pool(self, features: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        pool = masked_max if self.config.video_config.agg_init == "max" else masked_mean
        return pool(features, keep)

    @can_return_tuple
    @returns_attentions(also=(BertSelfAttention,), attentions=lambda name: True)
    def forward(
        self,
        expert_features: dict[str, torch.Tensor],
        expert_times: dict[str, torch.Tensor],
        expert_attention_mask: dict[str, torch.Tensor],
        expert_pooled: dict[str, torch.Tensor],
        asr_query_ids: torch.Tensor | None = None,
        asr_query_attention_mask: torch.Tensor | None = None,
        masked_modality: str | None = None,
        return_loss: bool = False,
        **kwargs,
    ) -> MMTModalityMaskingOutput:
        experts = list(self.config.video_config.expert_names)
        if asr_query_ids is not None:
            check_ids("asr_query_ids", asr_query_ids, self.mmt.text_model.config.vocab_size)
        if masked_modality is None:
            schedule = self.config.schedule
            masked_modality = experts[int(torch.multinomial(torch.tensor([schedule[n] for n in experts]), 1))]
        if masked_modality not in experts:
            raise ValueError(f"masked_modality {masked_modality!r} is not one of the experts {experts}")
        missing = [name for name in experts if name not in expert_features]
        if missing:
            raise ValueError(f"expert_features has no {missing}: modality masking needs every modality {experts}")
        psi, query = self._hide(masked_modality, expert_features, expert_times, expert_attention_mask, expert_pooled)
        video_embeds, availability = self.mmt.get_video_features(
            psi["features"], psi["times"], psi["mask"], psi["pooled"]
        )

        if masked_modality == self.config.asr_modality:
            if self.config.mask_fraction < 1.0:
                raise NotImplementedError(
                    "partial masking (mask_fraction < 1) is implemented for RGB and audio queries only"
                )
            if asr_query_ids is None or asr_query_attention_mask is None:
                raise ValueError("masking the ASR needs asr_query_ids and asr_query_attention_mask (its query input)")
            valid = asr_query_attention_mask.bool().any(dim=1)
            safe_mask = asr_query_attention_mask.clone()
            safe_mask[~valid, 0] = 1  # clips without speech are encoded from [CLS] alone, then left out of the loss
            query_embeds, query_weights = self.mmt.get_text_features(asr_query_ids, safe_mask)
        else:
            features, times, mask, pooled = query
            valid = mask.bool().any(dim=1)
            query_embeds, query_weights = self.query_av(masked_modality, features, times, mask, pooled)

        logits = MMTModel.compute_similarity(
            query_embeds, query_weights, video_embeds, availability, self.config.renormalize_over_present
        )
        loss = None
        if return_loss:
            keep = valid.nonzero().squeeze(1)
            if keep.numel() < 2:
                raise ValueError(
                    f"only {keep.numel()} clip(s) of the batch carry the masked modality {masked_modality!r}; "
                    "the ranking loss needs at least two"
                )
            loss = max_margin_ranking_loss(logits[keep][:, keep], self.config.ranking_margin)
        return MMTModalityMaskingOutput(
            loss=loss,
            logits=logits,
            query_embeds=query_embeds,
            query_weights=query_weights,
            video_embeds=video_embeds,
            video_availability=availability,
            query_valid=valid,
        )


__all__ = [
    "MMTForModalityMaskingPretraining",
    "MMTModalityMaskingPreTrainedModel",
    "MMTModalityMaskingOutput",
    "sample_masked_modality",
]
