"""MMT: Multi-modal Transformer for video retrieval (Gabeur, Sun, Alahari, Schmid; ECCV 2020, arXiv:2007.10639).

Ported from github.com/gabeur/mmt at 8f537174588d882eca1a55ec42ed91d03661b12b. A dual encoder: captions go through
BERT and one gated embedding unit per video expert (plus softmax mixture weights); videos go through a
transformer over pre-extracted expert features with [AGG] tokens; the similarity is the mixture-weighted sum of
per-expert cosines, so both sides can be encoded once and searched by matrix products.

Decisions where the paper and the reference code differ, all following the code so that converted
checkpoints give the authors' numbers:
- the [AGG] input is the expert's Linear + L2 norm applied to the pooled *raw* features of the whole clip
  (pooling done by the processor); a missing expert's [AGG] input is therefore `normalize(bias)`, not zero;
- every video feature is projected by Linear + L2 normalisation before the transformer (code only);
- missing experts are masked in attention but stay in the similarity (`renormalize_missing_modalities=False`,
  as every published config); the renormalising variant is a config switch;
- the ranking loss is the mean over the 2B(B-1) hinge terms (code), i.e. the paper's value / (2(B-1));
- the video [CLS] token is kept (temporal id 0, expert row 0) so token indices and weights line up; its output,
  like both BERT poolers, is unused (the towers are built without poolers);
- temporal ids are `clamp(time_code, 0, max_temporal_positions - 1)` truncated to integers, so late features of
  long videos share the last id (reference behaviour).
Other differences: attention runs through the transformers attention interface (SDPA by default) with a
dtype-minimum key mask instead of -10000 (numerically the same); `forward` never modifies its inputs.
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import AutoModel, BertConfig, PreTrainedModel
from transformers import initialization as init
from transformers.models.bert.modeling_bert import BertEncoder, BertSelfAttention
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ..configuration.configuration_mmt import MMTConfig
from ..processors.validation import check_finite, check_float_features, check_ids
from .layers.attention import attentions_by_prefix, returns_attentions
from .layers.gating import GatedEmbeddingUnit
from .layers.masks import padding_mask_to_additive
from .layers.pooling import masked_max, masked_mean
from .loading import CheckedLoadingMixin
from .losses import max_margin_ranking_loss


@dataclass
class MMTOutput(ModelOutput):
    r"""
    loss (`torch.Tensor` of shape `()`, *optional*):
        Bidirectional max-margin ranking loss, returned when `return_loss=True`.
    logits_per_text (`torch.Tensor` of shape `(num_captions, num_videos)`):
        Similarity s(v_j, c_i) of every caption (rows) with every video (columns).
    logits_per_video (`torch.Tensor` of shape `(num_videos, num_captions)`):
        The transpose of `logits_per_text`.
    text_embeds (`torch.Tensor` of shape `(num_captions, num_experts, hidden_size)`):
        L2-normalised caption embedding in each expert's space.
    text_weights (`torch.Tensor` of shape `(num_captions, num_experts)`):
        Mixture weights w(c), summing to 1 over experts.
    video_embeds (`torch.Tensor` of shape `(num_videos, num_experts, hidden_size)`):
        L2-normalised outputs of the [AGG] tokens.
    video_availability (`torch.Tensor` of shape `(num_videos, num_experts)`):
        1 where the expert has at least one real feature.
    text_attentions, video_attentions (with `output_attentions=True`): per layer, the `(batch, heads, tokens,
        tokens)` self-attention weights of the caption encoder and of the video encoder.
    """

    loss: torch.Tensor | None = None
    logits_per_text: torch.Tensor | None = None
    logits_per_video: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    text_weights: torch.Tensor | None = None
    video_embeds: torch.Tensor | None = None
    video_availability: torch.Tensor | None = None
    text_attentions: tuple[torch.Tensor, ...] | None = None
    video_attentions: tuple[torch.Tensor, ...] | None = None


def init_expert_projection(module: nn.Module) -> bool:
    """PyTorch's default Linear init for expert projections, as the reference; returns whether `module` is one.

    With transformers' zero bias, the [AGG] input of a missing expert, normalize(bias), would be normalize(0), whose
    gradient explodes.
    """
    if not getattr(module, "uses_torch_default_init", False):
        return False
    bound = 1 / math.sqrt(module.in_features)
    init.uniform_(module.weight, -bound, bound)
    init.uniform_(module.bias, -bound, bound)
    return True


class MMTReduceDim(nn.Module):
    """Linear projection followed by L2 normalisation (reference `ReduceDim`)."""

    def __init__(self, input_dim: int, output_dim: int):
        super().__init__()
        self.fc = nn.Linear(input_dim, output_dim)
        self.fc.uses_torch_default_init = True

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.fc(hidden), dim=-1)


class MMTVideoEmbeddings(nn.Module):
    """Omega(v) = LayerNorm(F(v) + T(v) + E(v)) then dropout; there is no word table (THESIS eq. 3.1-3.4)."""

    def __init__(self, config: MMTConfig):
        super().__init__()
        self.use_temporal = config.temporal_encoding != "none"
        self.temporal_embeddings = (
            nn.Embedding(config.max_temporal_positions, config.hidden_size) if self.use_temporal else None
        )
        self.expert_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, features: torch.Tensor, temporal_ids: torch.Tensor, expert_ids: torch.Tensor) -> torch.Tensor:
        embeddings = features + self.expert_embeddings(expert_ids)
        if self.use_temporal:
            embeddings = embeddings + self.temporal_embeddings(temporal_ids)
        return self.dropout(self.LayerNorm(embeddings))


class MMTVideoEncoder(nn.Module):
    """Embeddings + a post-LN BERT encoder over the [CLS], [AGG] and feature tokens."""

    def __init__(self, config: MMTConfig):
        super().__init__()
        encoder_config = BertConfig(
            hidden_size=config.hidden_size,
            num_hidden_layers=config.num_hidden_layers,
            num_attention_heads=config.num_attention_heads,
            intermediate_size=config.intermediate_size,
            hidden_act=config.hidden_act,
            hidden_dropout_prob=config.hidden_dropout_prob,
            attention_probs_dropout_prob=config.attention_probs_dropout_prob,
            layer_norm_eps=config.layer_norm_eps,
        )
        encoder_config._attn_implementation = config._attn_implementation
        self.embeddings = MMTVideoEmbeddings(config)
        self.encoder = BertEncoder(encoder_config)

    def forward(
        self,
        features: torch.Tensor,
        temporal_ids: torch.Tensor,
        expert_ids: torch.Tensor,
        attention_mask: torch.Tensor,
    ) -> torch.Tensor:
        hidden = self.embeddings(features, temporal_ids, expert_ids)
        bias = padding_mask_to_additive(attention_mask, hidden.dtype)
        return self.encoder(hidden, attention_mask=bias).last_hidden_state


def follow_attn_implementation(model: PreTrainedModel) -> None:
    """Give the private BERT configs of `model`'s video encoders the model's attention implementation (transformers'
    `set_attn_implementation` only reaches the configs of `PreTrainedModel` submodules and declared sub-configs)."""
    for module in model.modules():
        if isinstance(module, MMTVideoEncoder):
            module.encoder.config._attn_implementation = model.config._attn_implementation


def _check_experts(expert_names: list[str], **dicts: dict[str, torch.Tensor] | None) -> int:
    expected = set(expert_names)
    batch = None
    for arg, values in dicts.items():
        if values is None:
            raise ValueError(f"{arg} is required: a dict with one tensor per expert {expert_names}")
        missing, unknown = expected - set(values), set(values) - expected
        if missing or unknown:
            raise ValueError(
                f"{arg} must have exactly the experts {expert_names}: missing {sorted(missing)}, "
                f"unknown {sorted(unknown)} (give a missing expert with an all-zero mask)"
            )
        for name, tensor in values.items():
            batch = tensor.shape[0] if batch is None else batch
            if tensor.shape[0] != batch:
                raise ValueError(f"{arg}[{name!r}] has batch size {tensor.shape[0]}, other inputs have {batch}")
    return batch


def temporal_ids(times: torch.Tensor, encoding: str, max_temporal: int) -> torch.Tensor:
    """Temporal-table rows of feature tokens from their time codes (see `MMTConfig.temporal_encoding`)."""
    if encoding == "seconds":
        return times.clamp(0, max_temporal - 1).long()
    if encoding == "order":
        order = torch.arange(1, times.shape[1] + 1, device=times.device)
        return order.clamp(max=max_temporal - 1).expand_as(times)
    return torch.ones_like(times, dtype=torch.long)  # "unknown", or "none" (table unused)


def encode_experts(
    config: MMTConfig,
    video_model: MMTVideoEncoder,
    expert_projections: nn.ModuleDict,
    expert_features: dict[str, torch.Tensor],
    expert_times: dict[str, torch.Tensor],
    expert_attention_mask: dict[str, torch.Tensor],
    expert_pooled: dict[str, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The MMT video side: builds the [CLS], [AGG] and feature tokens of `config.expert_names` (an expert may come
    with zero tokens), runs the video transformer, and returns the L2-normalised [AGG] outputs
    `(batch, experts, hidden)` and the availability `(batch, experts)`."""
    expert_names = list(config.expert_names)
    needs_pooled = config.agg_init != "zero"
    check = dict(
        expert_features=expert_features, expert_times=expert_times, expert_attention_mask=expert_attention_mask
    )
    if needs_pooled:
        check["expert_pooled"] = expert_pooled
    batch = _check_experts(expert_names, **check)
    first = expert_features[expert_names[0]]
    device, dtype = first.device, video_model.embeddings.LayerNorm.weight.dtype
    model_dtype = dtype
    hidden_size, max_temporal = config.hidden_size, config.max_temporal_positions

    # [CLS]: zero feature, temporal id 0, expert row 0, always attended.
    features = [torch.zeros(batch, 1, hidden_size, device=device, dtype=dtype)]
    temporal = [torch.zeros(batch, 1, dtype=torch.long, device=device)]
    expert_ids = [torch.zeros(batch, 1, dtype=torch.long, device=device)]
    masks = [torch.ones(batch, 1, dtype=torch.long, device=device)]
    agg_positions, availability = [], []
    for name in expert_names:
        tokens, times, mask = expert_features[name], expert_times[name], expert_attention_mask[name]
        size = config.expert_feature_sizes[name]
        check_float_features(f"expert_features[{name!r}]", tokens, check_values=False, model_dtype=model_dtype)
        check_float_features(f"expert_times[{name!r}]", times, check_values=False, model_dtype=model_dtype)
        if tokens.dim() != 3 or tokens.shape[-1] != size:
            raise ValueError(f"expert_features[{name!r}] must be (batch, tokens, {size}), got {tuple(tokens.shape)}")
        if mask.shape != tokens.shape[:2] or times.shape != tokens.shape[:2]:
            raise ValueError(
                f"expert {name!r}: mask {tuple(mask.shape)} and times {tuple(times.shape)} must match the features' "
                f"(batch, tokens) {tuple(tokens.shape[:2])}"
            )
        check_finite(f"expert_features[{name!r}]", tokens)
        check_finite(f"expert_times[{name!r}]", times)  # unknown timings are a code (1.0), never NaN
        projection = expert_projections[name]
        available = mask.bool().any(dim=1)
        if needs_pooled:
            pooled = expert_pooled[name]
            if pooled.shape != (batch, size):
                raise ValueError(f"expert_pooled[{name!r}] must be ({batch}, {size}), got {tuple(pooled.shape)}")
            check_float_features(f"expert_pooled[{name!r}]", pooled, model_dtype=model_dtype)
        else:
            pooled = tokens.new_zeros(batch, size)
        agg_positions.append(sum(t.shape[1] for t in features))
        availability.append(available)
        features.append(projection(pooled.to(dtype))[:, None])
        temporal.append(torch.zeros(batch, 1, dtype=torch.long, device=device))
        masks.append(available.long()[:, None])
        if config.use_feature_tokens:
            features.append(projection(tokens.to(dtype)))
            temporal.append(temporal_ids(times, config.temporal_encoding, max_temporal))
            masks.append(mask.long())
        count = 1 + (tokens.shape[1] if config.use_feature_tokens else 0)
        expert_ids.append(torch.full((batch, count), config.expert_type_ids[name], dtype=torch.long, device=device))

    hidden = video_model(
        torch.cat(features, dim=1), torch.cat(temporal, dim=1), torch.cat(expert_ids, dim=1), torch.cat(masks, dim=1)
    )
    video_embeds = F.normalize(hidden[:, agg_positions], dim=-1)
    return video_embeds, torch.stack(availability, dim=1).to(video_embeds.dtype)


class MMTPreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    config: MMTConfig
    base_model_prefix = "mmt"
    main_input_name = "input_ids"
    input_modalities = ("text", "video")
    supports_gradient_checkpointing = False
    _supports_sdpa = True
    _no_split_modules = ["BertLayer"]

    def _init_weights(self, module):
        if not init_expert_projection(module):
            super()._init_weights(module)

    def set_attn_implementation(self, attn_implementation):
        super().set_attn_implementation(attn_implementation)
        follow_attn_implementation(self)


class MMTModel(MMTPreTrainedModel):
    """MMT dual encoder. Inputs are token ids for captions and, per expert, padded feature tokens:

    - `expert_features[e]`: `(batch, tokens_e, feature_size_e)` raw features (zeros where padded);
    - `expert_times[e]`: `(batch, tokens_e)` time codes (centre seconds + 2; 1 = unknown time or padding);
    - `expert_attention_mask[e]`: `(batch, tokens_e)`, 1 at real features;
    - `expert_pooled[e]`: `(batch, feature_size_e)` max (or mean) over *all* raw features of the clip.

    The dicts' keys must be exactly `config.expert_names` (any order); an expert missing from a video is given
    with an all-zero mask. `MMTProcessor` produces all of these.
    """

    def __init__(self, config: MMTConfig):
        super().__init__(config)
        self.expert_names = list(config.expert_names)
        try:
            self.text_model = AutoModel.from_config(config.text_config, add_pooling_layer=False)
        except TypeError:  # a text tower without a pooler option
            self.text_model = AutoModel.from_config(config.text_config)
        text_hidden = config.text_config.hidden_size
        self.video_model = MMTVideoEncoder(config)
        self.expert_projections = nn.ModuleDict(
            {name: MMTReduceDim(config.expert_feature_sizes[name], config.hidden_size) for name in self.expert_names}
        )
        if config.text_projection == "linear":
            heads = {name: MMTReduceDim(text_hidden, config.hidden_size) for name in self.expert_names}
        else:
            use_bn = config.text_projection == "gated_bn"
            heads = {
                name: GatedEmbeddingUnit(text_hidden, config.hidden_size, use_batch_norm=use_bn)
                for name in self.expert_names
            }
        self.text_heads = nn.ModuleDict(heads)
        self.text_mixture = (
            nn.Linear(text_hidden, len(self.expert_names)) if config.text_weighting == "linear_softmax" else None
        )
        self.text_dropout = nn.Dropout(getattr(config.text_config, "hidden_dropout_prob", config.hidden_dropout_prob))
        self.post_init()

    # ------------------------------------------------------------------ caption side
    def get_text_features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Caption ids `(num_captions, length)` -> (embeddings `(num_captions, num_experts, hidden_size)`,
        mixture weights `(num_captions, num_experts)`)."""
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (num_captions, length), got shape {tuple(input_ids.shape)}")
        check_ids("input_ids", input_ids, self.text_model.config.vocab_size)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if attention_mask.shape != input_ids.shape:
            raise ValueError(
                f"attention_mask {tuple(attention_mask.shape)} does not match input_ids {tuple(input_ids.shape)}"
            )
        if not attention_mask.bool().any(dim=1).all():
            raise ValueError("a caption is empty: its attention_mask row has no token")
        hidden = self.text_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        if self.config.text_pooling == "cls":
            caption = hidden[:, 0]
        else:
            pool = masked_max if self.config.text_pooling == "max" else masked_mean
            caption = pool(hidden[:, 1:], attention_mask[:, 1:])
        embeds = torch.stack([self.text_heads[name](caption) for name in self.expert_names], dim=1)
        if self.text_mixture is None:
            weights = caption.new_full((caption.shape[0], len(self.expert_names)), 1.0 / len(self.expert_names))
        else:
            weights = torch.softmax(self.text_mixture(self.text_dropout(caption)), dim=-1)
        return F.normalize(embeds, dim=-1), weights

    # ------------------------------------------------------------------ video side
    def get_video_features(
        self,
        expert_features: dict[str, torch.Tensor],
        expert_times: dict[str, torch.Tensor],
        expert_attention_mask: dict[str, torch.Tensor],
        expert_pooled: dict[str, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Expert features -> (embeddings `(num_videos, num_experts, hidden_size)`, availability
        `(num_videos, num_experts)`)."""
        return encode_experts(
            self.config,
            self.video_model,
            self.expert_projections,
            expert_features,
            expert_times,
            expert_attention_mask,
            expert_pooled,
        )

    # ------------------------------------------------------------------ similarity
    @staticmethod
    def compute_similarity(
        text_embeds: torch.Tensor,
        text_weights: torch.Tensor,
        video_embeds: torch.Tensor,
        video_availability: torch.Tensor | None = None,
        renormalize_missing_modalities: bool = False,
    ) -> torch.Tensor:
        """s_ij = sum_e W_ij,e <phi_i,e, psi_j,e>: `(captions, experts, d)` x `(videos, experts, d)` ->
        `(captions, videos)`.

        Without renormalisation W = w(c) and the whole matrix is one matrix product. With it, the weights of
        experts missing from video j are zeroed and the rest renormalised per pair (all missing gives 0).
        """
        num_captions, num_videos = text_embeds.shape[0], video_embeds.shape[0]
        weighted_text = (text_weights[..., None] * text_embeds).reshape(num_captions, -1)
        if not renormalize_missing_modalities or video_availability is None:
            return weighted_text @ video_embeds.reshape(num_videos, -1).T
        available = video_availability.to(video_embeds.dtype)
        numerator = weighted_text @ (video_embeds * available[..., None]).reshape(num_videos, -1).T
        denominator = text_weights @ available.T
        return numerator / torch.where(denominator == 0, torch.full_like(denominator, 1e-5), denominator)

    @can_return_tuple
    @returns_attentions(
        also=(BertSelfAttention,),
        text_attentions=attentions_by_prefix("text_model."),
        video_attentions=attentions_by_prefix("video_model."),
    )
    def forward(
        self,
        input_ids: torch.Tensor,
        expert_features: dict[str, torch.Tensor],
        expert_times: dict[str, torch.Tensor],
        expert_attention_mask: dict[str, torch.Tensor],
        expert_pooled: dict[str, torch.Tensor] | None = None,
        attention_mask: torch.Tensor | None = None,
        return_loss: bool = False,
        **kwargs,
    ) -> MMTOutput:
        text_embeds, text_weights = self.get_text_features(input_ids, attention_mask)
        video_embeds, availability = self.get_video_features(
            expert_features, expert_times, expert_attention_mask, expert_pooled
        )
        logits_per_text = self.compute_similarity(
            text_embeds, text_weights, video_embeds, availability, self.config.renormalize_missing_modalities
        )
        loss = None
        if return_loss:
            if logits_per_text.shape[0] != logits_per_text.shape[1]:
                raise ValueError(
                    f"return_loss needs one caption per video, got {logits_per_text.shape[0]} captions for "
                    f"{logits_per_text.shape[1]} videos"
                )
            loss = max_margin_ranking_loss(logits_per_text, self.config.ranking_margin)
        return MMTOutput(
            loss=loss,
            logits_per_text=logits_per_text,
            logits_per_video=logits_per_text.T,
            text_embeds=text_embeds,
            text_weights=text_weights,
            video_embeds=video_embeds,
            video_availability=availability,
        )


__all__ = ["MMTModel", "MMTPreTrainedModel", "MMTOutput", "encode_experts"]
