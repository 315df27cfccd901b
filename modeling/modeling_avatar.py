"""AVATAR: audio-visual speech recognition (Gabeur, Seo, Nagrani, Sun, Alahari, Schmid, Interspeech 2022).

Reference: google-research/scenic, `scenic/projects/avatar` (models.py, decode.py) with the MBT encoder of
`scenic/projects/mbt/model.py`. An MBT encoder (two unshared ViT streams over RGB tubelets and log-mel patches,
exchanging information only through shared bottleneck tokens from `fusion_layer` on) feeds a pre-LN Transformer
decoder with a fixed sinusoid table and a tied output embedding scaled by 1/sqrt(D).

Reproduced reference details: LayerNorm eps 1e-6; tanh-approximated GELU in the encoder, ReLU in the decoder;
encoder attention with biases, decoder attention without; stochastic depth per example and branch with rate
`drop_path_rate * l / (L - 1)` and *no* 1/(1-p) rescaling; 5 bottleneck tokens (4 + the extra one the reference adds
with a token classifier); no encoder padding mask (zero-padded spectrogram frames are attended, as in the
reference); decoder start token 0 (= PAD); sinusoid with divisor (D/2 - 1), sines then cosines, no embedding scaling.

Decisions from the specification's open list (recommendations followed):
- frames of any size and number: `image_size` is one int (square frames; older configs) or `[height, width]`;
  `num_frames` is any count of at least one tubelet (whole tubelets are kept, `num_frames // tubelet_size`, as the
  reference's VALID tubelet convolution does). The learned positional embeddings cover the grids the config fixes,
  `config.video_grid` = (frames // tubelet, height // patch, width // patch) and `config.audio_grid`. Inputs giving
  another grid raise a `ValueError` naming the sizes: the reference (scenic `mbt/model.py`, `AddPositionEmbs`)
  builds its positional parameters from the input shape and never interpolates them at run time. It interpolates
  only when initialising from an image ViT (scenic `mbt/model_utils.py`, `init_posemb`: bilinear resize of the
  square grid to the per-frame grid, tiled over time), which `vit_to_avatar_encoder_state_dict` does for
  rectangular frames too. The conversion script reads the grids from the checkpoint's positional embeddings.
- frames: 2 frames by default (`num_frames`), 8 kept as a config option for converted checkpoints;
- bottlenecks: 4 + 1 extra (`bottleneck_extra_cls_token=True`) for checkpoint compatibility;
- decoder self-attention mask: causal only (identical to the reference at every non-pad position);
- stochastic depth without rescaling (faithful);
- attention is the shared `MultiHeadAttention` (eager / SDPA by `attn_implementation`); the only mask is the
  decoder's causal one, so no row is ever fully masked. `output_attentions=True` returns the encoder's (per layer:
  video stream then audio stream), the decoder self- and the cross-attention weights.
- decoding: greedy and sampling go through the standard `generate()`; the reference beam search (top 2k candidates,
  GNMT length penalty ((5 + n) / 6)^alpha, its finishing and stopping rules, live beams returned when nothing
  finished) is `avatar_beam_search`, used as `generate(..., custom_generate=avatar_beam_search)` or
  `model.beam_search(...)`, and is the evaluation default (alpha 0.6, 4 beams, max_length 128); the built-in beam
  search (`num_beams > 1` without `custom_generate`) stays available but does not reproduce the reference.
- front end (`AvatarProcessor`; training augmentation `videozoo.data.avatar_augmentation.AvatarAugmentation`):
  periodic Hann window (the code; the paper says Hamming); SpecAugment as the code effectively runs it (2 frequency
  masks of up to 26 bins) by default, with the paper's Park et al. policy (time warp W = 80, 2 frequency masks
  F = 27, 2 time masks T = 100) as `AvatarAugmentation(spec_augment="park")`; audio from the clip start,
  frames from a central (evaluation) or random (training) window, as the code; the code's training video
  augmentation (scale jitter U(0.9, 1.33) per side, colour augmentation p 0.8 with TensorFlow's op semantics,
  grey-scale p 0.1) is an `AvatarAugmentation` setting, on in training (`videozoo/tasks/avatar.py`) except for the
  synthetic task, whose content words are colours;
- word masking: content words = words outside a shipped English stop-word list (the reference's "visualness" scores
  are not released), rate 0.363 (~10% of How2's words), at most 16 words; random masking 0.10; zeros, not noise;
- fine-tuning recipe = the released config (SGD momentum 0.9, lr 0.3 cosine to 0 over 40K steps, no warm-up, clip
  1.0, label smoothing 0.1); the pre-training LR "2" is left as a tunable;
- evaluation noise: the code's levels (SNR 1, 1/2, 1/3; bursts of up to 0.1, 0.2, 0.3 of the clip; mixed pairs),
  deterministic per clip with the reference's seeds but NumPy's generator (TF's stateless RNG is not reproduced);
- content / stop word WER: substituted + deleted reference words of the class over the class's reference words.
- initialisation from an image ViT (`from_vit_pretrained`, the paper's ViT-B/16): MBT's mapping (blocks copied into
  both streams, central-frame kernel inflation, bilinear positional-grid resizing, bottlenecks from the 2 x 2 grid
  with the CLS position first); the ViT CLS token is copied into both streams (the released code restores neither).
Differences: the teacher-forced loss is plain token cross-entropy over non-pad targets; the reference's label
smoothing (0.1) belongs to the training task (`videozoo.tasks.avatar`). During cached decoding the cross-attention
keys/values of the encoder memory are computed once and kept in the cache (the reference recomputes them every
step; the numbers are the same).
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache, EncoderDecoderCache
from transformers.modeling_outputs import Seq2SeqLMOutput
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ..configuration.configuration_avatar import AvatarConfig
from ..processors.validation import check_finite, check_float_features, check_ids
from .generation_avatar import AvatarBeamSearchOutput, avatar_beam_search, gnmt_length_penalty
from .layers.attention import MultiHeadAttention, attentions_by_prefix, causal_mask, returns_attentions
from .loading import CheckedLoadingMixin
from .vit_weights_avatar import vit_to_avatar_encoder_state_dict


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Reference stochastic depth: zero the branch per example with probability `rate`, no rescaling."""
    if not training or rate <= 0.0:
        return x
    keep = torch.rand(x.shape[0], 1, 1, device=x.device, dtype=x.dtype) >= rate
    return x * keep.to(x.dtype)


