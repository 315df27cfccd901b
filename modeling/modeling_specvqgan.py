"""SpecVQGAN: visually guided sound generation with a spectrogram codebook and a conditional transformer.

Paper: V. Iashin and E. Rahtu, "Taming Visually Guided Sound Generation", BMVC 2021 (arXiv 2110.08791). Reference
code: https://github.com/v-iashin/SpecVQGAN (`specvqgan/models/vqgan.py` `VQModel`,
`specvqgan/modules/diffusionmodules/model.py`, `specvqgan/modules/vqvae/quantize.py`,
`specvqgan/models/cond_transformer.py` `Net2NetTransformer`, `specvqgan/modules/transformer/mingpt.py` `GPTFeats`,
`specvqgan/modules/losses/{vqperceptual.py, lpaps.py}`, `specvqgan/modules/discriminator/model.py`).

Stage I, [`SpecVQGANModel`]: a 2-D convolutional encoder maps a log-mel spectrogram (B, 80, 848) in [-1, 1] to a
5 x 53 grid of vectors, each replaced by its nearest codebook entry (straight-through), and a convolutional decoder
reconstructs the spectrogram (no output activation). `encode` gives the indices, `decode` takes indices or quantised
latents. The training parts, [`SpecVQGANTrainingLoss`] (L1 + LPAPS + codebook + hinge patch-GAN with the adaptive
weight), [`SpecVQGANPatchDiscriminator`] and [`SpecVQGANLPAPS`], live outside the checkpointed model.

Stage II, [`SpecVQGANForConditionalGeneration`]: a GPT-2-style decoder over the frozen Stage I's indices in
column-major order (all frequency rows of a time column, then the next column), with N visual feature vectors (and
optionally a class embedding) as a prefix. `generate` samples the indices with a key/value cache (the reference
re-runs the whole prefix for each token; the logits are the same), and decodes them to a spectrogram.

Decisions (where the paper and the reference code differ or leave a choice):
- Heads 16 (the code and the released weights; the paper says 12); VAS codebook size 128 (code and README).
- LPAPS (the authors' README erratum, their issue #13): the released code never loaded the VGGish-ish weights into
  the perceptual network (wrong keys under `strict=False`), so the published codebooks were trained with a randomly
  initialised "VGGish-ish" and random 1x1 "lin" layers. Here LPAPS is implemented as described in the paper
  (frozen VGG-16-like network on per-band standardised spectrograms, unit-normalised features of five taps, squared
  difference, a non-negative 1x1 "lin" per tap, spatial mean, sum) and `perceptual_weight` stays at the paper's 1.0;
  the VGGish-ish weights must be given (`SpecVQGANLPAPS.load_vggishish`, not downloadable here) and the lin layers
  start at 1/C per channel (no human-judgement calibration exists for spectrograms). Until real weights are loaded
  the loss refuses to run with `perceptual_weight > 0` (`require_pretrained=True`), rather than silently repeat the
  erratum; pass `require_pretrained=False` to reproduce the authors' random network on purpose. Converted official
  codebooks were effectively trained without a perceptual term (docs/specvqgan.md).
- Adversarial loss: hinge (the code's default; the paper writes the log-loss). The adaptive weight is clamped to
  [`min_adapt_weight`, `max_adapt_weight`] = [1, 1] as in the released configs (effectively 0.8 x g-loss).
- The codebook loss keeps the reference's weighting: `mean((sg[e] - z)^2) + 0.25 * mean((e - sg[z])^2)`.
- The causal mask covers the condition prefix (features attend only to earlier features), a reference quirk kept
  for weight compatibility; the feature count N and the class token are config fields (`num_features`,
  `num_classes`); released checkpoints exist for N = 1, 5 and 212.
- Token sequence convention: `input_ids[:, 0]` is `config.bos_token_id`, a stand-in for the condition: its slot
  holds the last condition vector, whose output predicts the first index; then the indices so far. The transformer
  sees [condition (N); tok_emb(indices[:-1])] exactly as the reference, and `logits[:, j]` scores index j, so
  `labels` are the indices themselves (no shift). `generate` returns indices without the stand-in.
- `decode_code` is broken in the reference (it calls a missing `embed_code`); the index path here is the working
  one the reference's sampler uses (codebook rows -> `post_quant_conv` -> decoder).
- Attention (the Stage I spatial attention blocks and the transformer) goes through transformers' attention
  interface (`eager` here, `sdpa` and the others from `ALL_ATTENTION_FUNCTIONS`).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import CausalLMOutputWithPast
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ..configuration.configuration_specvqgan import SpecVQGANConfig, SpecVQGANSamplerConfig, attention_levels
from ..processors.validation import check_finite, check_float_features, check_ids
from .layers.attention import MultiHeadAttention, attentions_by_prefix, dispatch_attention, returns_attentions
from .loading import CheckedLoadingMixin


# ----------------------------------------------------------------------------- Stage I building blocks
def normalize(channels: int) -> nn.GroupNorm:
    """The reference's `Normalize`: GroupNorm with 32 groups and eps 1e-6."""
    return nn.GroupNorm(num_groups=32, num_channels=channels, eps=1e-6, affine=True)


class SpecVQGANResnetBlock(nn.Module):
    """GroupNorm -> swish -> 3x3 conv -> GroupNorm -> swish -> dropout -> 3x3 conv, plus the input (through a 1x1
    `nin_shortcut` when the width changes)."""

    def __init__(self, in_channels: int, out_channels: int, dropout: float):
        super().__init__()
        self.norm1 = normalize(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=1, padding=1)
        self.norm2 = normalize(out_channels)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1)
        if in_channels != out_channels:
            self.nin_shortcut = nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=1, padding=0)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        out = self.conv1(F.silu(self.norm1(hidden)))
        out = self.conv2(self.dropout(F.silu(self.norm2(out))))
        if hasattr(self, "nin_shortcut"):
            hidden = self.nin_shortcut(hidden)
        return hidden + out


