"""Configuration of SparseSync, audio-visual synchronisation with trainable selectors (Iashin et al., BMVC 2022)."""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import CheckedModelTypeMixin, config_value_errors

# Widths of torchvision's S3D trunk (`s3d().features`), layer by layer: the two stems, then the inception blocks
# as (in, branch0, branch1 mid, branch1 out, branch2 mid, branch2 out, branch3). `s3d_width_divisor` divides them.
S3D_STEM_WIDTHS = (64, 192)
S3D_INCEPTION_WIDTHS = (
    (192, 64, 96, 128, 16, 32, 32),  # Mixed_3b
    (256, 128, 128, 192, 32, 96, 64),  # Mixed_3c
    (480, 192, 96, 208, 16, 48, 64),  # Mixed_4b
    (512, 160, 112, 224, 24, 64, 64),  # Mixed_4c
    (512, 128, 128, 256, 24, 64, 64),  # Mixed_4d
    (512, 112, 144, 288, 32, 64, 64),  # Mixed_4e
    (528, 256, 160, 320, 32, 128, 128),  # Mixed_4f
    (832, 256, 160, 320, 32, 128, 128),  # Mixed_5b
    (832, 384, 192, 384, 48, 128, 128),  # Mixed_5c
)
S3D_OUTPUT_WIDTH = 1024


def offset_grid(num_classes: int, max_offset_sec: float, grid_type: str = "linspace") -> list[float]:
    """The offset classes in seconds, as the reference builds them (float32 values, returned as Python floats).

    `"linspace"`: `num_classes` evenly spaced values from `-max_offset_sec` to `+max_offset_sec` (21 classes:
    -2.0, -1.8, ..., +2.0; index 10 is "in sync"). `"uniform"`: the mid-points of `num_classes` equal cells of that
    range widened by half a cell on each side (in the reference code, unused for its results).
    """
    import numpy as np

    if num_classes < 3:
        raise ValueError(f"an offset grid needs at least 3 classes, got {num_classes}")
    if grid_type == "linspace":
        grid = np.linspace(-max_offset_sec, max_offset_sec, num_classes)
    elif grid_type == "uniform":
        cell = 2 * max_offset_sec / num_classes
        grid = np.linspace(-max_offset_sec - cell / 2, max_offset_sec + cell / 2, num_classes + 2)[1:-1]
    else:
        raise ValueError(f"unknown offset grid type {grid_type!r} (use 'linspace' or 'uniform')")
    return [float(v) for v in grid.astype(np.float32)]


def offset_label_name(value: float) -> str:
    """-2.0 -> "-2.0", 0.2 -> "+0.2", 0 -> "0.0" (positive = audio early)."""
    if abs(value) < 5e-4:
        return "0.0"
    text = f"{value:+.3f}".rstrip("0")
    return text + "0" if text.endswith(".") else text


