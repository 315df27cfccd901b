"""Everything at Once: multi-modal fusion transformer for video retrieval (Shvetsova, Chen, Rouditchenko, et al.;
CVPR 2022, arXiv:2112.04446).

Ported from github.com/ninatu/everything_at_once at 4daeab616274eef76487e9e132c2fd35d3838496. Each modality becomes
tokens (video features and word vectors through gated units; audio through the ResDAVEnet v2 CNN, one token per 64
log-mel frames, then a gated unit), each followed by a LayerNorm. One modality-agnostic transformer (pre-LN, no
positional or type embeddings) runs on a single modality or on the concatenation of two; each modality's output
tokens are mean-pooled under their mask and projected by a modality-specific gated unit. Fused embeddings of a pair
are the mean of the two unit-normalised projections. Trained with the combinatorial contrastive loss.

Decisions where the paper leaves a choice or differs from the code, following the code for checkpoint parity:
- a sample whose mask for a modality is all zero gets the learnt masking token as its first token (mask set to 1);
  the `*_nonempty_input_mask` outputs are computed before this and decide which samples each loss term keeps;
- the audio token mask is the frame mask max-pooled over each token's window (a partly filled window counts);
- the loss is the code's symmetric form divided by the sum of the weights; a term with no sample left is skipped;
- the unused final LayerNorm of the fusion transformer and the CNN's unused input BatchNorm are kept so original
  checkpoints load strictly; neither is applied.
- feature variants are configurations (`EverythingAtOnceConfig.from_variant("tva" | "s3d" | "clip")`); the CLIP
  variant's text tokens come from a frozen local CLIP text model in the processor (every position of the final
  LayerNorm times the text projection, start token dropped, mask up to the end-of-text token), not from the model.
Other differences: attention runs through the shared `MultiHeadAttention` (eager / SDPA by `attn_implementation`;
`output_attentions=True` returns the weights of every pass in call order); `forward` never modifies its inputs (the
reference wrote into the caller's masks).
"""

import math
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from transformers import PreTrainedModel
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ..configuration.configuration_everything_at_once import EverythingAtOnceConfig
from ..processors.validation import check_finite, check_float_features
from .layers.attention import MultiHeadAttention, padding_mask_to_bool, returns_attentions
from .layers.audio import ResDavenet, init_resdavenet_weights
from .layers.gating import GatedEmbeddingUnit
from .layers.pooling import masked_mean
from .loading import CheckedLoadingMixin

MODALITIES = ("text", "video", "audio")  # the reference's token order in joint passes


@dataclass
class EverythingAtOnceOutput(ModelOutput):
    r"""
    loss (`torch.Tensor` of shape `()`, *optional*): combinatorial contrastive loss.
    text_embeds, video_embeds, audio_embeds (`(batch, projection_dim)`): single-modality embeddings (not normalised).
    text_video_embeds, text_audio_embeds, video_audio_embeds (`(batch, projection_dim)`): joint passes of two
        modalities, (unit(g_x(x)) + unit(g_y(y))) / 2.
    text_plus_video_embeds, text_plus_audio_embeds, video_plus_audio_embeds (`(batch, projection_dim)`): late fusion
        of the single-modality embeddings.
    text_nonempty_mask, video_nonempty_mask, audio_nonempty_mask (`(batch,)` bool): False where that input was empty.
    attentions (with `output_attentions=True`): `(batch, heads, tokens, tokens)` weights of every fusion layer, for
        every pass (single modalities, then pairs) in call order.
    """

    loss: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    video_embeds: torch.Tensor | None = None
    audio_embeds: torch.Tensor | None = None
    text_video_embeds: torch.Tensor | None = None
    text_audio_embeds: torch.Tensor | None = None
    video_audio_embeds: torch.Tensor | None = None
    text_plus_video_embeds: torch.Tensor | None = None
    text_plus_audio_embeds: torch.Tensor | None = None
    video_plus_audio_embeds: torch.Tensor | None = None
    text_nonempty_mask: torch.Tensor | None = None
    video_nonempty_mask: torch.Tensor | None = None
    audio_nonempty_mask: torch.Tensor | None = None
    attentions: tuple[torch.Tensor, ...] | None = None


def _unit(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x, dim=-1, eps=1e-8)


def combinatorial_loss(
    embeds: dict[str, torch.Tensor], nonempty: dict[str, torch.Tensor], weights: dict[str, float], temperature: float
) -> torch.Tensor:
    """Everything at Once's loss: per term, the samples whose modalities are all present, cosine similarities / T,
    cross-entropy in both directions summed; total = sum of weighted terms / sum of their weights.

    `embeds` holds `text`, `video`, `audio`, `text_video`, `text_audio`, `video_audio`; `nonempty` the masks.
    """
    terms = {
        "tv": ("text", "video", ("text", "video")),
        "ta": ("text", "audio", ("text", "audio")),
        "va": ("video", "audio", ("video", "audio")),
        "t_va": ("text", "video_audio", MODALITIES),
        "v_ta": ("video", "text_audio", MODALITIES),
        "a_tv": ("audio", "text_video", MODALITIES),
    }
    total, weight_sum = None, 0.0
    for name, weight in weights.items():
        left, right, needed = terms[name]
        if not weight or left not in embeds or right not in embeds:
            continue
        keep = torch.stack([nonempty[m] for m in needed]).all(dim=0)
        if keep.sum() == 0:
            continue
        similarity = _unit(embeds[left][keep]) @ _unit(embeds[right][keep]).T / temperature
        targets = torch.arange(similarity.shape[0], device=similarity.device)
        term = F.cross_entropy(similarity, targets) + F.cross_entropy(similarity.T, targets)
        total = weight * term if total is None else total + weight * term
        weight_sum += weight
    if total is None:
        raise ValueError("no loss term has a sample with all its modalities present")
    return total / weight_sum