class SpecVQGANAttnBlock(nn.Module):
    """Single-head self-attention over all positions of a feature map (1x1 convs q, k, v, proj_out), residual."""

    def __init__(self, channels: int, config: SpecVQGANConfig):
        super().__init__()
        self.config = config
        self.norm = normalize(channels)
        self.q = nn.Conv2d(channels, channels, kernel_size=1)
        self.k = nn.Conv2d(channels, channels, kernel_size=1)
        self.v = nn.Conv2d(channels, channels, kernel_size=1)
        self.proj_out = nn.Conv2d(channels, channels, kernel_size=1)
        self.is_causal = False

    dispatches_attention = True  # through the one attention dispatch (modeling/layers/attention.py)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, channels, height, width = hidden.shape
        normed = self.norm(hidden)

        def tokens(conv):  # (B, C, h, w) -> (B, 1 head, h*w, C)
            return conv(normed).flatten(2).transpose(1, 2)[:, None]

        out, _ = dispatch_attention(self, tokens(self.q), tokens(self.k), tokens(self.v), None, channels**-0.5)
        out = out.reshape(batch, height * width, channels).transpose(1, 2).reshape(batch, channels, height, width)
        return hidden + self.proj_out(out)


class SpecVQGANDownsample(nn.Module):
    """Zero-pad one column and row at the end, then a 3x3 stride-2 convolution (80 -> 40 -> 20 -> 10 -> 5)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=2, padding=0)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.conv(F.pad(hidden, (0, 1, 0, 1)))


class SpecVQGANUpsample(nn.Module):
    """Nearest-neighbour x2, then a 3x3 convolution."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel_size=3, stride=1, padding=1)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(hidden, scale_factor=2.0, mode="nearest"))


class SpecVQGANLevel(nn.Module):
    """One resolution level: `block` (ResNet blocks), `attn` (one after each block at attention levels) and the
    resampling (`downsample` in the encoder, `upsample` in the decoder) where there is one."""

    def __init__(self, widths: list[tuple[int, int]], attention: bool, config: SpecVQGANConfig):
        super().__init__()
        self.block = nn.ModuleList(SpecVQGANResnetBlock(i, o, config.dropout) for i, o in widths)
        self.attn = nn.ModuleList(SpecVQGANAttnBlock(o, config) for _, o in widths) if attention else nn.ModuleList()

    def run_blocks(self, hidden: torch.Tensor) -> torch.Tensor:
        for index, block in enumerate(self.block):
            hidden = block(hidden)
            if len(self.attn):
                hidden = self.attn[index](hidden)
        return hidden


class SpecVQGANMid(nn.Module):
    def __init__(self, channels: int, config: SpecVQGANConfig):
        super().__init__()
        self.block_1 = SpecVQGANResnetBlock(channels, channels, config.dropout)
        self.attn_1 = SpecVQGANAttnBlock(channels, config)
        self.block_2 = SpecVQGANResnetBlock(channels, channels, config.dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.block_2(self.attn_1(self.block_1(hidden)))


class SpecVQGANEncoder(nn.Module):
    """`(B, in_channels, F, T)` -> `(B, z_channels, F / 2^(L-1), T / 2^(L-1))` (the reference's `Encoder`)."""

    def __init__(self, config: SpecVQGANConfig):
        super().__init__()
        widths = [config.base_channels * m for m in config.channel_multipliers]
        attention = attention_levels(config.resolution, config.num_levels, config.attn_resolutions)
        self.conv_in = nn.Conv2d(config.in_channels, config.base_channels, kernel_size=3, stride=1, padding=1)
        self.down = nn.ModuleList()
        block_in = config.base_channels
        for level, block_out in enumerate(widths):
            pairs = [(block_in if j == 0 else block_out, block_out) for j in range(config.num_res_blocks)]
            stage = SpecVQGANLevel(pairs, level in attention, config)
            if level != config.num_levels - 1:
                stage.downsample = SpecVQGANDownsample(block_out)
            self.down.append(stage)
            block_in = block_out
        self.mid = SpecVQGANMid(block_in, config)
        self.norm_out = normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, config.z_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        hidden = self.conv_in(spectrogram)
        for stage in self.down:
            hidden = stage.run_blocks(hidden)
            if hasattr(stage, "downsample"):
                hidden = stage.downsample(hidden)
        hidden = self.mid(hidden)
        return self.conv_out(F.silu(self.norm_out(hidden)))


class SpecVQGANDecoder(nn.Module):
    """`(B, z_channels, f, t)` -> `(B, out_channels, f 2^(L-1), t 2^(L-1))`; `up[i]` is level i, run from the last
    level down to 0, with `num_res_blocks + 1` blocks each (the reference's `Decoder`). No output activation."""

    def __init__(self, config: SpecVQGANConfig):
        super().__init__()
        widths = [config.base_channels * m for m in config.channel_multipliers]
        attention = attention_levels(config.resolution, config.num_levels, config.attn_resolutions)
        block_in = widths[-1]
        self.conv_in = nn.Conv2d(config.z_channels, block_in, kernel_size=3, stride=1, padding=1)
        self.mid = SpecVQGANMid(block_in, config)
        levels = []
        for level in reversed(range(config.num_levels)):
            block_out = widths[level]
            pairs = [(block_in if j == 0 else block_out, block_out) for j in range(config.num_res_blocks + 1)]
            stage = SpecVQGANLevel(pairs, level in attention, config)
            if level != 0:
                stage.upsample = SpecVQGANUpsample(block_out)
            levels.insert(0, stage)
            block_in = block_out
        self.up = nn.ModuleList(levels)
        self.norm_out = normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, config.out_channels, kernel_size=3, stride=1, padding=1)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        hidden = self.mid(self.conv_in(latents))
        for stage in reversed(self.up):
            hidden = stage.run_blocks(hidden)
            if hasattr(stage, "upsample"):
                hidden = stage.upsample(hidden)
        return self.conv_out(F.silu(self.norm_out(hidden)))


