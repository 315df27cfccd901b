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
- frames: 2 frames by default (`num_frames`), 8 kept as a config option for converted checkpoints;
- bottlenecks: 4 + 1 extra (`bottleneck_extra_cls_token=True`) for checkpoint compatibility;
- decoder self-attention mask: causal only (identical to the reference at every non-pad position);
- stochastic depth without rescaling (faithful);
- masked attention uses boolean masks in SDPA; rows are never fully masked here (causal only).
- decoding: greedy and sampling go through the standard `generate()`; the reference beam search (top 2k candidates,
  GNMT length penalty ((5 + n) / 6)^alpha, its finishing and stopping rules, live beams returned when nothing
  finished) is `avatar_beam_search`, used as `generate(..., custom_generate=avatar_beam_search)` or
  `model.beam_search(...)`, and is the evaluation default (alpha 0.6, 4 beams, max_length 128); the built-in beam
  search (`num_beams > 1` without `custom_generate`) stays available but does not reproduce the reference.
- front end (`AvatarProcessor`): periodic Hann window (the code; the paper says Hamming); SpecAugment as the code
  effectively runs it (2 frequency masks of up to 26 bins) by default, with the paper's Park et al. policy (time warp
  W = 80, 2 frequency masks F = 27, 2 time masks T = 100) as `spec_augment_policy="park"`; audio from the clip start,
  frames from a central (evaluation) or random (training) window, as the code; the code's training video
  augmentation (scale jitter U(0.9, 1.33) per side, colour augmentation p 0.8 with TensorFlow's op semantics,
  grey-scale p 0.1) is a processor setting, on in `train_avatar.py` for new paper-size models and off for the
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
from .loading import CheckedLoadingMixin
from .renaming import rename_key


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Reference stochastic depth: zero the branch per example with probability `rate`, no rescaling."""
    if not training or rate <= 0.0:
        return x
    keep = torch.rand(x.shape[0], 1, 1, device=x.device, dtype=x.dtype) >= rate
    return x * keep.to(x.dtype)


class AvatarEncoderAttention(nn.Module):
    def __init__(self, dim: int, heads: int, dropout: float):
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim) for _ in range(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = (p(x).view(b, n, self.heads, -1).transpose(1, 2) for p in (self.q_proj, self.k_proj, self.v_proj))
        out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


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
        self.attention = AvatarEncoderAttention(d, config.encoder_attention_heads, config.encoder_attention_dropout)
        self.layernorm_after = nn.LayerNorm(d, eps=config.layer_norm_eps)
        self.mlp = AvatarEncoderMLP(d, config.encoder_intermediate_size, config.encoder_dropout)
        self.dropout = nn.Dropout(config.encoder_dropout)
        self.drop_path_rate = drop_path_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + drop_path(self.dropout(self.attention(self.layernorm_before(x))), self.drop_path_rate, self.training)
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
        check_finite("input_features", input_features)
        return input_features

    def forward(self, input_features=None, pixel_values=None, return_dict=True, **kwargs) -> AvatarEncoderOutput:
        audio = self.audio_embeddings(self._check_audio(input_features))
        video = None
        if self.use_video:
            if pixel_values is None:
                raise ValueError("this AVATAR model uses the rgb stream: pass pixel_values [B, 3, T, H, W]")
            if pixel_values.dim() != 5 or pixel_values.shape[1] != self.config.num_channels:
                raise ValueError(f"pixel_values must be [B, 3, T, H, W], got {tuple(pixel_values.shape)}")
            if pixel_values.shape[0] != audio.shape[0]:
                raise ValueError("pixel_values and input_features have different batch sizes")
            check_float_features("pixel_values", pixel_values, model_dtype=self.dtype)
            video = self.video_embeddings(pixel_values)
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
    second, frequency divisor (dim/2 - 1). Computed on the fly (no buffer, so loading never leaves it uninitialised)."""
    half = dim // 2
    freqs = torch.exp(torch.arange(half, dtype=torch.float64, device=device) * -(math.log(10000.0) / (half - 1)))
    angles = torch.arange(start, start + length, dtype=torch.float64, device=device)[:, None] * freqs[None]
    table = torch.zeros(length, dim, dtype=torch.float64, device=device)
    table[:, :half], table[:, half : 2 * half] = torch.sin(angles), torch.cos(angles)
    return table.float()