class EverythingAtOnceMlp(nn.Module):
    def __init__(self, hidden_size: int, intermediate_size: int):
        super().__init__()
        self.fc1 = nn.Linear(hidden_size, intermediate_size)
        self.fc2 = nn.Linear(intermediate_size, hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(hidden)))


class EverythingAtOnceBlock(nn.Module):
    """Pre-LN transformer block: x + attn(LN(x)), then x + mlp(LN(x))."""

    def __init__(self, config: EverythingAtOnceConfig):
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        # timm's layout: one fused `qkv` projection and the output projection `proj`
        self.attn = MultiHeadAttention(
            config, config.hidden_size, config.num_attention_heads, fused_qkv=True, out_proj_name="proj"
        )
        self.norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = EverythingAtOnceMlp(config.hidden_size, int(config.hidden_size * config.mlp_ratio))

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = hidden + self.attn(self.norm1(hidden), attention_mask=padding_mask_to_bool(mask))[0]
        return hidden + self.mlp(self.norm2(hidden))


class EverythingAtOnceFusion(nn.Module):
    def __init__(self, config: EverythingAtOnceConfig):
        super().__init__()
        self.masking_token = nn.Parameter(torch.zeros(config.hidden_size))
        self.blocks = nn.ModuleList([EverythingAtOnceBlock(config) for _ in range(config.num_hidden_layers)])
        self.norm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)  # kept for checkpoints, never applied

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            tokens = block(tokens, mask)
        return tokens


class EverythingAtOncePreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    config: EverythingAtOnceConfig
    base_model_prefix = "everything_at_once"
    main_input_name = "video_features"
    input_modalities = ("video", "audio", "text")
    supports_gradient_checkpointing = False
    _supports_sdpa = True

    def _init_weights(self, module):
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d)):
            init_resdavenet_weights(module)
        elif isinstance(module, EverythingAtOnceFusion):
            from transformers import initialization as init

            init.normal_(module.masking_token, 0.0, self.config.initializer_range)
        else:
            super()._init_weights(module)


