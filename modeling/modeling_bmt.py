"""BMT: Bi-modal Transformer for dense video captioning (captioning module).

Paper: V. Iashin and E. Rahtu, "A Better Use of Audio-Visual Cues: Dense Video Captioning with Bi-modal
Transformer", BMVC 2020 (arXiv 2005.08271). Reference code: https://github.com/v-iashin/BMT
(`model/captioning_module.py`, `BiModalTransformer`).

Decisions (kept from the reference code so released weights reproduce; see the implementation notes):
- Positional encoding uses the channel's own index in the exponent (`p / 10000^(i/d)`), not the pair index; the
  table is built in float64 and cast to the input dtype; it is added to audio, video and caption streams separately.
- Every attention projects its query and key inputs to `attention_hidden_size` (1024 by default) whatever their
  widths, and dropout is applied to the attention output (not to the probabilities). It is the shared
  `MultiHeadAttention` (eager / SDPA by `attn_implementation`); `output_attentions=True` returns the encoder's
  (per layer: audio self, video self, audio cross, video cross), the decoder self- and cross-attention weights.
- The decoder "bridge" is `ReLU(Dropout(Linear(LayerNorm([x_audio; x_video]))))` with no residual.
- Pre-norm residual blocks, LayerNorm eps 1e-5, no final LayerNorm after any stack.
- Video input is `rgb + flow` summed element-wise (the caller or the processor sums them).
- Masks are explicit booleans (True = valid step) instead of the reference's "channel 0 == 1" sentinel rule, so a
  genuine feature equal to 1.0 is not dropped. If the decoder receives no `decoder_attention_mask`, PAD tokens in
  `decoder_input_ids` are masked as keys, like the reference.
- Loss: the reference label-smoothed KL divergence (mass `label_smoothing` spread over `V - 2` words, zero on
  PAD, gold gets `1 - label_smoothing`), summed and divided by the number of non-PAD targets.
- Generation: `generate()` (greedy or beam) runs the encoder once and caches the keys/values of the decoder
  self-attention and of both cross-attentions (the latter projected once from the encoder outputs: at 1024 wide
  they are most of a step's cost). The reference decodes greedily only, re-running the whole model on the prefix
  at every step, and keeps extending finished rows; here finished rows are padded with PAD.
- Proposals: whole videos are padded to the fixed lengths of the config (800 / 300 by default, as the reference;
  the padded cells change the predictions). Post-processing (`BMTProcessor.post_process_proposals`) follows the
  validation loop that produced the paper's numbers (top 100 -> clip -> drop <= 0.2 s); the single-video demo's
  order and NMS are options. Anchors come from the checkpoint; a model trained here gets K-means centres of its
  training event lengths (a re-derivation does not reproduce the released anchors).
- Training from scratch on a small vocabulary uses label smoothing 0.1 (0.7, the reference value, leaves almost no
  margin on a dozen words); the paper configuration keeps 0.7.
- Feature projections (`use_linear_embedder`) and the uni-modal ablation models are not implemented.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import Seq2SeqLMOutput
from transformers.utils import ModelOutput, can_return_tuple

from ..configuration.configuration_bmt import BMTConfig
from ..processors.validation import check_finite, check_float_features, check_ids
from .layers.attention import (
    MultiHeadAttention,
    attentions_by_prefix,
    causal_mask,
    padding_mask_to_bool,
    returns_attentions,
)
from .loading import CheckedLoadingMixin


def sinusoidal_table(length: int, width: int, offset: int = 0, dtype=torch.float32, device=None) -> torch.Tensor:
    """The reference positional table rows `offset .. offset+length`: sin for even, cos for odd channels, with the
    channel's own index in the exponent."""
    pos = torch.arange(offset, offset + length, dtype=torch.float64, device=device)[:, None]
    chan = torch.arange(width, dtype=torch.float64, device=device)[None, :]
    theta = pos / torch.pow(torch.tensor(10000.0, dtype=torch.float64, device=device), chan / width)
    table = torch.where(chan.long() % 2 == 0, torch.sin(theta), torch.cos(theta))
    return table.to(dtype)