class AvatarDecoderAttention(nn.Module):
    """Multi-head attention without biases (decoder self- and cross-attention)."""

    def __init__(self, dim: int, heads: int, dropout: float, layer_idx: int, is_cross: bool):
        super().__init__()
        self.heads, self.dropout, self.layer_idx, self.is_cross = heads, dropout, layer_idx, is_cross
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(dim, dim, bias=False) for _ in range(4))

    def _split(self, x):
        return x.view(x.shape[0], x.shape[1], self.heads, -1).transpose(1, 2)

    def forward(self, x, memory=None, cache: EncoderDecoderCache | None = None, past_length: int = 0):
        b, n, d = x.shape
        q = self._split(self.q_proj(x))
        mask = None
        if self.is_cross:
            # The memory is fixed during decoding: its keys/values are projected once and kept in the cross cache.
            if cache is not None and cache.is_updated.get(self.layer_idx):
                layer = cache.cross_attention_cache.layers[self.layer_idx]
                k, v = layer.keys, layer.values
            else:
                k, v = self._split(self.k_proj(memory)), self._split(self.v_proj(memory))
                if cache is not None:
                    k, v = cache.cross_attention_cache.update(k, v, self.layer_idx)
                    cache.is_updated[self.layer_idx] = True
        else:
            k, v = self._split(self.k_proj(x)), self._split(self.v_proj(x))
            if cache is not None:
                k, v = cache.self_attention_cache.update(k, v, self.layer_idx)
            if n > 1:
                qi = torch.arange(n, device=x.device)[:, None] + past_length
                mask = torch.arange(k.shape[2], device=x.device)[None, :] <= qi
        p = self.dropout if self.training else 0.0
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        return self.out_proj(out.transpose(1, 2).reshape(b, n, d))


class AvatarDecoderLayer(nn.Module):
    """Pre-LN decoder block of the reference (`EncoderDecoder1DBlock`)."""

    def __init__(self, config: AvatarConfig, layer_idx: int):
        super().__init__()
        d, h = config.d_model, config.decoder_attention_heads
        eps = config.layer_norm_eps
        self.self_attn_layer_norm = nn.LayerNorm(d, eps=eps)
        self.self_attn = AvatarDecoderAttention(d, h, config.decoder_attention_dropout, layer_idx, False)
        self.encoder_attn_layer_norm = nn.LayerNorm(d, eps=eps)
        self.encoder_attn = AvatarDecoderAttention(d, h, config.decoder_attention_dropout, layer_idx, True)
        self.final_layer_norm = nn.LayerNorm(d, eps=eps)
        self.fc1, self.fc2 = nn.Linear(d, config.decoder_ffn_dim), nn.Linear(config.decoder_ffn_dim, d)
        self.dropout = nn.Dropout(config.decoder_dropout)

    def forward(self, x, memory, cache=None, past_length=0):
        x = x + self.dropout(self.self_attn(self.self_attn_layer_norm(x), cache=cache, past_length=past_length))
        x = x + self.dropout(self.encoder_attn(self.encoder_attn_layer_norm(x), memory=memory, cache=cache))
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
        for layer in self.layers:
            x = layer(x, memory, cache=cache, past_length=past)
        x = self.layer_norm(x)
        return F.linear(x, self.embed_tokens.weight) / math.sqrt(x.shape[-1])


def shift_tokens_right(labels: torch.Tensor, start_token_id: int) -> torch.Tensor:
    start = torch.full_like(labels[:, :1], start_token_id)
    return torch.cat([start, labels[:, :-1]], dim=1)


NEG_INF = -1.0e7  # the reference's "effective negative infinity" of beam search


def gnmt_length_penalty(length: int, alpha: float) -> torch.Tensor:
    """The reference's brevity penalty `((5 + n) / 6) ** alpha` (Wu et al., 2016), in float32."""
    return torch.tensor((5.0 + length) / 6.0, dtype=torch.float32) ** alpha


