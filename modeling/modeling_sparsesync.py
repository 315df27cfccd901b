"""SparseSync: audio-visual synchronisation with trainable selectors.

Paper: V. Iashin, W. Xie, E. Rahtu, A. Zisserman, "Sparse in Space and Time: Audio-visual Synchronisation with
Trainable Selectors", BMVC 2022 (arXiv 2210.07055; the paper calls the network SparseSelector). Reference code:
https://github.com/v-iashin/SparseSync (`model/sync_model.py` `AVSyncModel`, `model/modules/feature_selector.py`).

Given 5 s of 25 fps RGB frames and the log spectrogram of the matching 16 kHz audio, the model classifies the
temporal offset of the audio against the video over a grid of offsets (21 classes over +-2 s by default).
S3D (visual) and a one-channel ResNet-18 (audio) turn the raw inputs into feature maps; a linear bridge maps the
1024 S3D channels to d; each modality gets a LayerNorm and factorised learned positional tables; two *selectors*
(k learned queries that cross-attend to the hundreds of feature tokens) compress each modality to k tokens; a
transformer over [CLS; visual selectors; MOD; audio selectors] and a bias-free linear head on CLS give the logits.

Decisions, kept from the reference code so that converted checkpoints give the authors' numbers:
- Offsets: positive = audio early (the audio crop starts later in the source clip); `config.id2label` holds the
  grid values in seconds; `post_process` maps logits to seconds.
- Inputs: `pixel_values` (B, T, 3, H, W), ImageNet-normalised; `input_features` (B, 257, frames), the *linear*
  257-bin log-power spectrogram (natural log, eps 1e-6) standardised per clip and per frequency with the unbiased
  std (not log-mel); the channel axis the reference adds is added inside the model.
- Trunks: torchvision's S3D building blocks (`s3d().features` layout; the full-width trunk is torchvision's module
  for module) and torchvision's ResNet `BasicBlock` with a one-channel 7x7 stem, returning the last stage's map.
  No weights are downloaded: backbones start from random weights (the Kinetics TF-port S3D and the VGGSound
  ResNet-18 are not available offline; torchvision's Kinetics S3D weights differ from the port and expect another
  normalisation); real weights come from converted SparseSync checkpoints, which hold the fine-tuned extractors.
  S3D batch norms keep the port's eps 1e-3 and momentum 0.001 (`s3d_batch_norm_momentum`, raise it for
  from-scratch training: with 0.001 the running statistics barely move).
- Visual positional channels are concatenated [time | width | height] (width before height), D // 3 each with the
  remainder to time; audio [frequency | time], D // 2 each; audio tokens are flattened frequency-major. The
  tables are sized by `visual_grid` / `audio_grid`; another grid is refused with an error.
- The selector context is normalised once (pre-norm, before the positions) and not again inside the layers; the
  selector queries are `queries + query_pos` (both kept for weight loading); selectors have no final norm; the sync
  transformer has no positional embedding; the head has no bias and the visual bridge has one.
- Initialisation as the reference: every Linear / Embedding / positional table in the head N(0, 0.02), biases 0,
  LayerNorm 1 / 0; queries and CLS/MOD tokens N(0, 1); the bridge and the trunks keep PyTorch's (torchvision's
  ResNet: Kaiming-normal fan-out convolutions; the one-channel stem PyTorch's default, as the reference replaces
  it after torchvision's init). From this start the head learns slowly on fresh data (a long plateau at chance on the
  synthetic task); no change of initialisation is made to shorten that plateau.
- Whole-token dropout (`token_dropout`, 0 by default) is explicit (the reference's Dropout2d on (B, S, D)); in the
  no-selector ablation it drops whole time steps of the feature maps, as the reference's Dropout3d / Dropout2d.
- Attention goes through the shared `MultiHeadAttention` (eager / SDPA by `attn_implementation`; with
  `output_attentions=True` the selectors' then the fusion's weights, in call order); no masks anywhere (no padding
  exists: the data pipeline never pads a stream).
- Data and training (processor, `videozoo/data/sparsesync.py`, `videozoo/tasks/sparsesync.py`): decoding with PyAV;
  streams cut to at most the first 10 s (the code; the paper says 9 s); evaluation at the fixed-offset tables or
  with random offsets over several passes (both available; the paper does not say which gave 44.3); the best
  checkpoint is chosen on top-1 accuracy (the code's early-stopping metric) while +-1-class accuracy is logged too;
  fine-tuning from a checkpoint starts a fresh optimizer and schedule (the reference carries Adam, GradScaler and
  scheduler states over from pre-training: not replicated); the reference's sox augmentations (torchaudio 2.11 has
  no sox): reverb is sox's `reverb -w` reimplemented exactly (`processors/audio_effects.py`, equal to the sox
  binary to float rounding), the 1000-cent pitch shift is torchaudio's phase-vocoder `pitch_shift` (same shift and
  duration, not sox's WSOLA samples).
- `position_initializer_range` (default: the reference's 0.02) lets from-scratch runs start the positional tables
  larger; the synthetic task does (1.0), a deviation documented with its result.
"""