class SpecVQGANVectorQuantizer(nn.Module):
    """Nearest codebook entry per position (squared Euclidean distance ||z||^2 + ||e||^2 - 2 z.e, first index on
    ties), straight-through gradient, the reference's codebook loss and the batch perplexity of code usage."""

    def __init__(self, num_embeddings: int, embed_dim: int, commitment_cost: float):
        super().__init__()
        self.commitment_cost = commitment_cost
        self.embedding = nn.Embedding(num_embeddings, embed_dim)

    def forward(self, latents: torch.Tensor):
        """`(B, C, h, w)` -> (quantised `(B, C, h, w)`, codebook loss, indices `(B, h*w)` row-major, perplexity)."""
        batch, channels, height, width = latents.shape
        z = latents.permute(0, 2, 3, 1).reshape(-1, channels)
        codebook = self.embedding.weight
        distances = z.pow(2).sum(dim=1, keepdim=True) + codebook.pow(2).sum(dim=1) - 2 * torch.matmul(z, codebook.t())
        indices = distances.argmin(dim=1)
        quantized = F.embedding(indices, codebook)
        loss = torch.mean((quantized.detach() - z) ** 2) + self.commitment_cost * torch.mean(
            (quantized - z.detach()) ** 2
        )
        quantized = z + (quantized - z).detach()
        usage = torch.bincount(indices, minlength=codebook.shape[0]).to(z.dtype) / indices.numel()
        perplexity = torch.exp(-torch.sum(usage * torch.log(usage + 1e-10)))
        quantized = quantized.view(batch, height, width, channels).permute(0, 3, 1, 2).contiguous()
        return quantized, loss, indices.view(batch, height * width), perplexity

    def get_codebook_entry(self, indices: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """Indices `(B, h*w)` row-major -> codebook rows `(B, C, h, w)`."""
        rows = F.embedding(indices.reshape(indices.shape[0], -1), self.embedding.weight)
        return rows.view(indices.shape[0], grid[0], grid[1], -1).permute(0, 3, 1, 2).contiguous()


# ----------------------------------------------------------------------------- outputs
@dataclass
class SpecVQGANEncoderOutput(ModelOutput):
    """`indices` `(B, h*w)` row-major over the `(h, w)` latent grid; `quantized` `(B, embed_dim, h, w)` (straight-
    through values); `codebook_loss` `()`; `perplexity` `()` of code usage in the batch; `latents` the encoder output
    after `quant_conv` (what the quantiser sees)."""

    indices: torch.LongTensor | None = None
    quantized: torch.FloatTensor | None = None
    codebook_loss: torch.FloatTensor | None = None
    perplexity: torch.FloatTensor | None = None
    latents: torch.FloatTensor | None = None


@dataclass
class SpecVQGANOutput(ModelOutput):
    """`loss` (with `return_loss`): `pixel_loss_weight * mean|x - x_rec| + codebook_weight * codebook_loss` (the
    perceptual and adversarial terms are in [`SpecVQGANTrainingLoss`]); `reconstruction` `(B, F, T)` (the input's
    layout); `codebook_loss`, `indices` `(B, h*w)`, `perplexity`."""

    loss: torch.FloatTensor | None = None
    reconstruction: torch.FloatTensor | None = None
    codebook_loss: torch.FloatTensor | None = None
    indices: torch.LongTensor | None = None
    perplexity: torch.FloatTensor | None = None
    attentions: tuple[torch.FloatTensor, ...] | None = None  # with output_attentions=True


@dataclass
class SpecVQGANGenerationOutput(ModelOutput):
    """`indices` `(B, H*W)` in the transformer's column-major order; `indices_row_major` `(B, H*W)` the Stage I
    (quantiser) order; `spectrogram` `(B, F, T)` in the model's [-1, 1] scale (not clamped), when decoded."""

    indices: torch.LongTensor | None = None
    indices_row_major: torch.LongTensor | None = None
    spectrogram: torch.FloatTensor | None = None


# ----------------------------------------------------------------------------- input checks
_check_finite = check_finite  # the shared check (docs/bad_input.md): NaN, +inf and -inf counted and named


def check_spectrogram(
    input_features, config: SpecVQGANConfig, name: str = "input_features", model_dtype: torch.dtype | None = None
) -> torch.Tensor:
    """`(B, F, T)` or `(B, 1, F, T)` log-mel in [-1, 1] -> `(B, 1, F, T)`; a clear error otherwise. float64 only
    for a float64 model (`model_dtype`)."""
    check_float_features(name, input_features, check_values=False, model_dtype=model_dtype)
    if input_features.dim() == 3:
        input_features = input_features[:, None]
    if input_features.dim() != 4 or input_features.shape[1] != config.in_channels:
        raise ValueError(
            f"{name} must be (B, {config.num_mel_bins}, frames) or (B, {config.in_channels}, {config.num_mel_bins}, "
            f"frames), got {tuple(input_features.shape)}"
        )
    if input_features.shape[2] != config.num_mel_bins:
        raise ValueError(f"{name} has {input_features.shape[2]} mel bins, the model takes {config.num_mel_bins}")
    if input_features.shape[3] < config.downsampling_factor:
        raise ValueError(
            f"{name} has {input_features.shape[3]} frames, below the downsampling factor {config.downsampling_factor}"
        )
    _check_finite(name, input_features)
    low, high = input_features.min().item(), input_features.max().item()
    if low < -1.001 or high > 1.001:  # the front end's [0, 1] scale mapped by 2x - 1; 1e-3 of slack for rounding
        raise ValueError(
            f"{name} must be in [-1, 1] (the [0, 1] log-mel of the feature extractor mapped by 2x - 1), "
            f"got values in [{low:.3g}, {high:.3g}]"
        )
    return input_features


def check_indices(indices, num_embeddings: int, name: str = "indices") -> torch.Tensor:
    """Codebook indices: an integer tensor in [0, num_embeddings) (the shared id check), returned as long."""
    check_ids(name, indices, num_embeddings)
    return indices.long()


# ----------------------------------------------------------------------------- pre-trained base
class SpecVQGANPreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    config: SpecVQGANConfig | SpecVQGANSamplerConfig
    base_model_prefix = "specvqgan"
    input_modalities = ("audio",)
    supports_gradient_checkpointing = False
    _supports_sdpa = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module):
        """The reference's initialisation: PyTorch's defaults for the Stage I convolutions and the feature embedder,
        the codebook U(-1/K, 1/K); the transformer's Linear / Embedding N(0, 0.02), biases 0, LayerNorm 1 / 0, the
        positional table 0; the class embedding N(0, 1) (created after the reference's init pass)."""
        import math

        from transformers import initialization as init

        if isinstance(module, (nn.Conv2d, nn.Conv1d)) or getattr(module, "keeps_default_init", False):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, SpecVQGANTransformer):
            init.zeros_(module.pos_emb)
        elif isinstance(module, nn.Embedding) and getattr(module, "_is_codebook", False):
            init.uniform_(module.weight, -1.0 / module.num_embeddings, 1.0 / module.num_embeddings)
        elif isinstance(module, nn.Embedding) and getattr(module, "unit_normal_init", False):
            init.normal_(module.weight, 0.0, 1.0)  # the class embedding: PyTorch's default N(0, 1)
        elif isinstance(module, (nn.Linear, nn.Embedding)):
            init.normal_(module.weight, 0.0, getattr(self.config, "initializer_range", 0.02))
            if isinstance(module, nn.Linear) and module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, (nn.GroupNorm, nn.LayerNorm)):
            init.ones_(module.weight)
            init.zeros_(module.bias)