class BMTPositionalEncoding(nn.Module):
    def __init__(self, config: BMTConfig):
        super().__init__()
        self.max_positions = config.max_position_embeddings
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        if offset + x.shape[1] > self.max_positions:
            raise ValueError(
                f"sequence of {offset + x.shape[1]} steps exceeds max_position_embeddings ({self.max_positions})"
            )
        table = sinusoidal_table(x.shape[1], x.shape[2], offset, x.dtype, x.device)
        return self.dropout(x + table)


def bmt_attention(
    config: BMTConfig, query_size: int, key_size: int, cache_index: int | None = None, static: bool = False
) -> MultiHeadAttention:
    """The reference attention: query and key inputs of any widths projected to `attention_hidden_size`, dropout
    on the attention output before the output projection (not on the probabilities), back to `query_size`."""
    return MultiHeadAttention(
        config,
        query_size,
        config.num_attention_heads,
        key_size=key_size,
        inner_size=config.attention_hidden_size,
        output_dropout=config.attention_dropout,
        cache_index=cache_index,
        static_key_value=static,
    )


class BMTFeedForward(nn.Module):
    def __init__(self, size: int, intermediate: int, dropout: float):
        super().__init__()
        self.fc1 = nn.Linear(size, intermediate)
        self.fc2 = nn.Linear(intermediate, size)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.fc2(self.dropout(F.relu(self.fc1(x))))


class BMTEncoderLayer(nn.Module):
    def __init__(self, config: BMTConfig):
        super().__init__()
        da, dv, eps = config.audio_feature_size, config.video_feature_size, config.layer_norm_eps
        self.audio_self_attn = bmt_attention(config, da, da)
        self.video_self_attn = bmt_attention(config, dv, dv)
        self.audio_cross_attn = bmt_attention(config, da, dv)
        self.video_cross_attn = bmt_attention(config, dv, da)
        self.audio_ffn = BMTFeedForward(da, config.audio_intermediate_size, config.hidden_dropout_prob)
        self.video_ffn = BMTFeedForward(dv, config.video_intermediate_size, config.hidden_dropout_prob)
        self.audio_norms = nn.ModuleList([nn.LayerNorm(da, eps=eps) for _ in range(3)])
        self.video_norms = nn.ModuleList([nn.LayerNorm(dv, eps=eps) for _ in range(3)])
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, audio, video, audio_mask, video_mask):
        a = self.audio_norms[0](audio)
        audio = audio + self.dropout(self.audio_self_attn(a, attention_mask=audio_mask)[0])
        v = self.video_norms[0](video)
        video = video + self.dropout(self.video_self_attn(v, attention_mask=video_mask)[0])
        # each cross-attention reads the other stream after its self-attention, un-normalised
        new_audio = audio + self.dropout(self.audio_cross_attn(self.audio_norms[1](audio), video, video_mask)[0])
        new_video = video + self.dropout(self.video_cross_attn(self.video_norms[1](video), audio, audio_mask)[0])
        new_audio = new_audio + self.dropout(self.audio_ffn(self.audio_norms[2](new_audio)))
        new_video = new_video + self.dropout(self.video_ffn(self.video_norms[2](new_video)))
        return new_audio, new_video