class AvatarEncoderMLP(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(dim, hidden), nn.Linear(hidden, dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(x), approximate="tanh"))))


class AvatarEncoderLayer(nn.Module):
    """Pre-LN ViT block of MBT (`EncoderBlock`)."""

    def __init__(self, config: AvatarConfig, drop_path_rate: float):
        super().__init__()
        d = config.hidden_size
        self.layernorm_before = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.attention = MultiHeadAttention(
            config, d, config.encoder_attention_heads, dropout=config.encoder_attention_dropout
        )
        self.layernorm_after = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.mlp = AvatarEncoderMLP(d, config.encoder_intermediate_size, config.encoder_dropout)
        self.dropout = nn.Dropout(config.encoder_dropout)
        self.drop_path_rate = drop_path_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(
            self.dropout(self.attention(self.layernorm_before(x))[0]), self.drop_path_rate, self.training
        )
        return x + drop_path(self.mlp(self.layernorm_after(x)), self.drop_path_rate, self.training)


class AvatarEmbeddings(nn.Module):
    """Patch/tubelet convolution, CLS token and learned positional embedding of one modality."""

    def __init__(self, config: AvatarConfig, conv: nn.Module, num_tokens: int):
        super().__init__()
        self.patch_embedding = conv
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.hidden_size))
        self.position_embedding = nn.Parameter(torch.zeros(1, num_tokens + 1, config.hidden_size))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.patch_embedding(x).flatten(2).transpose(1, 2)
        if tokens.shape[1] + 1 != self.position_embedding.shape[1]:
            raise ValueError(
                f"input gives {tokens.shape[1]} tokens but the positional embedding covers "
                f"{self.position_embedding.shape[1] - 1}; check the input size against the config"
            )
        cls = self.cls_token.expand(tokens.shape[0], -1, -1)
        return torch.cat([cls, tokens], dim=1) + self.position_embedding