class EverythingAtOnceModel(EverythingAtOncePreTrainedModel):
    """Inputs (any of the three; at least one): `text_features` `(batch, words, text_feature_size)` with
    `text_attention_mask`; `video_features` `(batch, steps, video_feature_size)` with `video_attention_mask`;
    `input_features` `(batch, num_mel_bins, frames)` log-mel with `audio_attention_mask` `(batch, frames)`.
    Masks are 1 at real positions; a sample may miss a modality (all-zero mask)."""

    def __init__(self, config: EverythingAtOnceConfig):
        super().__init__(config)
        hidden = config.hidden_size
        self.audio_encoder = ResDavenet(
            config.num_mel_bins, config.audio_stage_depths, config.audio_stage_widths, config.audio_kernel_width
        )
        sizes = {
            "text": config.text_feature_size,
            "video": config.video_feature_size,
            "audio": config.audio_stage_widths[-1],
        }
        for name in MODALITIES:
            setattr(
                self,
                f"{name}_token_proj",
                GatedEmbeddingUnit(sizes[name], hidden, use_batch_norm=False, normalize=False),
            )
            setattr(self, f"{name}_norm_layer", nn.LayerNorm(hidden, eps=config.layer_norm_eps))
            setattr(
                self,
                f"{name}_proj",
                GatedEmbeddingUnit(hidden, config.projection_dim, use_batch_norm=False, normalize=False),
            )
        self.fusion = EverythingAtOnceFusion(config)
        self.post_init()

    def _check(
        self, name: str, features: torch.Tensor, mask: torch.Tensor | None, size: int, feature_axis: int
    ) -> torch.Tensor:
        argument = {"text": "text_features", "video": "video_features", "audio": "input_features"}[name]
        check_float_features(argument, features, check_values=False, model_dtype=self.dtype)
        if features.dim() != 3 or features.shape[feature_axis] != size:
            layout = "(batch, mel_bins, frames)" if name == "audio" else f"(batch, length, {size})"
            raise ValueError(
                f"{argument} ({name}) must be {layout} with {size} features, got shape {tuple(features.shape)}"
            )
        check_finite(argument, features)
        length = features.shape[2] if name == "audio" else features.shape[1]
        if mask is None:
            return features.new_ones(features.shape[0], length)
        if mask.shape != (features.shape[0], length):
            raise ValueError(f"{name} attention mask must be ({features.shape[0]}, {length}), got {tuple(mask.shape)}")
        return mask.to(features.dtype)

    def _tokens(
        self, name: str, features: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Tokens `(batch, tokens, hidden)`, their mask (after the empty-input fix) and the nonempty flags."""
        if name == "audio":
            per_token = 2 ** len(self.config.audio_stage_depths)
            if features.shape[2] == 0 or features.shape[2] % per_token:
                raise ValueError(
                    f"audio frames must be a positive multiple of {per_token} (one token per {per_token} frames), got "
                    f"{features.shape[2]}; pad the spectrogram (the processor does)"
                )
            hidden = self.audio_encoder(features).transpose(1, 2)  # (batch, frames / 64, channels)
            window = math.ceil(features.shape[2] / hidden.shape[1])
            mask = F.max_pool1d(mask[:, None], window, window, ceil_mode=True)[:, 0, : hidden.shape[1]]
        else:
            hidden = features
        tokens = getattr(self, f"{name}_norm_layer")(getattr(self, f"{name}_token_proj")(hidden))
        nonempty = mask.sum(dim=1) > 0
        first = (torch.arange(tokens.shape[1], device=tokens.device) == 0)[None, :]
        replace = ~nonempty[:, None] & first  # empty inputs: the learnt masking token in the first slot
        tokens = torch.where(replace[..., None], self.fusion.masking_token.to(tokens.dtype), tokens)
        mask = torch.where(replace, torch.ones_like(mask), mask)
        return tokens, mask, nonempty

    def _embed(self, names: tuple[str, ...], tokens: dict, masks: dict) -> dict[str, torch.Tensor]:
        """One pass of the fusion transformer over the concatenated tokens of `names`; per-modality projections."""
        hidden = self.fusion(torch.cat([tokens[n] for n in names], dim=1), torch.cat([masks[n] for n in names], dim=1))
        outputs, start = {}, 0
        for name in names:
            length = tokens[name].shape[1]
            pooled = masked_mean(hidden[:, start : start + length], masks[name])
            outputs[name] = getattr(self, f"{name}_proj")(pooled)
            start += length
        return outputs

    @can_return_tuple
    @returns_attentions(attentions=lambda name: name.startswith("fusion."))
    def forward(
        self,
        text_features: torch.Tensor | None = None,
        video_features: torch.Tensor | None = None,
        input_features: torch.Tensor | None = None,
        text_attention_mask: torch.Tensor | None = None,
        video_attention_mask: torch.Tensor | None = None,
        audio_attention_mask: torch.Tensor | None = None,
        return_loss: bool = False,
        **kwargs,
    ) -> EverythingAtOnceOutput:
        given = {"text": text_features, "video": video_features, "audio": input_features}
        given = {name: value for name, value in given.items() if value is not None}
        if not given:
            raise ValueError("give at least one of text_features, video_features, input_features")
        for name, value in given.items():
            if value.dim() != 3:
                layout = "(batch, mel_bins, frames)" if name == "audio" else "(batch, length, features)"
                raise ValueError(f"{name} input must be {layout}, got shape {tuple(value.shape)}")
        batches = {value.shape[0] for value in given.values()}
        if len(batches) != 1:
            raise ValueError(f"inputs disagree on the batch size: {sorted(batches)}")
        sizes = {
            "text": (self.config.text_feature_size, 2),
            "video": (self.config.video_feature_size, 2),
            "audio": (self.config.num_mel_bins, 1),
        }
        raw_masks = {"text": text_attention_mask, "video": video_attention_mask, "audio": audio_attention_mask}
        tokens, masks, nonempty = {}, {}, {}
        for name, features in given.items():
            mask = self._check(name, features, raw_masks[name], *sizes[name])
            tokens[name], masks[name], nonempty[name] = self._tokens(name, features, mask)
        if not torch.stack(list(nonempty.values())).any(dim=0).all():
            raise ValueError("a sample has every given modality empty (all-zero masks)")

        embeds = {}
        for name in given:  # single-modality passes
            embeds.update(self._embed((name,), tokens, masks))
        out = {f"{name}_embeds": embeds[name] for name in given}
        present = [name for name in MODALITIES if name in given]
        for index, first in enumerate(present):
            for second in present[index + 1 :]:
                out[f"{first}_plus_{second}_embeds"] = (_unit(embeds[first]) + _unit(embeds[second])) / 2
                if self.config.compute_fused_embeddings:
                    pair = self._embed((first, second), tokens, masks)
                    embeds[f"{first}_{second}"] = (_unit(pair[first]) + _unit(pair[second])) / 2
                    out[f"{first}_{second}_embeds"] = embeds[f"{first}_{second}"]
        loss = None
        if return_loss:
            loss = combinatorial_loss(embeds, nonempty, self.config.loss_weights, self.config.temperature)
        return EverythingAtOnceOutput(loss=loss, **out, **{f"{n}_nonempty_mask": m for n, m in nonempty.items()})


__all__ = ["EverythingAtOnceModel", "EverythingAtOnceOutput", "EverythingAtOncePreTrainedModel", "combinatorial_loss"]