class BMTDecoderLayer(nn.Module):
    def __init__(self, config: BMTConfig, layer_idx: int):
        super().__init__()
        dc, eps = config.decoder_hidden_size, config.layer_norm_eps
        self.layer_idx = layer_idx
        self.self_attn_norm = nn.LayerNorm(dc, eps=eps)
        self.self_attn = bmt_attention(config, dc, dc, cache_index=layer_idx)
        # cross-attention keys/values of layer l sit at 2l (audio) and 2l + 1 (video) of the cross cache
        self.audio_cross_norm = nn.LayerNorm(dc, eps=eps)
        self.audio_cross_attn = bmt_attention(config, dc, config.audio_feature_size, 2 * layer_idx, static=True)
        self.video_cross_norm = nn.LayerNorm(dc, eps=eps)
        self.video_cross_attn = bmt_attention(config, dc, config.video_feature_size, 2 * layer_idx + 1, static=True)
        self.bridge_norm = nn.LayerNorm(2 * dc, eps=eps)
        self.bridge_proj = nn.Linear(2 * dc, dc)
        self.ffn_norm = nn.LayerNorm(dc, eps=eps)
        self.ffn = BMTFeedForward(dc, config.decoder_intermediate_size, config.hidden_dropout_prob)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x, audio, video, self_mask, audio_mask, video_mask, cache=None, cross_cache=None):
        h = self.self_attn_norm(x)
        x = x + self.dropout(self.self_attn(h, attention_mask=self_mask, past_key_values=cache)[0])
        xa = x + self.dropout(self.audio_cross_attn(self.audio_cross_norm(x), audio, audio_mask, cross_cache)[0])
        xv = x + self.dropout(self.video_cross_attn(self.video_cross_norm(x), video, video_mask, cross_cache)[0])
        x = F.relu(self.dropout(self.bridge_proj(self.bridge_norm(torch.cat([xa, xv], dim=-1)))))
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


@dataclass
class BMTEncoderOutput(ModelOutput):
    r"""
    last_hidden_state (`torch.FloatTensor` of shape `(B, T_a, audio_feature_size)`): visual-attended audio `Av`.
    video_hidden_state (`torch.FloatTensor` of shape `(B, T_v, video_feature_size)`): audio-attended video `Va`.
    audio_attention_mask (`torch.BoolTensor` of shape `(B, T_a)`): valid audio steps.
    video_attention_mask (`torch.BoolTensor` of shape `(B, T_v)`): valid video steps.
    """

    last_hidden_state: torch.FloatTensor | None = None
    video_hidden_state: torch.FloatTensor | None = None
    audio_attention_mask: torch.BoolTensor | None = None
    video_attention_mask: torch.BoolTensor | None = None


def _check_features(name, features, size, mask, model_dtype=None):
    if features is None:
        raise ValueError(f"{name} is missing: BMT needs both audio_features and video_features")
    check_float_features(name, features, check_values=False, model_dtype=model_dtype)
    if features.dim() != 3 or features.shape[-1] != size:
        raise ValueError(f"{name} must have shape (batch, time, {size}), got {tuple(features.shape)}")
    if mask is not None and tuple(mask.shape) != tuple(features.shape[:2]):
        raise ValueError(f"the mask of {name} must have shape {tuple(features.shape[:2])}, got {tuple(mask.shape)}")
    check_finite(name, features)