@dataclass
class AvatarEncoderOutput(ModelOutput):
    """Encoder output.

    Args:
        last_hidden_state: `[B, (1 + N_video) + (1 + N_audio), D]`, layout `[cls_v, video..., cls_a, audio...]`
            (video part absent for the audio-only model).
    """

    last_hidden_state: torch.FloatTensor | None = None


class AvatarPreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    config_class = AvatarConfig
    base_model_prefix = "model"
    main_input_name = "input_features"
    supports_gradient_checkpointing = False
    _supports_sdpa = True
    _no_split_modules = ["AvatarEncoderLayer", "AvatarDecoderLayer"]

    @torch.no_grad()
    def _init_weights(self, module):
        std = self.config.init_std
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.normal_(module.bias, std=1e-6)
        elif isinstance(module, (nn.Conv2d, nn.Conv3d)):
            fan_in = module.weight[0].numel()
            nn.init.trunc_normal_(module.weight, std=1.0 / math.sqrt(fan_in))
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.LayerNorm):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, std=1.0)
        elif isinstance(module, AvatarEmbeddings):
            nn.init.zeros_(module.cls_token)
            nn.init.normal_(module.position_embedding, std=std)
        elif isinstance(module, AvatarEncoder):
            nn.init.normal_(module.bottleneck_tokens, std=std)