# ----------------------------------------------------------------------------- Stage I
class SpecVQGANModel(SpecVQGANPreTrainedModel):
    """Stage I, the spectrogram VQGAN (the reference's `VQModel`).

    `input_features`: `(B, F, T)` (or `(B, 1, F, T)`) log-mel spectrogram in [-1, 1] (the feature extractor's
    [0, 1] output mapped by 2x - 1; 80 x 848 for the released models). `forward` returns the reconstruction, the
    codebook loss, the indices and the perplexity; with `return_loss=True` also the L1 + codebook loss.
    """

    config: SpecVQGANConfig
    main_input_name = "input_features"

    def __init__(self, config: SpecVQGANConfig):
        super().__init__(config)
        self.encoder = SpecVQGANEncoder(config)
        self.decoder = SpecVQGANDecoder(config)
        self.quantize = SpecVQGANVectorQuantizer(config.num_embeddings, config.embed_dim, config.commitment_cost)
        self.quantize.embedding._is_codebook = True
        self.quant_conv = nn.Conv2d(config.z_channels, config.embed_dim, kernel_size=1)
        self.post_quant_conv = nn.Conv2d(config.embed_dim, config.z_channels, kernel_size=1)
        self.post_init()

    def encode(self, input_features: torch.Tensor) -> SpecVQGANEncoderOutput:
        """Spectrogram -> codebook indices `(B, h*w)` (row-major over the `(h, w)` grid) and quantised latents."""
        spectrogram = check_spectrogram(input_features, self.config, model_dtype=self.dtype)
        latents = self.quant_conv(self.encoder(spectrogram))
        quantized, loss, indices, perplexity = self.quantize(latents)
        return SpecVQGANEncoderOutput(
            indices=indices, quantized=quantized, codebook_loss=loss, perplexity=perplexity, latents=latents
        )

    def decode(
        self,
        indices: torch.Tensor | None = None,
        quantized: torch.Tensor | None = None,
        latent_grid: tuple[int, int] | None = None,
    ) -> torch.Tensor:
        """Codebook indices or quantised latents -> spectrogram `(B, F, T)` (not clamped).

        `indices`: `(B, h, w)`, or `(B, h*w)` row-major with `latent_grid=(h, w)` (default: `num_mel_bins` rows
        downsampled, i.e. h = 5 for 80 bins). `quantized`: `(B, embed_dim, h, w)`.
        """
        if (indices is None) == (quantized is None):
            raise ValueError("pass exactly one of indices and quantized")
        if indices is not None:
            indices = check_indices(indices, self.config.num_embeddings)
            if indices.dim() == 3:
                latent_grid = tuple(indices.shape[1:])
            elif indices.dim() == 2:
                if latent_grid is None:
                    rows = self.config.latent_size(self.config.downsampling_factor)[0]
                    if indices.shape[1] % rows:
                        raise ValueError(f"indices of length {indices.shape[1]} do not fill {rows} rows")
                    latent_grid = (rows, indices.shape[1] // rows)
                if latent_grid[0] * latent_grid[1] != indices.shape[1]:
                    raise ValueError(f"indices of length {indices.shape[1]} do not fit latent_grid {latent_grid}")
            else:
                raise ValueError(f"indices must be (B, h, w) or (B, h*w), got {tuple(indices.shape)}")
            quantized = self.quantize.get_codebook_entry(indices, latent_grid)
        else:
            check_float_features("quantized", quantized, check_values=False, model_dtype=self.dtype)
            if quantized.dim() != 4 or quantized.shape[1] != self.config.embed_dim:
                raise ValueError(f"quantized must be (B, {self.config.embed_dim}, h, w), got {tuple(quantized.shape)}")
            _check_finite("quantized", quantized)
        spectrogram = self.decoder(self.post_quant_conv(quantized))
        return spectrogram[:, 0] if spectrogram.shape[1] == 1 else spectrogram

    @can_return_tuple
    @returns_attentions(attentions=lambda name: True)
    def forward(self, input_features: torch.Tensor, return_loss: bool | None = None, **kwargs) -> SpecVQGANOutput:
        squeeze = input_features.dim() == 3
        encoded = self.encode(input_features)
        reconstruction = self.decoder(self.post_quant_conv(encoded.quantized))
        loss = None
        if return_loss:
            target = input_features[:, None] if squeeze else input_features
            loss = self.config.pixel_loss_weight * (target - reconstruction).abs().mean()
            loss = loss + self.config.codebook_weight * encoded.codebook_loss
        return SpecVQGANOutput(
            loss=loss,
            reconstruction=reconstruction[:, 0] if squeeze else reconstruction,
            codebook_loss=encoded.codebook_loss,
            indices=encoded.indices,
            perplexity=encoded.perplexity,
        )

    @torch.no_grad()
    def init_codebook_from(self, input_features: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """Set the codebook to encoder outputs (after `quant_conv`) at random positions of `input_features`, a
        data-dependent start against the collapse of a U(-1/K, 1/K) codebook onto a few codes when training from
        scratch (not in the reference; the synthetic task uses it). Needs at least K positions."""
        latents = self.quant_conv(self.encoder(check_spectrogram(input_features, self.config, model_dtype=self.dtype)))
        vectors = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1])
        count = self.config.num_embeddings
        if len(vectors) < count:
            raise ValueError(f"input_features give {len(vectors)} latent vectors, fewer than the {count} codes")
        self.quantize.embedding.weight.copy_(vectors[torch.randperm(len(vectors), generator=generator)[:count]])

    def get_last_layer(self) -> torch.Tensor:
        """The decoder's last weight, where the adaptive GAN weight compares gradients."""
        return self.decoder.conv_out.weight