@torch.no_grad()
def init_reference_weights(module: nn.Module) -> None:
    """The BMT/MDVC reference initialisation: xavier_uniform_ on every weight with >= 2 dims; biases and LayerNorms
    keep PyTorch's defaults."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.xavier_uniform_(module.weight)
        if isinstance(module, nn.Linear) and module.bias is not None:
            bound = 1 / math.sqrt(module.in_features)
            nn.init.uniform_(module.bias, -bound, bound)
    elif isinstance(module, nn.LayerNorm):
        nn.init.ones_(module.weight)
        nn.init.zeros_(module.bias)


class BMTPreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    config_class = BMTConfig
    base_model_prefix = "bmt"
    main_input_name = "audio_features"
    supports_gradient_checkpointing = False
    _supports_sdpa = True
    _supports_cache_class = True

    def _init_weights(self, module):
        init_reference_weights(module)


class BMTEncoder(BMTPreTrainedModel):
    """Bi-modal encoder: returns both streams and their masks (used by `generate()` through `get_encoder()`)."""

    def __init__(self, config: BMTConfig):
        super().__init__(config)
        self.positional = BMTPositionalEncoding(config)
        self.layers = nn.ModuleList([BMTEncoderLayer(config) for _ in range(config.num_encoder_layers)])
        self.post_init()

    def forward(
        self, audio_features=None, video_features=None, audio_attention_mask=None, video_attention_mask=None, **kwargs
    ) -> BMTEncoderOutput:
        cfg = self.config
        _check_features("audio_features", audio_features, cfg.audio_feature_size, audio_attention_mask, self.dtype)
        _check_features("video_features", video_features, cfg.video_feature_size, video_attention_mask, self.dtype)
        if audio_features.shape[0] != video_features.shape[0]:
            raise ValueError("audio_features and video_features must have the same batch size")
        if audio_attention_mask is None:
            audio_attention_mask = torch.ones(audio_features.shape[:2], dtype=torch.bool, device=audio_features.device)
        if video_attention_mask is None:
            video_attention_mask = torch.ones(video_features.shape[:2], dtype=torch.bool, device=video_features.device)
        audio_attention_mask = audio_attention_mask.bool()
        video_attention_mask = video_attention_mask.bool()
        if not audio_attention_mask.any(-1).all() or not video_attention_mask.any(-1).all():
            raise ValueError("every sample needs at least one valid audio step and one valid video step")
        am, vm = audio_attention_mask[:, None, None, :], video_attention_mask[:, None, None, :]
        audio, video = self.positional(audio_features), self.positional(video_features)
        for layer in self.layers:
            audio, video = layer(audio, video, am, vm)
        return BMTEncoderOutput(audio, video, audio_attention_mask, video_attention_mask)


class CaptionerGenerationMixin(GenerationMixin):
    """What the dense-captioning captioners (BMT, and MDVC which builds on it) share around their decoders: the
    teacher-forcing inputs from labels, the decoding cache, and the inputs of each `generate()` step."""

    def _caption_inputs(self, labels, decoder_input_ids):
        """Labels with -100 read as PAD, and, where no decoder inputs are given, the labels shifted right after BOS
        (the reference feeds `caption[:, :-1]` and scores `caption[:, 1:]`)."""
        if labels is not None:
            check_ids("labels", labels, self.config.vocab_size, ignore_index=-100)
            labels = labels.masked_fill(labels == -100, self.config.pad_token_id)
            if decoder_input_ids is None:
                bos = labels.new_full((labels.shape[0], 1), self.config.decoder_start_token_id)
                decoder_input_ids = torch.cat([bos, labels[:, :-1]], dim=1)
        if decoder_input_ids is None:
            raise ValueError("give decoder_input_ids (caption prefix starting with BOS) or labels")
        return labels, decoder_input_ids

    def _generation_cache(self, past_key_values, use_cache) -> EncoderDecoderCache | None:
        """The cache of this step: none in training or without `use_cache`; at the first step a fresh one that
        grows as needed (the one `generate()` prepares has one cross-attention layer per decoder layer, while the
        captioners cache several cross-attentions per layer)."""
        if not use_cache or self.training:
            return None
        if not isinstance(past_key_values, EncoderDecoderCache) or past_key_values.get_seq_length() == 0:
            past_key_values = EncoderDecoderCache(DynamicCache(), DynamicCache())
        return past_key_values

    def prepare_inputs_for_generation(
        self,
        decoder_input_ids,
        past_key_values=None,
        encoder_outputs=None,
        decoder_attention_mask=None,
        use_cache=None,
        **kwargs,
    ):
        if past_key_values is not None and past_key_values.get_seq_length() > 0:
            decoder_input_ids = decoder_input_ids[:, past_key_values.get_seq_length() :]
        return {
            "decoder_input_ids": decoder_input_ids,
            "encoder_outputs": encoder_outputs,
            "past_key_values": past_key_values,
            "decoder_attention_mask": decoder_attention_mask,
            "use_cache": use_cache,
        }


class BMTForConditionalGeneration(BMTPreTrainedModel, CaptionerGenerationMixin):
    """BMT captioner: bi-modal encoder, bi-modal decoder and a log-softmax generator."""

    def __init__(self, config: BMTConfig):
        super().__init__(config)
        self.encoder = BMTEncoder(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.decoder_hidden_size)
        self.word_embeddings.weight.requires_grad = not config.freeze_word_embeddings
        self.positional = BMTPositionalEncoding(config)
        self.decoder_layers = nn.ModuleList([BMTDecoderLayer(config, i) for i in range(config.num_decoder_layers)])
        self.lm_head = nn.Linear(config.decoder_hidden_size, config.vocab_size)
        self.post_init()

    def get_encoder(self):
        return self.encoder

    def get_input_embeddings(self):
        return self.word_embeddings

    def set_input_embeddings(self, value):
        self.word_embeddings = value

    def decode(
        self,
        decoder_input_ids,
        encoder_outputs: BMTEncoderOutput,
        decoder_attention_mask=None,
        past_key_values: Cache | None = None,
    ):
        """Decoder stack; returns log-probabilities (B, L, V). `past_key_values`: an `EncoderDecoderCache` (self-
        attention of every layer; audio and video cross-attention of layer l at 2l and 2l + 1) or a self-attention
        cache alone."""
        cross_cache = None
        if isinstance(past_key_values, EncoderDecoderCache):
            past_key_values, cross_cache = past_key_values.self_attention_cache, past_key_values.cross_attention_cache
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        length = decoder_input_ids.shape[1]
        device = decoder_input_ids.device
        check_ids("decoder_input_ids", decoder_input_ids, self.config.vocab_size)
        if decoder_attention_mask is None:
            key_valid = decoder_input_ids != self.config.pad_token_id
            if past:
                key_valid = torch.cat(
                    [torch.ones(key_valid.shape[0], past, dtype=torch.bool, device=device), key_valid], 1
                )
        else:
            key_valid = decoder_attention_mask.bool()
            if key_valid.shape[1] != past + length:
                key_valid = key_valid[:, -(past + length) :]
        self_mask = causal_mask(length, past + length, device) & padding_mask_to_bool(key_valid)
        x = self.word_embeddings(decoder_input_ids) * math.sqrt(self.config.decoder_hidden_size)
        x = self.positional(x, offset=past)
        am = encoder_outputs.audio_attention_mask[:, None, None, :]
        vm = encoder_outputs.video_attention_mask[:, None, None, :]
        audio, video = encoder_outputs.last_hidden_state, encoder_outputs.video_hidden_state
        for layer in self.decoder_layers:
            x = layer(x, audio, video, self_mask, am, vm, past_key_values, cross_cache)
        return F.log_softmax(self.lm_head(x), dim=-1)

    @can_return_tuple
    @returns_attentions(
        encoder_attentions=attentions_by_prefix("encoder."),
        decoder_attentions=lambda name: name.startswith("decoder_layers.") and name.endswith(".self_attn"),
        cross_attentions=lambda name: name.startswith("decoder_layers.") and name.endswith("_cross_attn"),
    )
    def forward(
        self,
        audio_features: torch.FloatTensor | None = None,
        video_features: torch.FloatTensor | None = None,
        audio_attention_mask: torch.Tensor | None = None,
        video_attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: BMTEncoderOutput | None = None,
        past_key_values: Cache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> Seq2SeqLMOutput:
        r"""
        audio_features (`(B, T_a, audio_feature_size)`): VGGish features; `audio_attention_mask` (B, T_a) True = valid.
        video_features (`(B, T_v, video_feature_size)`): I3D rgb + flow; `video_attention_mask` (B, T_v).
        decoder_input_ids (`(B, L)`): caption prefix starting with BOS. If absent and `labels` are given, the
            labels are shifted right (BOS prepended).
        labels (`(B, L)`): next-token targets, PAD (or -100) ignored.

        Returns `Seq2SeqLMOutput` whose `logits` are **log-probabilities** `(B, L, V)` (reference generator).
        """
        if encoder_outputs is None:
            encoder_outputs = self.encoder(audio_features, video_features, audio_attention_mask, video_attention_mask)
        elif not isinstance(encoder_outputs, BMTEncoderOutput):
            encoder_outputs = BMTEncoderOutput(*encoder_outputs)
        labels, decoder_input_ids = self._caption_inputs(labels, decoder_input_ids)
        cache = self._generation_cache(past_key_values, use_cache)
        log_probs = self.decode(decoder_input_ids, encoder_outputs, decoder_attention_mask, cache)
        loss = None
        if labels is not None:
            loss = label_smoothed_kl(log_probs, labels, self.config.label_smoothing, self.config.pad_token_id)
        return Seq2SeqLMOutput(
            loss=loss,
            logits=log_probs,
            past_key_values=cache,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
        )


def label_smoothed_kl(log_probs: torch.Tensor, labels: torch.Tensor, smoothing: float, pad_id: int) -> torch.Tensor:
    """Reference BMT/MDVC caption loss: KL(q || p) summed over non-PAD targets, divided by their count, where q puts
    `1 - smoothing` on the gold word, `smoothing / (V - 2)` on every other word and 0 on PAD."""
    vocab = log_probs.shape[-1]
    lp = log_probs.reshape(-1, vocab)
    y = labels.reshape(-1)
    q = torch.full_like(lp, smoothing / (vocab - 2))
    q.scatter_(1, y[:, None], 1.0 - smoothing)
    q[:, pad_id] = 0.0
    valid = y != pad_id
    q = q * valid[:, None]
    kl = torch.where(q > 0, q * (torch.log(q.clamp_min(1e-30)) - lp), torch.zeros_like(lp))
    return kl.sum() / valid.sum().clamp_min(1)


__all__ = ["BMTPreTrainedModel", "BMTEncoder", "BMTForConditionalGeneration", "BMTEncoderOutput", "label_smoothed_kl"]


# ---------------------------------------------------------------------------------------------------------------
# Event proposal generator (reference `MultimodalProposalGenerator`, model/proposal_generator.py)
# ---------------------------------------------------------------------------------------------------------------


class BMTProposalHead(nn.Module):
    """Conv1d(k, same length) -> Dropout -> ReLU -> [Conv1d(1) -> Dropout -> ReLU]* -> Conv1d(1 -> 3 * anchors).
    The `net` indices follow the reference `conv_layers` Sequential (with dropout enabled)."""

    def __init__(self, in_size: int, hidden_sizes, kernel_size: int, num_anchors: int, dropout: float):
        super().__init__()
        layers, width = [], in_size
        for i, hidden in enumerate(hidden_sizes):
            k = kernel_size if i == 0 else 1
            layers += [nn.Conv1d(width, hidden, k, padding=k // 2), nn.Dropout(dropout), nn.ReLU()]
            width = hidden
        layers.append(nn.Conv1d(width, 3 * num_anchors, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) -> raw (B, T, 3 * anchors)."""
        return self.net(x.transpose(1, 2)).transpose(1, 2)