@config_value_errors
@strict
class SparseSyncConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of [`SparseSyncForOffsetClassification`]. Defaults are the released SparseSync models (5 s clips,
    125 frames of 224 x 224 and a 257 x 626 spectrogram, 21 offset classes over +-2 s).

    Offsets are in seconds and **positive means the audio is early**: the audio crop starts `offset` seconds after
    the visual crop in the source clip, so a sound is heard `offset` seconds before its visual cause. `id2label`
    holds the grid values ("-2.0" ... "+2.0").

    Args:
        num_offset_classes (`int`, defaults to 21): size of the offset grid (3 for the "lags / in sync / leads"
            models).
        max_offset_sec (`float`, defaults to 2.0): the grid spans [-max, +max] seconds (1.0 for the 3-class models).
        offset_grid_type (`"linspace"` or `"uniform"`, defaults to `"linspace"`): see [`offset_grid`].
        hidden_size (`int`, defaults to 512): width d of the selectors and the synchronisation transformer; it must
            equal the audio trunk's output width (the audio path has no projection).
        num_selector_layers (`int`, defaults to 3): layers of each feature selector.
        num_sync_layers (`int`, defaults to 3): layers of the synchronisation transformer.
        num_attention_heads (`int`, defaults to 8), intermediate_size (`int`, defaults to 2048): attention heads and
            MLP width of every layer.
        num_visual_selectors / num_audio_selectors (`int`, defaults to 16): learned queries k of each selector.
        use_selectors (`bool`, defaults to `True`): `False` is the paper's "without selectors" ablation: one
            transformer of `num_sync_layers` layers over [CLS; every visual token; MOD; every audio token].
        visual_grid (`list[int]`, defaults to `[16, 7, 7]`): (t, h, w) of the S3D output the positional tables are
            sized for (125 frames of 224 px). Inputs with another grid are refused (they need another config).
        audio_grid (`list[int]`, defaults to `[9, 20]`): (f, t) of the audio trunk's output (257 x 626 input).
        num_frequency_bins (`int`, defaults to 257): rows of `input_features` (n_fft 512 // 2 + 1).
        s3d_width_divisor (`int`, defaults to 1): divides every width of the S3D trunk (1, 2, 4 or 8); 1 is
            torchvision's S3D, which the converted checkpoints need. Small values are for tests.
        s3d_batch_norm_eps / s3d_batch_norm_momentum (`float`, defaults to 1e-3 / 0.001): the S3D batch norms (the
            TensorFlow-port convention of the reference; raise the momentum, e.g. 0.1, when training from scratch).
        audio_backbone_widths / audio_backbone_depths (`list[int]`, defaults to `[64, 128, 256, 512]` /
            `[2, 2, 2, 2]`): the one-channel ResNet audio trunk (ResNet-18 by default; the stem has the first width).
        embedding_dropout (`float`, defaults to 0.1): dropout on the selector queries, on the selector context and on
            the input of the synchronisation transformer.
        attention_dropout (`float`, defaults to 0.1): on the attention probabilities.
        hidden_dropout (`float`, defaults to 0.1): on the attention output projection and the MLP output.
        token_dropout (`float`, defaults to 0.0): whole-token dropout on the selector outputs (on the feature tokens
            without selectors).
        layer_norm_eps (`float`, defaults to 1e-5), initializer_range (`float`, defaults to 0.02).
        position_initializer_range (`float`, *optional*): std of the initial visual / audio positional tables;
            `None` uses `initializer_range` (the reference). From scratch, 0.02 against unit-variance features leaves
            the model almost blind to *when* things happen, and training sits on a long plateau at chance (measured on
            the synthetic task); the synthetic task trains with 1.0 (a documented deviation from the reference
            initialisation).
    """

    model_type = "sparsesync"

    num_offset_classes: int = 21
    max_offset_sec: float = 2.0
    offset_grid_type: Literal["linspace", "uniform"] = "linspace"
    hidden_size: int = 512
    num_selector_layers: int = 3
    num_sync_layers: int = 3
    num_attention_heads: int = 8
    intermediate_size: int = 2048
    num_visual_selectors: int = 16
    num_audio_selectors: int = 16
    use_selectors: bool = True
    visual_grid: list[int] | tuple[int, ...] = (16, 7, 7)
    audio_grid: list[int] | tuple[int, ...] = (9, 20)
    num_frequency_bins: int = 257
    s3d_width_divisor: int = 1
    s3d_batch_norm_eps: float = 1e-3
    s3d_batch_norm_momentum: float = 0.001
    audio_backbone_widths: list[int] | tuple[int, ...] = (64, 128, 256, 512)
    audio_backbone_depths: list[int] | tuple[int, ...] = (2, 2, 2, 2)
    embedding_dropout: float = 0.1
    attention_dropout: float = 0.1
    hidden_dropout: float = 0.1
    token_dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    position_initializer_range: float | None = None

    def __post_init__(self, **kwargs):
        grid = offset_grid(self.num_offset_classes, self.max_offset_sec, self.offset_grid_type)
        if self.id2label is None or len(self.id2label) != self.num_offset_classes:
            self.id2label = {index: offset_label_name(value) for index, value in enumerate(grid)}
            self.label2id = {name: index for index, name in self.id2label.items()}
        super().__post_init__(**kwargs)

    def validate_sizes(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if len(self.audio_backbone_widths) != len(self.audio_backbone_depths) or not self.audio_backbone_widths:
            raise ValueError("audio_backbone_widths and audio_backbone_depths need one entry per stage")
        if self.hidden_size != self.audio_backbone_widths[-1]:
            raise ValueError(
                f"hidden_size ({self.hidden_size}) must equal the audio trunk's output width "
                f"({self.audio_backbone_widths[-1]}): the audio path has no projection"
            )
        if self.s3d_width_divisor not in (1, 2, 4, 8):
            raise ValueError(f"s3d_width_divisor must be 1, 2, 4 or 8, got {self.s3d_width_divisor}")
        if len(self.visual_grid) != 3 or min(self.visual_grid) < 1:
            raise ValueError(f"visual_grid must be (t, h, w) with positive sizes, got {list(self.visual_grid)}")
        if len(self.audio_grid) != 2 or min(self.audio_grid) < 1:
            raise ValueError(f"audio_grid must be (frequency, time) with positive sizes, got {list(self.audio_grid)}")
        if self.num_offset_classes < 3 or self.max_offset_sec <= 0:
            raise ValueError("the offset grid needs at least 3 classes and a positive max_offset_sec")
        if min(self.num_visual_selectors, self.num_audio_selectors) < 1:
            raise ValueError("each selector needs at least one query")

    @property
    def visual_feature_size(self) -> int:
        """Channels of the S3D output (1024 for the full trunk)."""
        return S3D_OUTPUT_WIDTH // self.s3d_width_divisor

    def offset_grid(self) -> list[float]:
        """Offset (seconds) of each class."""
        return offset_grid(self.num_offset_classes, self.max_offset_sec, self.offset_grid_type)


__all__ = ["SparseSyncConfig", "offset_grid", "offset_label_name"]