# ----------------------------------------------------------------------------- Stage I training parts
class SpecVQGANPatchDiscriminator(nn.Module):
    """pix2pix PatchGAN (the reference's `NLayerDiscriminator`): 4x4 conv s2 -> LReLU(0.2); (n - 1) x [4x4 conv s2,
    BatchNorm, LReLU]; 4x4 conv s1, BatchNorm, LReLU; 4x4 conv s1 -> 1 logit map (8 x 104 for 80 x 848)."""

    def __init__(self, in_channels: int = 1, base_channels: int = 64, num_layers: int = 3):
        super().__init__()
        layers = [nn.Conv2d(in_channels, base_channels, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        multiplier = 1
        for n in range(1, num_layers + 1):
            previous, multiplier = multiplier, min(2**n, 8)
            stride = 2 if n < num_layers else 1
            layers += [
                nn.Conv2d(base_channels * previous, base_channels * multiplier, 4, stride, 1, bias=False),
                nn.BatchNorm2d(base_channels * multiplier),
                nn.LeakyReLU(0.2, True),
            ]
        layers.append(nn.Conv2d(base_channels * multiplier, 1, 4, 1, 1))
        self.main = nn.Sequential(*layers)
        for module in self.modules():  # the reference's `weights_init`
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        return self.main(spectrogram if spectrogram.dim() == 4 else spectrogram[:, None])


class SpecVQGANLPAPS(nn.Module):
    """Learned Perceptual Audio Patch Similarity: a frozen VGG-16-like spectrogram network ("VGGish-ish": blocks of
    2, 2, 3, 3, 3 3x3 convolutions + ReLU with max-pools between) on spectrograms standardised per mel band, the
    unit-normalised channel vectors of the last ReLU of each block, squared differences, a non-negative 1x1 "lin"
    conv per tap, spatial mean, sum over taps -> `(B, 1, 1, 1)`.

    `band_means` / `band_stds`: per-band statistics of the [0, 1] training spectrograms (80 values each; the
    released `train_means_stds_melspec_10s_22050hz.txt`); they are rescaled to the [-1, 1] input as the reference
    does (2 mean - 1, 2 std). The lin layers start at 1/C (see the model file header).
    """

    def __init__(self, channels=(64, 128, 256, 512, 512), band_means=None, band_stds=None, num_mel_bins: int = 80):
        super().__init__()
        convs_per_block = (2, 2, 3, 3, 3)
        features, in_channels = [], 1
        for block, (width, count) in enumerate(zip(channels, convs_per_block)):
            if block:
                features.append(nn.MaxPool2d(kernel_size=2, stride=2))
            for _ in range(count):
                features += [nn.Conv2d(in_channels, width, kernel_size=3, padding=1), nn.ReLU()]
                in_channels = width
        self.features = nn.Sequential(*features)
        self.taps = [
            i
            for i, m in enumerate(self.features)
            if isinstance(m, nn.ReLU)
            and (i + 1 == len(self.features) or isinstance(self.features[i + 1], nn.MaxPool2d))
        ]
        self.lins = nn.ModuleList(nn.Conv2d(width, 1, kernel_size=1, bias=False) for width in channels)
        with torch.no_grad():
            for lin in self.lins:
                lin.weight.fill_(1.0 / lin.weight.shape[1])
        means = torch.zeros(num_mel_bins) + 0.5 if band_means is None else torch.as_tensor(band_means).float()
        stds = torch.zeros(num_mel_bins) + 0.5 if band_stds is None else torch.as_tensor(band_stds).float()
        self.register_buffer("shift", (2 * means - 1)[None, None, :, None])
        self.register_buffer("scale", (2 * stds)[None, None, :, None])
        self.pretrained = False
        self.requires_grad_(False)

    @staticmethod
    def read_band_statistics(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
        """The released "mean std" text file (one mel band per line) -> (means, stds)."""
        rows = [line.split() for line in Path(path).read_text().splitlines() if line.strip()]
        if not rows or any(len(row) != 2 for row in rows):
            raise ValueError(f"{path}: expected one 'mean std' pair per line")
        values = torch.tensor([[float(a), float(b)] for a, b in rows])
        return values[:, 0], values[:, 1]

    def load_vggishish(self, state_dict: dict[str, torch.Tensor]):
        """Load the VGGish-ish convolutions (`features.{i}.weight/bias` of the authors' `VGGishish`, the classifier
        keys are ignored) strictly: every convolution must be present with its shape."""
        own = {k: v for k, v in self.state_dict().items() if k.startswith("features.")}
        given = {k: v for k, v in state_dict.items() if k.startswith("features.")}
        missing = sorted(set(own) - set(given))
        if missing:
            raise ValueError(f"the VGGish-ish state dict lacks {missing[:5]} (is it the right checkpoint?)")
        for key, value in own.items():
            if given[key].shape != value.shape:
                raise ValueError(f"{key}: shape {tuple(given[key].shape)}, expected {tuple(value.shape)}")
            value.copy_(given[key])
        self.pretrained = True

    def forward(self, inputs: torch.Tensor, reconstructions: torch.Tensor) -> torch.Tensor:
        def taps(x):
            x = (x - self.shift) / self.scale
            outputs = []
            for index, layer in enumerate(self.features):
                x = layer(x)
                if index in self.taps:
                    outputs.append(x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + 1e-10))
            return outputs

        total = 0.0
        for a, b, lin in zip(taps(inputs), taps(reconstructions), self.lins):
            total = total + lin((a - b) ** 2).mean(dim=(2, 3), keepdim=True)
        return total


def hinge_discriminator_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """1/2 (mean ReLU(1 - D(x)) + mean ReLU(1 + D(x_rec)))."""
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


class SpecVQGANTrainingLoss(nn.Module):
    """The reference's `VQLPAPSWithDiscriminator`: the autoencoder step (`optimizer_index=0`)
    `nll + lambda * disc_factor * (-mean D(x_rec)) + codebook_weight * codebook_loss` with
    `nll = mean(pixel_weight |x - x_rec| + perceptual_weight LPAPS)` and the adaptive weight `lambda` =
    clamp(||grad nll|| / (||grad g|| + 1e-4), min, max) * disc_weight on the decoder's last layer; the discriminator
    step (`optimizer_index=1`) `disc_factor * hinge`. `disc_factor` is 0 before `disc_start` steps, then 1."""

    def __init__(self, config: SpecVQGANConfig, lpaps: SpecVQGANLPAPS | None = None, require_pretrained: bool = True):
        super().__init__()
        self.config = config
        self.discriminator = SpecVQGANPatchDiscriminator(
            config.out_channels, config.disc_base_channels, config.disc_num_layers
        )
        self.perceptual_loss = (
            lpaps
            if lpaps is not None
            else SpecVQGANLPAPS(config.lpaps_channels, num_mel_bins=config.num_mel_bins)
            if config.perceptual_weight > 0
            else None
        )
        self.require_pretrained = require_pretrained

    def adaptive_weight(self, nll_loss, g_loss, last_layer) -> torch.Tensor:
        nll_grads = torch.autograd.grad(nll_loss, last_layer, retain_graph=True)[0]
        g_grads = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
        weight = torch.norm(nll_grads) / (torch.norm(g_grads) + 1e-4)
        weight = torch.clamp(weight, self.config.min_adapt_weight, self.config.max_adapt_weight).detach()
        return weight * self.config.disc_weight

    def forward(
        self,
        codebook_loss: torch.Tensor,
        inputs: torch.Tensor,
        reconstructions: torch.Tensor,
        optimizer_index: int,
        global_step: int,
        last_layer: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        inputs = inputs if inputs.dim() == 4 else inputs[:, None]
        reconstructions = reconstructions if reconstructions.dim() == 4 else reconstructions[:, None]
        disc_factor = 1.0 if global_step >= self.config.disc_start else 0.0
        if optimizer_index == 1:
            logits_real = self.discriminator(inputs.detach())
            logits_fake = self.discriminator(reconstructions.detach())
            loss = disc_factor * hinge_discriminator_loss(logits_real, logits_fake)
            return loss, {"disc_loss": loss.detach(), "logits_real": logits_real.detach().mean()}
        rec_loss = self.config.pixel_loss_weight * (inputs - reconstructions).abs()
        p_loss = torch.zeros((), device=inputs.device)
        if self.config.perceptual_weight > 0:
            if self.require_pretrained and not self.perceptual_loss.pretrained:
                raise RuntimeError(
                    "perceptual_weight > 0 but the LPAPS network has no VGGish-ish weights: load them with "
                    "`loss.perceptual_loss.load_vggishish(state_dict)`, set perceptual_weight=0, or pass "
                    "require_pretrained=False to train with a random network as the released codebooks did"
                )
            p_loss = self.perceptual_loss(inputs, reconstructions)
            rec_loss = rec_loss + self.config.perceptual_weight * p_loss
        nll_loss = rec_loss.mean()
        g_loss = -self.discriminator(reconstructions).mean()
        if disc_factor > 0 and last_layer is not None and torch.is_grad_enabled():
            d_weight = self.adaptive_weight(nll_loss, g_loss, last_layer)
        else:
            d_weight = torch.zeros((), device=inputs.device)
        loss = nll_loss + d_weight * disc_factor * g_loss + self.config.codebook_weight * codebook_loss.mean()
        logs = {
            "total_loss": loss.detach(),
            "quant_loss": codebook_loss.detach().mean(),
            "nll_loss": nll_loss.detach(),
            "p_loss": p_loss.detach().mean(),
            "d_weight": d_weight.detach(),
            "g_loss": g_loss.detach(),
        }
        return loss, logs


# ----------------------------------------------------------------------------- Stage II
def column_major_order(rows: int, columns: int) -> torch.Tensor:
    """Permutation `p` with `column_major = row_major[:, p]` (the reference's `ColumnMajor`): all rows of column 0,
    then of column 1, ... (5 x 53: 0, 53, 106, 159, 212, 1, 54, ...)."""
    return torch.arange(rows * columns).reshape(rows, columns).t().reshape(-1)


class SpecVQGANBlock(nn.Module):
    """Pre-LN block: `x + attn(ln1(x))`, `x + mlp(ln2(x))`; MLP Linear -> exact GELU -> Linear -> dropout."""

    def __init__(self, config: SpecVQGANSamplerConfig, layer_idx: int):
        super().__init__()
        self.ln1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.ln2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        # the reference's CausalSelfAttention: separate `key`, `query`, `value` projections and `proj`; the causal
        # mask comes from SpecVQGANTransformer; dropout after the projection (`resid_drop`)
        self.attn = MultiHeadAttention(
            config,
            config.hidden_size,
            config.num_attention_heads,
            dropout=config.attention_dropout,
            out_proj_name="proj",
            projection_names=("query", "key", "value"),
            cache_index=layer_idx,
        )
        self.resid_drop = nn.Dropout(config.hidden_dropout)
        self.mlp = nn.Sequential(
            nn.Linear(config.hidden_size, config.intermediate_size),
            nn.GELU(),
            nn.Linear(config.intermediate_size, config.hidden_size),
            nn.Dropout(config.hidden_dropout),
        )

    def forward(self, hidden, mask, cache):
        hidden = hidden + self.resid_drop(self.attn(self.ln1(hidden), attention_mask=mask, past_key_values=cache)[0])
        return hidden + self.mlp(self.ln2(hidden))


class SpecVQGANTransformer(nn.Module):
    """The reference's `GPTFeats` / `GPTFeatsClass` (state-dict names kept): `embedder` projects each feature vector
    (a kernel-1 Conv1d there, a Linear here), `cls_embedder` embeds the class, `tok_emb` the indices, `pos_emb` is a
    learned absolute table, then `blocks`, `ln_f` and a bias-free `head`."""

    def __init__(self, config: SpecVQGANSamplerConfig):
        super().__init__()
        self.config = config
        self.embedder = nn.Linear(config.feature_size, config.hidden_size)
        self.embedder.keeps_default_init = True
        self.cls_embedder = nn.Embedding(config.num_classes, config.hidden_size) if config.num_classes > 0 else None
        if self.cls_embedder is not None:
            self.cls_embedder.unit_normal_init = True
        self.tok_emb = nn.Embedding(config.codebook_size, config.hidden_size)
        self.pos_emb = nn.Parameter(torch.zeros(1, config.max_position_embeddings, config.hidden_size))
        self.drop = nn.Dropout(config.embedding_dropout)
        self.blocks = nn.ModuleList(SpecVQGANBlock(config, i) for i in range(config.num_hidden_layers))
        self.ln_f = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.head = nn.Linear(config.hidden_size, config.codebook_size, bias=False)

    def condition(self, visual_features: torch.Tensor, class_ids: torch.Tensor | None) -> torch.Tensor:
        """`(B, N, feature_size)` (+ `(B,)` classes) -> `(B, N (+1), hidden)` condition tokens."""
        condition = self.embedder(visual_features)
        if self.cls_embedder is not None:
            condition = torch.cat([condition, self.cls_embedder(class_ids)[:, None]], dim=1)
        return condition

    def forward(self, embeddings: torch.Tensor, past_length: int, cache: Cache | None) -> torch.Tensor:
        """Embedded sequence `(B, L, hidden)` starting at position `past_length` -> hidden states `(B, L, hidden)`."""
        length = embeddings.shape[1]
        if past_length + length > self.pos_emb.shape[1]:
            raise ValueError(
                f"the sequence needs {past_length + length} positions, the model has {self.pos_emb.shape[1]}"
            )
        hidden = self.drop(embeddings + self.pos_emb[:, past_length : past_length + length])
        mask = None
        if past_length > 0 and length > 1:  # queries see the cache and the earlier new tokens
            keys = torch.arange(past_length + length, device=hidden.device)
            queries = torch.arange(past_length, past_length + length, device=hidden.device)
            mask = (keys[None, :] <= queries[:, None])[None, None]
        elif past_length == 0 and length > 1:
            mask = torch.ones(length, length, dtype=torch.bool, device=hidden.device).tril()[None, None]
        for block in self.blocks:
            hidden = block(hidden, mask, cache)
        return self.ln_f(hidden)


class SpecVQGANForConditionalGeneration(SpecVQGANPreTrainedModel, GenerationMixin):
    """Stage II: visual features (+ class) -> codebook indices -> spectrogram (the reference's `Net2NetTransformer`
    with a frozen Stage I `first_stage_model`).

    Inputs: `visual_features` `(B, N, feature_size)` (N = `config.num_features`, e.g. 212 ResNet-50 vectors of a
    10 s clip, see the processor); `class_ids` `(B,)` for a class-conditioned model; either `input_features`, a
    spectrogram `(B, F, T)` in [-1, 1] that the frozen Stage I turns into the target indices (teacher forcing, the
    reference's training step), or `input_ids` `(B, L)` = [`bos_token_id`, column-major indices so far] (see the
    model file header). `labels` `(B, L)`: `logits[:, j]` is scored against `labels[:, j]` (-100 ignored).
    """

    config: SpecVQGANSamplerConfig
    main_input_name = "input_ids"
    _keys_to_ignore_on_load_unexpected = [r"attn\.mask", r"first_stage_permuter\."]

    def __init__(self, config: SpecVQGANSamplerConfig):
        super().__init__(config)
        self.first_stage_model = SpecVQGANModel(config.first_stage_config)
        self.transformer = SpecVQGANTransformer(config)
        self.post_init()
        self.first_stage_model.requires_grad_(False)  # frozen, as the reference's `init_first_stage_from_ckpt`
        if self.generation_config is not None:
            self.generation_config.bos_token_id = config.bos_token_id
            self.generation_config.pad_token_id = None
            self.generation_config.eos_token_id = None

    @classmethod
    def from_first_stage(cls, first_stage_model: SpecVQGANModel, config: SpecVQGANSamplerConfig):
        """A new sampler on a trained Stage I (its config replaces `config.first_stage_config`), as the reference's
        `first_stage_config.params.ckpt_path`; the transformer starts from its initialisation."""
        config.first_stage_config = first_stage_model.config
        model = cls(config)
        model.first_stage_model.load_state_dict(first_stage_model.state_dict())
        return model

    def train(self, mode: bool = True):
        super().train(mode)
        self.first_stage_model.eval()  # the reference's `disabled_train`: Stage I stays in eval mode
        return self

    def get_input_embeddings(self):
        return self.transformer.tok_emb

    def set_input_embeddings(self, value):
        self.transformer.tok_emb = value

    # ---- order and Stage I
    def to_column_major(self, indices: torch.Tensor) -> torch.Tensor:
        # computed on use, not a buffer: a non-persistent buffer is left uninitialised by `from_pretrained`
        return indices[:, column_major_order(*self.config.latent_grid).to(indices.device)]

    def to_row_major(self, indices: torch.Tensor) -> torch.Tensor:
        return indices[:, torch.argsort(column_major_order(*self.config.latent_grid)).to(indices.device)]

    @torch.no_grad()
    def encode_to_indices(self, input_features: torch.Tensor) -> torch.Tensor:
        """Spectrogram `(B, F, T)` in [-1, 1] -> the frozen Stage I's indices `(B, H*W)` in column-major order."""
        indices = self.first_stage_model.encode(input_features).indices
        if indices.shape[1] != self.config.num_tokens:
            raise ValueError(
                f"input_features give {indices.shape[1]} indices, the sampler's grid {list(self.config.latent_grid)} "
                f"has {self.config.num_tokens} (crop the spectrogram to the training length)"
            )
        return self.to_column_major(indices)

    def decode_indices(self, indices: torch.Tensor) -> torch.Tensor:
        """Column-major indices `(B, H*W)` -> spectrogram `(B, F, T)` (the reference's `decode_to_img`)."""
        indices = check_indices(indices, self.config.codebook_size)
        if indices.dim() != 2 or indices.shape[1] != self.config.num_tokens:
            raise ValueError(f"indices must be (B, {self.config.num_tokens}), got {tuple(indices.shape)}")
        return self.first_stage_model.decode(self.to_row_major(indices), latent_grid=tuple(self.config.latent_grid))

    # ---- inputs
    def _check_condition(self, visual_features, class_ids) -> None:
        config = self.config
        check_float_features("visual_features", visual_features, check_values=False, model_dtype=self.dtype)
        if visual_features.dim() != 3 or visual_features.shape[2] != config.feature_size:
            raise ValueError(
                f"visual_features must be (B, {config.num_features}, {config.feature_size}), "
                f"got {tuple(visual_features.shape)}"
            )
        if visual_features.shape[1] != config.num_features:
            raise ValueError(
                f"visual_features has {visual_features.shape[1]} vectors per clip, the model takes "
                f"{config.num_features} (resample them with the processor)"
            )
        _check_finite("visual_features", visual_features)
        if config.num_classes > 0:
            if class_ids is None:
                raise ValueError("this model is class-conditioned: pass class_ids (B,)")
            class_ids = check_indices(class_ids, config.num_classes, "class_ids")
            if class_ids.shape != (visual_features.shape[0],):
                raise ValueError(f"class_ids must be ({visual_features.shape[0]},), got {tuple(class_ids.shape)}")
        elif class_ids is not None:
            raise ValueError("class_ids given, but the model has no class embedding (num_classes = 0)")

    @can_return_tuple
    @returns_attentions(attentions=attentions_by_prefix("transformer."))
    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        visual_features: torch.Tensor | None = None,
        class_ids: torch.LongTensor | None = None,
        input_features: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        past_key_values: Cache | None = None,
        use_cache: bool | None = None,
        attention_mask: torch.Tensor | None = None,
        return_loss: bool | None = None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        config = self.config
        if input_ids is None:
            if input_features is None:
                raise ValueError("pass input_ids or input_features (a spectrogram to teacher-force)")
            target = self.encode_to_indices(input_features)
            bos = torch.full_like(target[:, :1], config.bos_token_id)
            input_ids = torch.cat([bos, target[:, :-1]], dim=1)
            labels = target if labels is None else labels
        elif input_features is not None:
            raise ValueError("pass either input_ids or input_features, not both")
        if input_ids.dim() != 2:
            raise ValueError(f"input_ids must be (B, L), got {tuple(input_ids.shape)}")
        if labels is not None:
            check_ids("labels", labels, config.codebook_size, ignore_index=-100)
            if labels.shape != input_ids.shape:
                raise ValueError(f"labels must have the shape of input_ids {tuple(input_ids.shape)}")
        if attention_mask is not None and not bool(attention_mask.all()):
            raise ValueError("attention_mask must be all ones: the sampler has no padding")
        past_length = past_key_values.get_seq_length() if past_key_values is not None else 0
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache(config=config)
        if past_length == 0:
            if visual_features is None:
                raise ValueError("visual_features are needed (they are the prefix of every sequence)")
            self._check_condition(visual_features, class_ids)
            if input_ids.shape[1] < 1 or not bool((input_ids[:, 0] == config.bos_token_id).all()):
                raise ValueError(f"input_ids must start with bos_token_id {config.bos_token_id} (the condition)")
            tokens = check_indices(input_ids[:, 1:], config.codebook_size, "input_ids")
            embeddings = torch.cat(
                [self.transformer.condition(visual_features, class_ids), self.transformer.tok_emb(tokens)], dim=1
            )
            skip = self.config.num_condition_tokens - 1  # outputs before the last condition token predict nothing
        else:
            embeddings = self.transformer.tok_emb(check_indices(input_ids, config.codebook_size, "input_ids"))
            skip = 0
        hidden = self.transformer(embeddings, past_length, past_key_values if use_cache or past_length else None)
        logits = self.transformer.head(hidden[:, skip:])
        loss = None
        if labels is not None:
            # mean over the scored targets; labels all -100 score nothing: loss 0, not 0 / 0 = NaN
            token_losses = F.cross_entropy(
                logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="none"
            )
            loss = token_losses.sum() / (labels != -100).sum().clamp_min(1)
        return CausalLMOutputWithPast(loss=loss, logits=logits, past_key_values=past_key_values if use_cache else None)

    def prepare_inputs_for_generation(self, input_ids, past_key_values=None, **kwargs):
        past_length = past_key_values.get_seq_length() if past_key_values is not None else 0
        return {
            "input_ids": input_ids if past_length == 0 else input_ids[:, -1:],
            "past_key_values": past_key_values,
            "use_cache": kwargs.get("use_cache", True),
            "visual_features": kwargs.get("visual_features"),
            "class_ids": kwargs.get("class_ids"),
        }

    @torch.no_grad()
    def generate(
        self,
        visual_features: torch.Tensor,
        class_ids: torch.LongTensor | None = None,
        primer_indices: torch.LongTensor | None = None,
        input_features: torch.Tensor | None = None,
        priming: str = "none",
        do_sample: bool = True,
        top_k: int | None = None,
        temperature: float = 1.0,
        decode: bool = True,
        **kwargs,
    ) -> SpecVQGANGenerationOutput:
        """Sample the H*W indices from the visual condition, with the reference's sampler: logits / temperature,
        every logit below the k-th largest set to -inf, softmax, one `torch.multinomial` draw per step (or the
        arg-max with `do_sample=False`), through transformers' `generate` with a key/value cache.

        Priming: `primer_indices` `(B, k)` (column-major) are kept and the rest is sampled; or `priming="half"`
        with the ground-truth `input_features` primes the first (W // 2) * H indices (the first ~5 s: the
        evaluation sampler's "half" mode). `top_k`: `None` keeps every logit. `decode`: also return the
        spectrogram. Returns a [`SpecVQGANGenerationOutput`].
        """
        config = self.config
        if priming not in ("none", "half"):
            raise ValueError(f"priming must be 'none' or 'half', got {priming!r}")
        if priming == "half":
            if input_features is None or primer_indices is not None:
                raise ValueError("priming='half' needs input_features (the ground-truth spectrogram) and no primer")
            primer_indices = self.encode_to_indices(input_features)[
                :, : (config.latent_grid[1] // 2) * config.latent_grid[0]
            ]
        elif input_features is not None:
            raise ValueError("input_features are only used with priming='half'")
        self._check_condition(visual_features, class_ids)
        batch = visual_features.shape[0]
        if primer_indices is None:
            primer_indices = torch.zeros(batch, 0, dtype=torch.long, device=visual_features.device)
        primer_indices = check_indices(primer_indices, config.codebook_size, "primer_indices")
        if (
            primer_indices.dim() != 2
            or primer_indices.shape[0] != batch
            or primer_indices.shape[1] >= config.num_tokens
        ):
            raise ValueError(
                f"primer_indices must be (B, k) with k < {config.num_tokens}, got {tuple(primer_indices.shape)}"
            )
        if top_k is not None and top_k < 1:
            raise ValueError(f"top_k must be positive or None, got {top_k}")
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        bos = torch.full((batch, 1), config.bos_token_id, dtype=torch.long, device=visual_features.device)
        sampling = dict(temperature=temperature, top_k=top_k or 0, top_p=1.0) if do_sample else {}
        sequences = super().generate(
            input_ids=torch.cat([bos, primer_indices], dim=1),
            visual_features=visual_features,
            class_ids=class_ids,
            max_new_tokens=config.num_tokens - primer_indices.shape[1],
            do_sample=do_sample,
            use_cache=True,
            **sampling,
            **kwargs,
        )
        indices = sequences[:, 1:]
        return SpecVQGANGenerationOutput(
            indices=indices,
            indices_row_major=self.to_row_major(indices),
            spectrogram=self.decode_indices(indices) if decode else None,
        )


__all__ = [
    "SpecVQGANEncoderOutput",
    "SpecVQGANForConditionalGeneration",
    "SpecVQGANGenerationOutput",
    "SpecVQGANLPAPS",
    "SpecVQGANModel",
    "SpecVQGANOutput",
    "SpecVQGANPatchDiscriminator",
    "SpecVQGANPreTrainedModel",
    "SpecVQGANTrainingLoss",
    "column_major_order",
    "hinge_discriminator_loss",
]