@dataclass
class BMTProposalOutput(ModelOutput):
    r"""
    loss (`torch.FloatTensor` scalar): proposal loss summed over every head (when `event_targets` are given).
    proposals (`torch.FloatTensor` of shape `(B, N, 3)`): `(centre_s, length_s, confidence)` for every head, anchor
        and grid cell: audio heads first (kernel order), then video heads; inside a head row `a * T + t`.
    audio_head_logits / video_head_logits (`tuple` of `(B, T, 3 * anchors)`): undecoded head outputs.
    audio_loss_terms / video_loss_terms (`torch.FloatTensor` of shape `(4,)`): `loss_x`, `loss_w`,
        `loss_conf_obj`, `loss_conf_noobj` summed over the heads of the modality (before the weights).
    encoder_audio_hidden_state / encoder_video_hidden_state: the bi-modal encoder outputs.
    """

    loss: torch.FloatTensor | None = None
    proposals: torch.FloatTensor | None = None
    audio_head_logits: tuple[torch.FloatTensor, ...] | None = None
    video_head_logits: tuple[torch.FloatTensor, ...] | None = None
    audio_loss_terms: torch.FloatTensor | None = None
    video_loss_terms: torch.FloatTensor | None = None
    encoder_audio_hidden_state: torch.FloatTensor | None = None
    encoder_video_hidden_state: torch.FloatTensor | None = None