def _top_k_ascending(values: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the `k` largest entries per row, in *ascending* order (best last), ties broken towards the lower
    index as `lax.top_k` does (a stable sort, so filler slots at -1e7 resolve exactly as in the reference)."""
    order = torch.sort(values, dim=-1, descending=True, stable=True).indices[:, :k]
    return order.flip(1)


def _gather_beams(x: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """`x[b, indices[b, j], ...]` for `x` of shape `[B, beams, ...]` and `indices` `[B, new_beams]`."""
    index = indices.reshape(*indices.shape, *([1] * (x.dim() - 2))).expand(*indices.shape, *x.shape[2:])
    return x.gather(1, index)


@dataclass
class AvatarBeamSearchOutput(ModelOutput):
    """Output of [`avatar_beam_search`] with `return_dict_in_generate=True`.

    Args:
        sequences: `[B * num_return_sequences, L]` best beams first (start token included, 0 after EOS).
        sequences_scores: `[B * num_return_sequences]` their scores (length-penalised log-probability for a
            finished beam; raw summed log-probability when an item finished no beam).
        beam_sequences: `[B, num_beams, L]` every returned beam in the reference's order (ascending score, best last).
        beam_scores: `[B, num_beams]` their scores (empty finished slots keep -1e7 and an all-zero sequence).
        finished: `[B]` whether the item returned its finished set (else its live beams).
    """

    sequences: torch.LongTensor | None = None
    sequences_scores: torch.FloatTensor | None = None
    beam_sequences: torch.LongTensor | None = None
    beam_scores: torch.FloatTensor | None = None
    finished: torch.BoolTensor | None = None


def avatar_beam_search(
    model,
    input_ids: torch.LongTensor,
    logits_processor=None,
    stopping_criteria=None,
    generation_config=None,
    **model_kwargs,
):
    """The reference beam search (scenic `avatar/decode.py::beam_search`, from the Flax WMT example), as a
    `custom_generate` callable: `model.generate(input_features=..., pixel_values=..., num_beams=4,
    length_penalty=0.6, max_length=128, custom_generate=avatar_beam_search)`.

    It differs from the built-in beam search: every step takes the top 2k continuations of all live beams; any of
    them ending in EOS enters the finished set with score `log p / ((5 + n) / 6) ** alpha` (`n` generated tokens,
    EOS included); the top k of the others stay live; the search stops at `max_length` or once no live beam can
    beat the worst finished one (`best live log p / ((5 + max_length) / 6) ** alpha`); an item with no finished
    beam returns its live beams with their raw log-probabilities. Everything runs on `[batch, beams]` tensors; the
    decoder self-attention cache is reordered by parent beam. `generate` has already run the encoder and repeated
    its output per beam. Logits processors, if any were configured, act on the per-step log-probabilities; other
    stopping criteria than `max_length` are not used (the reference has none).
    """
    config = generation_config
    k = config.num_beams
    alpha = 1.0 if config.length_penalty is None else float(config.length_penalty)
    max_length = config.max_length
    eos = config.eos_token_id
    eos = torch.tensor([eos] if isinstance(eos, int) else list(eos or []), device=input_ids.device)
    n_return = config.num_return_sequences or 1
    if n_return > k:
        raise ValueError(f"num_return_sequences ({n_return}) must not exceed num_beams ({k})")
    if input_ids.shape[0] % k:
        raise ValueError(f"input_ids has {input_ids.shape[0]} rows, not a multiple of num_beams ({k})")
    batch, prompt = input_ids.shape[0] // k, input_ids.shape[1]
    if prompt >= max_length:
        raise ValueError(f"max_length ({max_length}) must exceed the prompt length ({prompt})")
    device = input_ids.device
    encoder_outputs = model_kwargs["encoder_outputs"]
    use_cache = model_kwargs.get("use_cache", True) is not False
    cache = EncoderDecoderCache(DynamicCache(), DynamicCache()) if use_cache else None

    live_seqs = torch.zeros(batch, k, max_length, dtype=torch.long, device=device)
    live_seqs[:, :, :prompt] = input_ids.view(batch, k, prompt)
    live_logp = torch.full((batch, k), NEG_INF, dtype=torch.float32, device=device)
    live_logp[:, 0] = 0.0
    fin_seqs = torch.zeros_like(live_seqs)
    fin_scores = torch.full((batch, k), NEG_INF, dtype=torch.float32, device=device)
    fin_flags = torch.zeros(batch, k, dtype=torch.bool, device=device)
    offsets = (torch.arange(batch, device=device) * k)[:, None]
    min_penalty = gnmt_length_penalty(max_length - prompt + 1, alpha).to(device)  # the reference: BP(max_decode_len)

    index = prompt - 1  # position of the last token of the live sequences
    while index < max_length - 1:
        if cache is not None:
            step_ids = live_seqs[:, :, : index + 1] if index == prompt - 1 else live_seqs[:, :, index : index + 1]
        else:
            step_ids = live_seqs[:, :, : index + 1]
        out = model(
            encoder_outputs=encoder_outputs,
            decoder_input_ids=step_ids.reshape(batch * k, -1),
            past_key_values=cache,
            use_cache=cache is not None,
        )
        log_probs = F.log_softmax(out.logits[:, -1].float(), dim=-1)
        if logits_processor:
            log_probs = logits_processor(live_seqs[:, :, : index + 1].reshape(batch * k, -1), log_probs)
        vocab = log_probs.shape[-1]
        log_probs = log_probs.view(batch, k, vocab) + live_logp[:, :, None]
        flat = log_probs.reshape(batch, k * vocab)
        candidates = torch.sort(flat, dim=-1, descending=True, stable=True).indices[:, : 2 * k]
        cand_logp = flat.gather(1, candidates)
        parents, tokens = candidates // vocab, candidates % vocab
        cand_seqs = _gather_beams(live_seqs, parents)
        cand_seqs[:, :, index + 1] = tokens
        newly_finished = torch.isin(tokens, eos)

        # live set: the best k candidates that did not just finish
        masked = cand_logp + newly_finished.to(torch.float32) * NEG_INF
        keep = _top_k_ascending(masked, k)
        live_seqs, live_logp = _gather_beams(cand_seqs, keep), masked.gather(1, keep)
        if cache is not None:
            cache.self_attention_cache.reorder_cache((offsets + parents.gather(1, keep)).reshape(-1))

        # finished set: merge the newly finished candidates (length-penalised) and keep the best k
        penalty = gnmt_length_penalty(index + 2 - prompt, alpha).to(device)
        scores = cand_logp / penalty + (~newly_finished).to(torch.float32) * NEG_INF
        all_seqs = torch.cat([fin_seqs, cand_seqs], dim=1)
        all_scores = torch.cat([fin_scores, scores], dim=1)
        all_flags = torch.cat([fin_flags, newly_finished], dim=1)
        best = _top_k_ascending(all_scores, k)
        fin_seqs, fin_scores, fin_flags = (
            _gather_beams(all_seqs, best),
            all_scores.gather(1, best),
            all_flags.gather(1, best),
        )
        index += 1

        best_live = live_logp[:, -1:] / min_penalty
        worst_finished = torch.where(fin_flags, fin_scores.min(dim=1, keepdim=True).values, NEG_INF)
        if bool((worst_finished > best_live).all()):
            break

    finished = fin_flags.any(dim=1)
    beam_sequences = torch.where(finished[:, None, None], fin_seqs, live_seqs)[:, :, : index + 1]
    beam_scores = torch.where(finished[:, None], fin_scores, live_logp)
    sequences = beam_sequences.flip(1)[:, :n_return].reshape(batch * n_return, -1)
    sequences_scores = beam_scores.flip(1)[:, :n_return].reshape(-1)
    if config.return_dict_in_generate:
        return AvatarBeamSearchOutput(
            sequences=sequences,
            sequences_scores=sequences_scores,
            beam_sequences=beam_sequences,
            beam_scores=beam_scores,
            finished=finished,
        )
    return sequences


def _resize_grid(grid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize (align_corners, as scipy's order-1 zoom) of a `[h, w, D]` positional grid to `[*size, D]`."""
    out = F.interpolate(grid.permute(2, 0, 1)[None].float(), size=size, mode="bilinear", align_corners=True)
    return out[0].permute(1, 2, 0).to(grid.dtype)


# checkpoints written before transformers 5 name the ViT blocks `encoder.layer.{l}.attention.attention.query`, ...
_CLASSIC_VIT_NAMES = [
    (r"^encoder\.layer\.", "layers."),
    (r"attention\.attention\.query\.", "attention.q_proj."),
    (r"attention\.attention\.key\.", "attention.k_proj."),
    (r"attention\.attention\.value\.", "attention.v_proj."),
    (r"attention\.output\.dense\.", "attention.o_proj."),
    (r"intermediate\.dense\.", "mlp.fc1."),
    (r"(?<!attention\.)output\.dense\.", "mlp.fc2."),
]


def vit_to_avatar_encoder_state_dict(
    vit_state: dict[str, torch.Tensor], config: AvatarConfig
) -> dict[str, torch.Tensor]:
    """Encoder parameters of AVATAR initialised from an image ViT (transformers `ViTModel` names), as MBT does it.

    Every ViT block `l` goes to block `l` of both streams and the final LayerNorm to the encoder's; the 2-D patch
    kernel is the audio kernel as it is (its rows run over time frames, its columns over mel bins) and, inflated on
    the central frame (zeros at every other time index), the video tubelet kernel; the bias goes to both. The
    positional grid (CLS slot kept) is resized bilinearly to the audio token grid and to the frame grid, which is
    tiled over the tubelets; the bottleneck tokens are the grid resized to `sqrt(n) x sqrt(n)` with the CLS
    position first when the config has the extra bottleneck token. The ViT CLS token goes to both streams (the
    specification's recommendation; the released code restores neither). Pooler / classifier weights are dropped.
    """
    state = {rename_key(k.removeprefix("vit."), _CLASSIC_VIT_NAMES): v for k, v in vit_state.items()}
    d, p = config.hidden_size, config.patch_size
    kernel = state["embeddings.patch_embeddings.projection.weight"]
    if kernel.shape != (d, config.num_channels, p, p):
        raise ValueError(
            f"the ViT patch kernel is {tuple(kernel.shape)}, this AVATAR config needs {(d, config.num_channels, p, p)} "
            "(hidden_size, num_channels, patch_size, patch_size)"
        )
    num_layers = 1 + max((int(k.split(".")[1]) for k in state if k.startswith("layers.")), default=-1)
    if num_layers != config.encoder_layers:
        raise ValueError(
            f"the ViT has {num_layers} layers, this AVATAR config has encoder_layers={config.encoder_layers}"
        )
    bias = state["embeddings.patch_embeddings.projection.bias"]
    positions = state["embeddings.position_embeddings"][0]  # [1 + g*g, D]
    side = math.isqrt(positions.shape[0] - 1)
    if side * side != positions.shape[0] - 1:
        raise ValueError(
            f"the ViT positional embedding has {positions.shape[0] - 1} patch positions, not a square grid"
        )
    cls_position, grid = positions[:1], positions[1:].reshape(side, side, d)
    cls_token = state["embeddings.cls_token"]

    streams = ["audio"] + (["video"] if "rgb" in config.modalities else [])
    out = {"encoder.layernorm.weight": state["layernorm.weight"], "encoder.layernorm.bias": state["layernorm.bias"]}
    names = [
        "layernorm_before",
        "layernorm_after",
        "attention.q_proj",
        "attention.k_proj",
        "attention.v_proj",
        "attention.out_proj",
        "mlp.fc1",
        "mlp.fc2",
    ]
    for l in range(num_layers):
        for name in names:
            for suffix in ("weight", "bias"):
                vit_name = f"layers.{l}.{name.replace('out_proj', 'o_proj')}.{suffix}"
                for stream in streams:
                    out[f"encoder.{stream}_layers.{l}.{name}.{suffix}"] = state[vit_name]

    audio_grid = _resize_grid(grid, (config.max_audio_frames // p, config.num_mel_bins // p)).reshape(-1, d)
    out["encoder.audio_embeddings.patch_embedding.weight"] = kernel
    out["encoder.audio_embeddings.patch_embedding.bias"] = bias
    out["encoder.audio_embeddings.cls_token"] = cls_token
    out["encoder.audio_embeddings.position_embedding"] = torch.cat([cls_position, audio_grid])[None]
    if "video" in streams:
        t = config.tubelet_size
        inflated = kernel.new_zeros(d, config.num_channels, t, p, p)
        inflated[:, :, t // 2] = kernel
        frame_grid = _resize_grid(grid, (config.image_size // p,) * 2).reshape(-1, d)
        tiled = frame_grid.repeat(config.num_frames // t, 1)
        out["encoder.video_embeddings.patch_embedding.weight"] = inflated
        out["encoder.video_embeddings.patch_embedding.bias"] = bias
        out["encoder.video_embeddings.cls_token"] = cls_token
        out["encoder.video_embeddings.position_embedding"] = torch.cat([cls_position, tiled])[None]
    n = config.num_bottleneck_tokens
    if math.isqrt(n) ** 2 == n:  # otherwise the bottleneck keeps its N(0, init_std) initialisation
        bottleneck = _resize_grid(grid, (math.isqrt(n),) * 2).reshape(-1, d)
        if config.bottleneck_extra_cls_token:
            bottleneck = torch.cat([cls_position, bottleneck])
        out["encoder.bottleneck_tokens"] = bottleneck[None]
    return {k: v.detach().clone() for k, v in out.items()}


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