import math

import torch
from torch import nn
from torch.nn import functional as F
from torchvision.models.resnet import BasicBlock
from torchvision.models.video.s3d import SepInceptionBlock3D, TemporalSeparableConv
from torchvision.ops.misc import Conv3dNormActivation
from transformers import PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput
from transformers.utils.generic import can_return_tuple

from ..configuration.configuration_sparsesync import S3D_INCEPTION_WIDTHS, S3D_STEM_WIDTHS, SparseSyncConfig
from ..processors.validation import check_float_features
from .layers.attention import MultiHeadAttention, attentions_by_prefix, returns_attentions
from .loading import CheckedLoadingMixin


# ----------------------------------------------------------------------------- grid arithmetic
def s3d_output_grid(num_frames: int, height: int, width: int) -> tuple[int, int, int]:
    """(t, h, w) of the S3D trunk's output: time through three stride-2 stages (ceil, ceil, floor), each side
    through four ceil-halvings and one floor-halving (125 x 224 x 224 -> 16 x 7 x 7)."""
    t = math.ceil(math.ceil(num_frames / 2) / 2) // 2
    sides = []
    for size in (height, width):
        for _ in range(4):
            size = math.ceil(size / 2)
        sides.append(size // 2)
    return t, sides[0], sides[1]


def resnet_output_grid(frequency_bins: int, frames: int, num_stages: int = 4) -> tuple[int, int]:
    """(f, t) of the audio trunk's output: stem conv, max-pool and every stage after the first halve both axes
    with ceil rounding (257 x 626 -> 9 x 20)."""
    sizes = []
    for size in (frequency_bins, frames):
        for _ in range(num_stages + 1):
            size = math.ceil(size / 2)
        sizes.append(size)
    return sizes[0], sizes[1]


def spectrogram_frames(num_samples: int, hop_length: int = 128) -> int:
    """STFT frames of a centred spectrogram of `num_samples` samples (80 000 -> 626)."""
    return num_samples // hop_length + 1


# ----------------------------------------------------------------------------- trunks
def build_s3d_trunk(divisor: int = 1, eps: float = 1e-3, momentum: float = 0.001) -> nn.Sequential:
    """torchvision's S3D `features` (up to Mixed_5c, no pooling or classifier) with every width divided by
    `divisor`; `divisor=1` is `torchvision.models.video.s3d(weights=None).features` module for module."""

    def norm(channels):
        return nn.BatchNorm3d(channels, eps=eps, momentum=momentum)

    stem, mid = (w // divisor for w in S3D_STEM_WIDTHS)
    blocks = [SepInceptionBlock3D(*(w // divisor for w in widths), norm) for widths in S3D_INCEPTION_WIDTHS]
    return nn.Sequential(
        TemporalSeparableConv(3, stem, 7, 2, 3, norm),
        nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        Conv3dNormActivation(stem, stem, kernel_size=1, stride=1, norm_layer=norm),
        TemporalSeparableConv(stem, mid, 3, 1, 1, norm),
        nn.MaxPool3d(kernel_size=(1, 3, 3), stride=(1, 2, 2), padding=(0, 1, 1)),
        blocks[0],
        blocks[1],
        nn.MaxPool3d(kernel_size=(3, 3, 3), stride=(2, 2, 2), padding=(1, 1, 1)),
        *blocks[2:7],
        nn.MaxPool3d(kernel_size=(2, 2, 2), stride=(2, 2, 2), padding=(0, 0, 0)),
        blocks[7],
        blocks[8],
    )


class SparseSyncAudioEncoder(nn.Module):
    """torchvision's ResNet layout (`conv1`, `bn1`, max-pool, `layer1..N` of `BasicBlock`s) with a one-channel 7x7
    stem and no pooling / classifier: `(B, 1, F, T)` -> `(B, widths[-1], f, t)`. Default widths and depths are
    ResNet-18's, whose state-dict names it shares."""

    def __init__(self, widths=(64, 128, 256, 512), depths=(2, 2, 2, 2)):
        super().__init__()
        self.conv1 = nn.Conv2d(1, widths[0], kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.num_stages = len(widths)
        in_width = widths[0]
        for index, (width, depth) in enumerate(zip(widths, depths)):
            stride = 1 if index == 0 else 2
            downsample = None
            if stride != 1 or in_width != width:
                downsample = nn.Sequential(
                    nn.Conv2d(in_width, width, 1, stride=stride, bias=False), nn.BatchNorm2d(width)
                )
            blocks = [BasicBlock(in_width, width, stride, downsample)]
            blocks += [BasicBlock(width, width) for _ in range(depth - 1)]
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
            in_width = width

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        hidden = self.maxpool(self.relu(self.bn1(self.conv1(spectrogram))))
        for index in range(self.num_stages):
            hidden = getattr(self, f"layer{index + 1}")(hidden)
        return hidden


# ----------------------------------------------------------------------------- head
def drop_groups(hidden: torch.Tensor, p: float, training: bool, group_dims: int) -> torch.Tensor:
    """Dropout of whole groups: one Bernoulli draw per index of the first `group_dims` axes after the batch, shared
    by the remaining axes (whole tokens for `(B, S, D)` and `group_dims=1`), rescaled by 1 / (1 - p)."""
    if not training or p == 0.0:
        return hidden
    shape = hidden.shape[: 1 + group_dims] + (1,) * (hidden.dim() - 1 - group_dims)
    keep = torch.empty(shape, device=hidden.device, dtype=hidden.dtype).bernoulli_(1 - p)
    return hidden * keep / (1 - p)


class SparseSyncVisualPositions(nn.Module):
    """Learned tables for time, height and width; cell (t, h, w) gets [time[t] | width[w] | height[h]]."""

    def __init__(self, grid, hidden_size: int):
        super().__init__()
        part = hidden_size // 3
        self.time = nn.Embedding(grid[0], part + hidden_size % 3)
        self.height = nn.Embedding(grid[1], part)
        self.width = nn.Embedding(grid[2], part)
        for table in (self.time, self.height, self.width):
            table.is_position_table = True  # see `position_initializer_range`

    def forward(self) -> torch.Tensor:
        """`(t, h, w, D)`."""
        t, h, w = self.time.num_embeddings, self.height.num_embeddings, self.width.num_embeddings
        return torch.cat(
            [
                self.time.weight[:, None, None].expand(t, h, w, -1),
                self.width.weight[None, None, :].expand(t, h, w, -1),
                self.height.weight[None, :, None].expand(t, h, w, -1),
            ],
            dim=-1,
        )


class SparseSyncAudioPositions(nn.Module):
    """Learned tables for frequency and time; cell (f, t) gets [frequency[f] | time[t]]."""

    def __init__(self, grid, hidden_size: int):
        super().__init__()
        part = hidden_size // 2
        self.frequency = nn.Embedding(grid[0], part)
        self.time = nn.Embedding(grid[1], part + hidden_size % 2)
        for table in (self.frequency, self.time):
            table.is_position_table = True

    def forward(self) -> torch.Tensor:
        """`(f, t, D)`."""
        f, t = self.frequency.num_embeddings, self.time.num_embeddings
        return torch.cat(
            [self.frequency.weight[:, None].expand(f, t, -1), self.time.weight[None, :].expand(f, t, -1)], dim=-1
        )


class SparseSyncMLP(nn.Module):
    """Linear -> exact GELU -> Linear -> dropout."""

    def __init__(self, config: SparseSyncConfig):
        super().__init__()
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(F.gelu(self.fc1(hidden))))


class SparseSyncEncoderLayer(nn.Module):
    """Pre-LN encoder layer: x += SelfAttn(LN1 x); x += MLP(LN2 x)."""

    def __init__(self, config: SparseSyncConfig):
        super().__init__()
        size, eps = config.hidden_size, config.layer_norm_eps
        self.norm1 = nn.LayerNorm(size, eps=eps)
        self.self_attn = MultiHeadAttention(config, size, config.num_attention_heads, dropout=config.attention_dropout)
        self.norm2 = nn.LayerNorm(size, eps=eps)
        self.mlp = SparseSyncMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = hidden + self.dropout(self.self_attn(self.norm1(hidden))[0])
        return hidden + self.mlp(self.norm2(hidden))


class SparseSyncSelectorLayer(nn.Module):
    """Pre-LN decoder layer without mask: q += SelfAttn(LN1 q); q += CrossAttn(LN2 q, context); q += MLP(LN3 q).
    The context is used as given (not normalised here)."""

    def __init__(self, config: SparseSyncConfig):
        super().__init__()
        size, eps, heads = config.hidden_size, config.layer_norm_eps, config.num_attention_heads
        self.norm1 = nn.LayerNorm(size, eps=eps)
        self.self_attn = MultiHeadAttention(config, size, heads, dropout=config.attention_dropout)
        self.norm2 = nn.LayerNorm(size, eps=eps)
        self.cross_attn = MultiHeadAttention(config, size, heads, dropout=config.attention_dropout)
        self.norm3 = nn.LayerNorm(size, eps=eps)
        self.mlp = SparseSyncMLP(config)
        self.dropout = nn.Dropout(config.hidden_dropout)

    def forward(self, queries: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        queries = queries + self.dropout(self.self_attn(self.norm1(queries))[0])
        queries = queries + self.dropout(self.cross_attn(self.norm2(queries), context)[0])
        return queries + self.mlp(self.norm3(queries))


class SparseSyncSelector(nn.Module):
    """k learned queries (plus a learned position per query) attend to a modality's feature tokens:
    `(B, N, D)` -> `(B, k, D)`. Linear in N."""

    def __init__(self, config: SparseSyncConfig, num_queries: int):
        super().__init__()
        self.queries = nn.Parameter(torch.randn(num_queries, config.hidden_size))
        self.query_pos = nn.Parameter(torch.zeros(num_queries, config.hidden_size))
        self.dropout = nn.Dropout(config.embedding_dropout)
        self.layers = nn.ModuleList([SparseSyncSelectorLayer(config) for _ in range(config.num_selector_layers)])

    def forward(self, context: torch.Tensor) -> torch.Tensor:
        queries = (self.queries + self.query_pos).expand(context.shape[0], -1, -1)
        queries, context = self.dropout(queries), self.dropout(context)
        for layer in self.layers:
            queries = layer(queries, context)
        return queries


class SparseSyncFusion(nn.Module):
    """The synchronisation transformer over [CLS; visual tokens; MOD; audio tokens], no positional embedding,
    then a final LayerNorm. With selectors, each modality's selector outputs are normalised first."""

    def __init__(self, config: SparseSyncConfig):
        super().__init__()
        size, eps = config.hidden_size, config.layer_norm_eps
        self.use_selectors = config.use_selectors
        self.token_dropout = config.token_dropout
        self.cls_token = nn.Parameter(torch.randn(1, 1, size))
        self.sep_token = nn.Parameter(torch.randn(1, 1, size))
        if config.use_selectors:
            self.visual_selector_norm = nn.LayerNorm(size, eps=eps)
            self.audio_selector_norm = nn.LayerNorm(size, eps=eps)
        self.dropout = nn.Dropout(config.embedding_dropout)
        self.layers = nn.ModuleList([SparseSyncEncoderLayer(config) for _ in range(config.num_sync_layers)])
        self.final_norm = nn.LayerNorm(size, eps=eps)

    def forward(self, visual: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        if self.use_selectors:
            visual = drop_groups(self.visual_selector_norm(visual), self.token_dropout, self.training, 1)
            audio = drop_groups(self.audio_selector_norm(audio), self.token_dropout, self.training, 1)
        batch = visual.shape[0]
        hidden = torch.cat(
            [self.cls_token.expand(batch, -1, -1), visual, self.sep_token.expand(batch, -1, -1), audio], dim=1
        )
        hidden = self.dropout(hidden)
        for layer in self.layers:
            hidden = layer(hidden)
        return self.final_norm(hidden)


# ----------------------------------------------------------------------------- the model
class SparseSyncPreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    config: SparseSyncConfig
    base_model_prefix = "sparsesync"
    main_input_name = "pixel_values"
    input_modalities = ("video", "audio")
    supports_gradient_checkpointing = False
    _supports_sdpa = True

    @torch.no_grad()
    def _init_weights(self, module):
        from transformers import initialization as init

        std = self.config.initializer_range
        if isinstance(module, nn.Conv3d) or module is getattr(self, "visual_proj", None):
            init.kaiming_uniform_(module.weight, a=math.sqrt(5))  # PyTorch's default (the reference's)
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())
                init.uniform_(module.bias, -bound, bound)
        elif isinstance(module, nn.Conv2d):
            if module is getattr(getattr(self, "audio_encoder", None), "conv1", None):
                init.kaiming_uniform_(module.weight, a=math.sqrt(5))
            else:
                init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Embedding) and getattr(module, "is_position_table", False):
            position_std = self.config.position_initializer_range
            init.normal_(module.weight, 0.0, std if position_std is None else position_std)
        elif isinstance(module, (nn.Linear, nn.Embedding)):
            init.normal_(module.weight, 0.0, std)
            if isinstance(module, nn.Linear) and module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, SparseSyncSelector):
            init.normal_(module.queries, 0.0, 1.0)
            init.normal_(module.query_pos, 0.0, std)  # an Embedding table in the reference
        elif isinstance(module, SparseSyncFusion):
            init.normal_(module.cls_token, 0.0, 1.0)
            init.normal_(module.sep_token, 0.0, 1.0)
        else:
            super()._init_weights(module)  # LayerNorm / BatchNorm: 1, 0 and fresh running statistics


class SparseSyncForOffsetClassification(SparseSyncPreTrainedModel):
    """SparseSync: frames and spectrogram -> offset-class logits.

    Inputs: `pixel_values` `(B, T, 3, H, W)` float, 25 fps frames normalised with the ImageNet mean / std (125 x
    224 x 224 for 5 s); `input_features` `(B, num_frequency_bins, frames)` the standardised log spectrogram of the
    16 kHz audio (257 x 626 for 5 s); optional `labels` `(B,)` class indices (cross-entropy loss).
    `SparseSyncProcessor` produces them from decoded clips. The grids of both trunks' outputs must equal
    `config.visual_grid` / `config.audio_grid`.
    """

    def __init__(self, config: SparseSyncConfig):
        super().__init__(config)
        size = config.hidden_size
        self.visual_encoder = build_s3d_trunk(
            config.s3d_width_divisor, config.s3d_batch_norm_eps, config.s3d_batch_norm_momentum
        )
        self.audio_encoder = SparseSyncAudioEncoder(config.audio_backbone_widths, config.audio_backbone_depths)
        self.visual_proj = nn.Linear(config.visual_feature_size, size)
        self.visual_norm = nn.LayerNorm(size, eps=config.layer_norm_eps)
        self.audio_norm = nn.LayerNorm(size, eps=config.layer_norm_eps)
        self.visual_positions = SparseSyncVisualPositions(config.visual_grid, size)
        self.audio_positions = SparseSyncAudioPositions(config.audio_grid, size)
        if config.use_selectors:
            self.visual_selector = SparseSyncSelector(config, config.num_visual_selectors)
            self.audio_selector = SparseSyncSelector(config, config.num_audio_selectors)
        self.fusion = SparseSyncFusion(config)
        self.classifier = nn.Linear(size, config.num_offset_classes, bias=False)
        self.post_init()

    # ------------------------------------------------------------------ trunks
    def get_visual_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """`(B, T, 3, H, W)` frames -> S3D map `(B, t, C, h, w)` (time first, as the reference)."""
        if pixel_values.dim() != 5 or pixel_values.shape[2] != 3:
            raise ValueError(
                f"pixel_values must be (batch, frames, 3, height, width), got {tuple(pixel_values.shape)}"
            )
        if not pixel_values.is_floating_point():
            raise ValueError(
                "pixel_values must be float frames normalised with the ImageNet mean/std (use SparseSyncProcessor), "
                "got integers"
            )
        check_float_features("pixel_values", pixel_values, model_dtype=self.dtype)
        _, frames, _, height, width = pixel_values.shape
        expected = tuple(self.config.visual_grid)
        if s3d_output_grid(frames, height, width) != expected:
            raise ValueError(
                f"{frames} frames of {height}x{width} give an S3D grid {s3d_output_grid(frames, height, width)}, "
                f"but the positional tables of this model are for {expected} (125 frames of 224 px for {(16, 7, 7)}); "
                f"use clips of the model's length and crop size, or a config with visual_grid for these inputs"
            )
        return self.visual_encoder(pixel_values.transpose(1, 2)).transpose(1, 2)

    def get_audio_features(self, input_features: torch.Tensor) -> torch.Tensor:
        """`(B, F, frames)` spectrogram -> audio trunk map `(B, C, f, t)`."""
        if input_features.dim() != 3 or input_features.shape[1] != self.config.num_frequency_bins:
            raise ValueError(
                f"input_features must be (batch, {self.config.num_frequency_bins} frequency bins, frames), "
                f"got {tuple(input_features.shape)}"
            )
        check_float_features("input_features", input_features, model_dtype=self.dtype)
        grid = resnet_output_grid(input_features.shape[1], input_features.shape[2], self.audio_encoder.num_stages)
        if grid != tuple(self.config.audio_grid):
            raise ValueError(
                f"a spectrogram of {input_features.shape[2]} frames gives an audio grid {grid}, but the positional "
                f"tables of this model are for {tuple(self.config.audio_grid)} (626 frames = 5 s for {(9, 20)}); "
                f"use clips of the model's length, or a config with audio_grid for these inputs"
            )
        return self.audio_encoder(input_features[:, None])

    # ------------------------------------------------------------------ head
    def embed_features(
        self, visual_features: torch.Tensor, audio_features: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Trunk maps -> feature tokens with positions: visual `(B, t*h*w, D)` (time-major, then height, width),
        audio `(B, f*t, D)` (frequency-major)."""
        if visual_features.dim() != 5 or visual_features.shape[2] != self.config.visual_feature_size:
            raise ValueError(
                f"visual features must be (batch, t, {self.config.visual_feature_size}, h, w), "
                f"got {tuple(visual_features.shape)}"
            )
        if audio_features.dim() != 4 or audio_features.shape[1] != self.config.hidden_size:
            raise ValueError(
                f"audio features must be (batch, {self.config.hidden_size}, f, t), got {tuple(audio_features.shape)}"
            )
        if visual_features.shape[0] != audio_features.shape[0]:
            raise ValueError(
                f"video and audio disagree on the batch size: {visual_features.shape[0]} vs {audio_features.shape[0]}"
            )
        visual_grid = (visual_features.shape[1], *visual_features.shape[3:])
        if visual_grid != tuple(self.config.visual_grid) or tuple(audio_features.shape[2:]) != tuple(
            self.config.audio_grid
        ):
            raise ValueError(
                f"feature grids visual {visual_grid} / audio {tuple(audio_features.shape[2:])} differ from the "
                f"positional tables' {tuple(self.config.visual_grid)} / {tuple(self.config.audio_grid)}"
            )
        batch, size = visual_features.shape[0], self.config.hidden_size
        visual = F.gelu(self.visual_proj(visual_features.permute(0, 1, 3, 4, 2)))  # (B, t, h, w, D)
        audio = audio_features.permute(0, 2, 3, 1)  # (B, f, t, D)
        visual = self.visual_norm(visual) + self.visual_positions()
        audio = self.audio_norm(audio) + self.audio_positions()
        return visual.reshape(batch, -1, size), audio.reshape(batch, -1, size)

    def classify_features(self, visual_features: torch.Tensor, audio_features: torch.Tensor) -> torch.Tensor:
        """Trunk maps (`(B, t, C, h, w)`, `(B, C, f, t)`) -> logits `(B, num_offset_classes)`."""
        visual, audio = self.embed_features(visual_features, audio_features)
        if self.config.use_selectors:
            visual, audio = self.visual_selector(visual), self.audio_selector(audio)
        else:  # whole time steps dropped, as the reference's Dropout3d / Dropout2d on the maps
            t, h, w = self.config.visual_grid
            f, ta = self.config.audio_grid
            p, on = self.config.token_dropout, self.training
            visual = drop_groups(visual.view(-1, t, h * w, visual.shape[-1]), p, on, 1).flatten(1, 2)
            audio = (
                drop_groups(audio.view(-1, f, ta, audio.shape[-1]).transpose(1, 2), p, on, 1)
                .transpose(1, 2)
                .flatten(1, 2)
            )
        return self.classifier(self.fusion(visual, audio)[:, 0])

    @can_return_tuple
    @returns_attentions(attentions=attentions_by_prefix("visual_selector.", "audio_selector.", "fusion."))
    def forward(
        self,
        pixel_values: torch.Tensor,
        input_features: torch.Tensor,
        labels: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        if pixel_values.shape[0] != input_features.shape[0]:
            raise ValueError(
                f"pixel_values and input_features disagree on the batch size: {pixel_values.shape[0]} "
                f"vs {input_features.shape[0]}"
            )
        logits = self.classify_features(
            self.get_visual_features(pixel_values), self.get_audio_features(input_features)
        )
        loss = None
        if labels is not None:
            if labels.shape != (logits.shape[0],) or labels.is_floating_point():
                raise ValueError(
                    f"labels must be ({logits.shape[0]},) integer offset classes, "
                    f"got {tuple(labels.shape)} {labels.dtype}"
                )
            if (labels < 0).any() or (labels >= self.config.num_offset_classes).any():
                raise ValueError(f"labels must be offset classes in [0, {self.config.num_offset_classes})")
            loss = F.cross_entropy(logits, labels)
        return SequenceClassifierOutput(loss=loss, logits=logits)

    def post_process(self, logits: torch.Tensor) -> torch.Tensor:
        """Logits `(B, num_offset_classes)` -> predicted offsets in seconds `(B,)` (positive: audio early)."""
        return logits_to_offsets(logits, self.config.offset_grid())


def logits_to_offsets(logits: torch.Tensor, grid: list[float]) -> torch.Tensor:
    """Offset (seconds) of the arg-max class of each row of `(B, classes)` logits."""
    if logits.dim() != 2 or logits.shape[1] != len(grid):
        raise ValueError(f"logits must be (batch, {len(grid)}), got {tuple(logits.shape)}")
    return torch.tensor(grid, dtype=torch.float32, device=logits.device)[logits.argmax(dim=1)]


__all__ = [
    "SparseSyncForOffsetClassification",
    "SparseSyncPreTrainedModel",
    "build_s3d_trunk",
    "logits_to_offsets",
    "resnet_output_grid",
    "s3d_output_grid",
    "spectrogram_frames",
]