def decode_proposals(raw: torch.Tensor, anchors: torch.Tensor, stride: float) -> torch.Tensor:
    """Raw head output (B, T, 3A) -> (B, A * T, 3) `(centre_s, length_s, confidence)`, anchor-major."""
    b, t, _ = raw.shape
    r = raw.view(b, t, anchors.numel(), 3).transpose(1, 2)  # (B, A, T, 3)
    grid = torch.arange(t, device=raw.device, dtype=raw.dtype)[None, None, :]
    centre = (grid + torch.sigmoid(r[..., 0])) * stride
    length = (anchors[None, :, None] / stride) * torch.exp(r[..., 1]) * stride
    conf = torch.sigmoid(r[..., 2])
    return torch.stack([centre, length, conf], dim=-1).reshape(b, -1, 3)


def proposal_head_loss(raw, anchors, stride, event_targets, obj_weight, noobj_weight):
    """YOLO-style loss of one head (reference `make_targets` + loss). `event_targets`: (E, >=3) rows
    `[video index, centre_s, length_s, ...]`. Returns (weighted loss, 4 unweighted terms)."""
    b, t, _ = raw.shape
    num_anchors = anchors.numel()
    r = raw.view(b, t, num_anchors, 3).transpose(1, 2)  # (B, A, T, 3)
    video = event_targets[:, 0].long()
    gx = event_targets[:, 1] / stride
    gw = event_targets[:, 2] / stride
    psi = anchors / stride
    ratio = torch.minimum(psi[None], gw[:, None]) / torch.maximum(psi[None], gw[:, None])
    best = ratio.argmax(dim=1)
    cell = gx.floor().long().clamp(0, t - 1)
    obj = torch.zeros(b, num_anchors, t, dtype=torch.bool, device=raw.device)
    obj[video, best, cell] = True
    target_x = torch.zeros(b, num_anchors, t, dtype=raw.dtype, device=raw.device)
    target_w = torch.zeros_like(target_x)
    target_x[video, best, cell] = gx - gx.floor()
    target_w[video, best, cell] = torch.log(gw / psi[best] + 1e-16)
    loss_x = F.mse_loss(torch.sigmoid(r[..., 0])[obj], target_x[obj])
    loss_w = F.mse_loss(r[..., 1][obj], target_w[obj])
    conf = torch.sigmoid(r[..., 2])
    loss_obj = F.binary_cross_entropy(conf[obj], torch.ones_like(conf[obj]))
    loss_noobj = F.binary_cross_entropy(conf[~obj], torch.zeros_like(conf[~obj]))
    total = loss_x + loss_w + obj_weight * loss_obj + noobj_weight * loss_noobj
    return total, torch.stack([loss_x, loss_w, loss_obj, loss_noobj])