class AvatarEncoder(AvatarPreTrainedModel):
    """MBT encoder: two unshared ViT streams with bottleneck fusion from `fusion_layer` on."""

    def __init__(self, config: AvatarConfig):
        super().__init__(config)
        d, p, L = config.hidden_size, config.patch_size, config.encoder_layers
        rates = [config.encoder_drop_path_rate * l / max(L - 1, 1) for l in range(L)]
        self.use_video = "rgb" in config.modalities
        if self.use_video:
            conv = nn.Conv3d(config.num_channels, d, (config.tubelet_size, p, p), stride=(config.tubelet_size, p, p))
            self.video_embeddings = AvatarEmbeddings(config, conv, config.num_video_tokens)
            self.video_layers = nn.ModuleList(AvatarEncoderLayer(config, r) for r in rates)
        self.audio_embeddings = AvatarEmbeddings(
            config, nn.Conv2d(config.num_channels, d, p, stride=p), config.num_audio_tokens
        )
        self.audio_layers = nn.ModuleList(AvatarEncoderLayer(config, r) for r in rates)
        self.bottleneck_tokens = nn.Parameter(torch.zeros(1, config.num_bottlenecks, d))
        self.layernorm = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.post_init()

    def _check_audio(self, input_features: torch.Tensor) -> torch.Tensor:
        c = self.config
        if input_features is None:
            raise ValueError("input_features (log-mel [B, frames, mel] or [B, 3, frames, mel]) is required")
        check_float_features("input_features", input_features, check_values=False, model_dtype=self.dtype)
        if input_features.dim() == 3:
            input_features = input_features.unsqueeze(1).expand(-1, c.num_channels, -1, -1)
        if input_features.dim() != 4 or input_features.shape[1] != c.num_channels:
            raise ValueError(
                f"input_features must be [B, frames, mel] or [B, 3, frames, mel], got {tuple(input_features.shape)}"
            )
        if input_features.shape[-1] != c.num_mel_bins:
            raise ValueError(
                f"input_features has {input_features.shape[-1]} mel bins, config expects {c.num_mel_bins}"
            )
        frames = input_features.shape[-2]
        if frames // c.patch_size != c.audio_grid[0]:
            raise ValueError(
                f"input_features has {frames} frames, a grid of {frames // c.patch_size} patch rows; the audio "
                f"positional embedding covers {c.audio_grid[0]} (max_audio_frames={c.max_audio_frames}, patch_size="
                f"{c.patch_size}): pad or crop the log-mel to max_audio_frames (the processor does); positional grids "
                "are fixed when the model is built, as in the reference"
            )
        check_finite("input_features", input_features)
        return input_features

    def forward(self, input_features=None, pixel_values=None, return_dict=True, **kwargs) -> AvatarEncoderOutput:
        c = self.config
        input_features = self._check_audio(input_features)  # every input is checked before anything runs
        if self.use_video:
            if pixel_values is None:
                raise ValueError("this AVATAR model uses the rgb stream: pass pixel_values [B, 3, T, H, W]")
            if pixel_values.dim() != 5 or pixel_values.shape[1] != self.config.num_channels:
                raise ValueError(f"pixel_values must be [B, 3, T, H, W], got {tuple(pixel_values.shape)}")
            grid = tuple(n // k for n, k in zip(pixel_values.shape[2:], (c.tubelet_size, c.patch_size, c.patch_size)))
            if grid != c.video_grid:
                raise ValueError(
                    f"pixel_values of {tuple(pixel_values.shape[2:])} (frames, height, width) give a tubelet grid "
                    f"{grid}; the video positional embedding covers {c.video_grid} (num_frames={c.num_frames}, "
                    f"image_size={c.image_size}, tubelet_size={c.tubelet_size}, patch_size={c.patch_size}): resize "
                    "the frames, or use a config of that size (positional grids are fixed when the model is built, "
                    "as in the reference; they are not interpolated at run time)"
                )
            if pixel_values.shape[0] != input_features.shape[0]:
                raise ValueError("pixel_values and input_features have different batch sizes")
            check_float_features("pixel_values", pixel_values, model_dtype=self.dtype)
        audio = self.audio_embeddings(input_features)
        video = self.video_embeddings(pixel_values) if self.use_video else None
        bottleneck = self.bottleneck_tokens.expand(audio.shape[0], -1, -1)
        nb = bottleneck.shape[1]
        for l in range(self.config.encoder_layers):
            if video is None:
                audio = self.audio_layers[l](audio)
            elif l < self.config.fusion_layer:
                video, audio = self.video_layers[l](video), self.audio_layers[l](audio)
            else:
                v = self.video_layers[l](torch.cat([video, bottleneck], dim=1))
                a = self.audio_layers[l](torch.cat([audio, bottleneck], dim=1))
                video, audio = v[:, :-nb], a[:, :-nb]
                bottleneck = (v[:, -nb:] + a[:, -nb:]) / 2
        out = audio if video is None else torch.cat([video, audio], dim=1)
        return AvatarEncoderOutput(last_hidden_state=self.layernorm(out))


def sinusoid_table(start: int, length: int, dim: int, device=None) -> torch.Tensor:
    """Rows `start .. start+length-1` of the reference (Flax WMT) table: sines in the first half, cosines in the
    second, frequency divisor (dim/2 - 1). Computed on the fly (no buffer, so loading never leaves it
    uninitialised)."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float64, device=device) * -(math.log(10000.0) / (half - 1)))
    angles = torch.arange(start, start + length, dtype=torch.float64, device=device)[:, None] * freqs[None]
    table = torch.zeros(length, dim, dtype=torch.float64, device=device)
    table[:, :half], table[:, half : 2 * half] = torch.sin(angles), torch.cos(angles)
    return table.float()


class AvatarDecoderLayer(nn.Module):
    """Pre-LN decoder block of the reference (`EncoderDecoder1DBlock`)."""

    def __init__(self, config: AvatarConfig, layer_idx: int):
        super().__init__()
        d, h = config.d_model, config.decoder_attention_heads
        eps = config.layer_norm_eps
        self.self_attn_layer_norm = nn.LayerNorm(d, eps=eps)
        # decoder attention has no biases; the memory's keys/values are projected once per generation (static)
        p = config.decoder_attention_dropout
        self.self_attn = MultiHeadAttention(config, d, h, bias=False, dropout=p, cache_index=layer_idx)
        self.encoder_attn_layer_norm = nn.LayerNorm(d, eps=eps)
        self.encoder_attn = MultiHeadAttention(
            config, d, h, bias=False, dropout=p, cache_index=layer_idx, static_key_value=True
        )
        self.final_layer_norm = nn.LayerNorm(d, eps=eps)
        self.fc1, self.fc2 = nn.Linear(d, config.decoder_ffn_dim), nn.Linear(config.decoder_ffn_dim, d)
        self.dropout = nn.Dropout(config.decoder_dropout)

    def forward(self, x, memory, self_mask=None, cache: EncoderDecoderCache | None = None):
        self_cache = cache.self_attention_cache if cache is not None else None
        cross_cache = cache.cross_attention_cache if cache is not None else None
        h = self.self_attn_layer_norm(x)
        x = x + self.dropout(self.self_attn(h, attention_mask=self_mask, past_key_values=self_cache)[0])
        h = self.encoder_attn_layer_norm(x)
        x = x + self.dropout(self.encoder_attn(h, key_value_states=memory, past_key_values=cross_cache)[0])
        h = self.dropout(F.relu(self.fc1(self.final_layer_norm(x))))
        return x + self.dropout(self.fc2(h))


class AvatarDecoder(nn.Module):
    def __init__(self, config: AvatarConfig):
        super().__init__()
        self.embed_tokens = nn.Embedding(config.vocab_size, config.d_model)
        self.max_positions = config.max_position_embeddings
        self.layers = nn.ModuleList(AvatarDecoderLayer(config, i) for i in range(config.decoder_layers))
        self.layer_norm = nn.LayerNorm(config.d_model, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.decoder_dropout)

    def forward(self, input_ids, memory, cache=None):
        past = cache.get_seq_length() if cache is not None else 0
        n = input_ids.shape[1]
        if past + n > self.max_positions:
            raise ValueError(f"decoder length {past + n} exceeds max_position_embeddings ({self.max_positions})")
        x = self.embed_tokens(input_ids)
        x = self.dropout(x + sinusoid_table(past, n, x.shape[-1], device=x.device).to(x.dtype))
        mask = causal_mask(n, past + n, device=x.device) if n > 1 else None  # a single new step sees everything
        for layer in self.layers:
            x = layer(x, memory, mask, cache=cache)
        x = self.layer_norm(x)
        return F.linear(x, self.embed_tokens.weight) / math.sqrt(x.shape[-1])


def shift_tokens_right(labels: torch.Tensor, start_token_id: int) -> torch.Tensor:
    start = torch.full_like(labels[:, :1], start_token_id)
    return torch.cat([start, labels[:, :-1]], dim=1)


class AvatarForConditionalGeneration(AvatarPreTrainedModel, GenerationMixin):
    """AVATAR encoder-decoder. `generate(input_features=..., pixel_values=...)` decodes text token ids."""

    def __init__(self, config: AvatarConfig):
        super().__init__(config)
        self.encoder = AvatarEncoder(config)
        self.decoder = AvatarDecoder(config)
        self.post_init()
        if self.generation_config is not None:  # the reference's decoding length (start token included)
            self.generation_config.max_length = min(128, config.max_position_embeddings)

    @classmethod
    def from_vit_pretrained(cls, vit, config: AvatarConfig | None = None) -> "AvatarForConditionalGeneration":
        """A new AVATAR whose encoder streams start from an image ViT (the paper starts from ViT-B/16 ImageNet-21k).

        `vit`: a local folder of a transformers ViT checkpoint (`ViTModel` or `ViTForImageClassification`), a loaded
        ViT model, or its state dict. `config` defaults to the paper's configuration, whose encoder is ViT-B/16. The
        decoder keeps its random initialisation (the paper reuses only BERT's vocabulary). See
        `vit_to_avatar_encoder_state_dict` for the mapping.
        """
        if not isinstance(vit, (dict, nn.Module)):
            from transformers import ViTModel

            vit = ViTModel.from_pretrained(vit, add_pooling_layer=False)
        model = cls(config if config is not None else AvatarConfig())
        heads = getattr(getattr(vit, "config", None), "num_attention_heads", None)
        if heads is not None and heads != model.config.encoder_attention_heads:
            raise ValueError(
                f"the ViT has {heads} attention heads, this AVATAR config has {model.config.encoder_attention_heads}"
            )
        vit_state = vit if isinstance(vit, dict) else vit.state_dict()
        encoder_state = vit_to_avatar_encoder_state_dict(vit_state, model.config)
        own = model.state_dict()
        for name, value in encoder_state.items():
            if own[name].shape != value.shape:
                raise ValueError(f"{name}: the ViT gives {tuple(value.shape)}, the model has {tuple(own[name].shape)}")
        model.load_state_dict(encoder_state, strict=False)
        return model

    def beam_search(
        self, input_features=None, pixel_values=None, num_beams: int = 4, length_penalty: float = 0.6, **kwargs
    ):
        """The reference beam search through `generate(custom_generate=avatar_beam_search)` (see there)."""
        return self.generate(
            input_features=input_features,
            pixel_values=pixel_values,
            num_beams=num_beams,
            length_penalty=length_penalty,
            custom_generate=avatar_beam_search,
            **kwargs,
        )

    def get_encoder(self):
        return self.encoder

    def get_input_embeddings(self):
        return self.decoder.embed_tokens

    def set_input_embeddings(self, value):
        self.decoder.embed_tokens = value

    @can_return_tuple
    @returns_attentions(
        encoder_attentions=attentions_by_prefix("encoder."),
        decoder_attentions=lambda name: name.endswith(".self_attn"),
        cross_attentions=lambda name: name.endswith(".encoder_attn"),
    )
    def forward(
        self,
        input_features: torch.Tensor | None = None,
        pixel_values: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        labels: torch.LongTensor | None = None,
        encoder_outputs: AvatarEncoderOutput | tuple | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        return_dict: bool | None = None,
        **kwargs,
    ) -> Seq2SeqLMOutput:
        r"""
        Args:
            input_features: log-mel `[B, frames, mel]` (tiled to 3 channels) or `[B, 3, frames, mel]`.
            pixel_values: frames `[B, 3, T, H, W]` in [-1, 1] (omit for the audio-only model).
            decoder_input_ids: `[B, L]`; built from `labels` by a right shift with start id 0 when omitted.
            labels: `[B, L]` target ids, PAD = 0 ignored by the loss.
        Returns: `Seq2SeqLMOutput` with `loss` (mean token cross-entropy over non-pad labels), `logits` `[B, L, V]`,
            `past_key_values`, `encoder_last_hidden_state` `[B, N_enc, D]`.
        """
        if encoder_outputs is None:
            encoder_outputs = self.encoder(input_features=input_features, pixel_values=pixel_values)
        memory = encoder_outputs[0] if isinstance(encoder_outputs, tuple) else encoder_outputs.last_hidden_state
        if labels is not None:
            check_ids("labels", labels, self.config.vocab_size, ignore_index=-100)
            labels = labels.masked_fill(labels == -100, self.config.pad_token_id)  # transformers' ignore index
        if decoder_input_ids is None:
            if labels is None:
                raise ValueError("pass decoder_input_ids or labels")
            decoder_input_ids = shift_tokens_right(labels, self.config.decoder_start_token_id)
        if past_key_values is None or past_key_values.get_seq_length() == 0:  # once per generation, not per step
            check_ids("decoder_input_ids", decoder_input_ids, self.config.vocab_size)
        if use_cache and past_key_values is None:
            past_key_values = EncoderDecoderCache(DynamicCache(), DynamicCache())
        cache = past_key_values if use_cache or past_key_values is not None else None
        logits = self.decoder(decoder_input_ids, memory, cache=cache)
        loss = None
        if labels is not None:
            # mean over non-pad targets; a batch whose labels are all padding has no target: loss 0, not 0 / 0 = NaN
            token_losses = F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]),
                labels.reshape(-1),
                ignore_index=self.config.pad_token_id,
                reduction="none",
            )
            loss = token_losses.sum() / (labels != self.config.pad_token_id).sum().clamp_min(1)
        return Seq2SeqLMOutput(loss=loss, logits=logits, past_key_values=cache, encoder_last_hidden_state=memory)


__all__ = [
    "AvatarBeamSearchOutput",
    "AvatarEncoder",
    "AvatarForConditionalGeneration",
    "AvatarPreTrainedModel",
    "avatar_beam_search",
    "gnmt_length_penalty",
    "vit_to_avatar_encoder_state_dict",
]