class BMTForEventProposal(BMTPreTrainedModel):
    """BMT event proposal generator: bi-modal encoder (initialised from a trained captioner in the two-stage recipe)
    + one 1-D convolutional head per kernel size on each stream. Inputs are whole videos padded to
    `max_audio_length` / `max_video_length`; predictions exist for every cell, padded ones included."""

    def __init__(self, config: BMTConfig):
        super().__init__(config)
        self.encoder = BMTEncoder(config)
        if config.audio_anchor_lengths is None or config.video_anchor_lengths is None:
            raise ValueError("BMTForEventProposal needs audio_anchor_lengths and video_anchor_lengths in the config")
        self.audio_heads = nn.ModuleList(
            [
                BMTProposalHead(
                    config.audio_feature_size,
                    config.audio_proposal_hidden_sizes,
                    k,
                    len(config.audio_anchor_lengths),
                    config.hidden_dropout_prob,
                )
                for k in config.audio_kernel_sizes
            ]
        )
        self.video_heads = nn.ModuleList(
            [
                BMTProposalHead(
                    config.video_feature_size,
                    config.video_proposal_hidden_sizes,
                    k,
                    len(config.video_anchor_lengths),
                    config.hidden_dropout_prob,
                )
                for k in config.video_kernel_sizes
            ]
        )
        self.post_init()

    def _init_weights(self, module):
        # reference: Xavier on the encoder only; the conv heads keep PyTorch's default Conv1d init
        if isinstance(module, nn.Conv1d):
            module.reset_parameters()
        else:
            super()._init_weights(module)

    @can_return_tuple
    def forward(
        self,
        audio_features: torch.FloatTensor | None = None,
        video_features: torch.FloatTensor | None = None,
        audio_attention_mask: torch.Tensor | None = None,
        video_attention_mask: torch.Tensor | None = None,
        event_targets: torch.FloatTensor | None = None,
        **kwargs,
    ) -> BMTProposalOutput:
        r"""
        audio_features (`(B, T_a, audio_feature_size)`), video_features (`(B, T_v, video_feature_size)`, rgb + flow):
            whole videos padded to the fixed lengths; masks `(B, T)` True at valid steps.
        event_targets (`(E, >=3)`, optional): ground-truth events `[video index, centre_s, length_s, ...]`.
        """
        enc = self.encoder(audio_features, video_features, audio_attention_mask, video_attention_mask)
        cfg = self.config
        # anchors (seconds) live in the config, float32 as in the reference; built here so loading never skips them
        audio_anchors = torch.tensor(
            cfg.audio_anchor_lengths, dtype=torch.float32, device=enc.last_hidden_state.device
        )
        video_anchors = torch.tensor(
            cfg.video_anchor_lengths, dtype=torch.float32, device=enc.last_hidden_state.device
        )
        audio_raw = tuple(head(enc.last_hidden_state) for head in self.audio_heads)
        video_raw = tuple(head(enc.video_hidden_state) for head in self.video_heads)
        proposals = torch.cat(
            [decode_proposals(r, audio_anchors.to(r.dtype), cfg.audio_feature_stride) for r in audio_raw]
            + [decode_proposals(r, video_anchors.to(r.dtype), cfg.video_feature_stride) for r in video_raw],
            dim=1,
        )
        loss = audio_terms = video_terms = None
        if event_targets is not None:
            if event_targets.dim() != 2 or event_targets.shape[1] < 3:
                raise ValueError("event_targets must have shape (events, 3+): [video index, centre_s, length_s]")
            if (event_targets[:, 2] <= 0).any():
                raise ValueError("event lengths in event_targets must be positive")
            loss = proposals.new_zeros(())
            terms = []
            for raws, anchors, stride in (
                (audio_raw, audio_anchors, cfg.audio_feature_stride),
                (video_raw, video_anchors, cfg.video_feature_stride),
            ):
                summed = proposals.new_zeros(4)
                for r in raws:
                    head_loss, head_terms = proposal_head_loss(
                        r,
                        anchors.to(r.dtype),
                        stride,
                        event_targets.to(r.dtype),
                        cfg.object_loss_weight,
                        cfg.no_object_loss_weight,
                    )
                    loss = loss + head_loss
                    summed = summed + head_terms
                terms.append(summed)
            audio_terms, video_terms = terms
        return BMTProposalOutput(
            loss=loss,
            proposals=proposals,
            audio_head_logits=audio_raw,
            video_head_logits=video_raw,
            audio_loss_terms=audio_terms,
            video_loss_terms=video_terms,
            encoder_audio_hidden_state=enc.last_hidden_state,
            encoder_video_hidden_state=enc.video_hidden_state,
        )


__all__ += ["BMTForEventProposal", "BMTProposalOutput", "decode_proposals", "proposal_head_loss"]
