"""Configuration of the VGGish audio feature extractor (Hershey et al., ICASSP 2017): 128-d embeddings of
non-overlapping 0.96 s log-mel examples, with AudioSet's released PCA + 8-bit quantisation as an option."""

from huggingface_hub.dataclasses import strict

from .configuration_common import config_value_errors
from .configuration_expert_features import ExpertFeaturesConfig


@config_value_errors
@strict
class VGGishConfig(ExpertFeaturesConfig):
    r"""
    Configuration of [`VGGishModel`] (torchvision-style VGG on `(batch, 1, 96, 64)` log-mel examples).

    Args:
        conv_widths (`list[int]`, defaults to `[64, 128, 256, 256, 512, 512]`): the six 3x3 convolutions; max-pools
            follow the 1st, 2nd, 4th and 6th (VGG configuration "64, M, 128, M, 256, 256, M, 512, 512, M").
        hidden_sizes (`list[int]`, defaults to `[4096, 4096]`), embedding_size (`int`, defaults to 128): the fully
            connected layers after the (6 x 4 x last width) map, each followed by a ReLU (the last one too: the
            released embeddings are >= 0).
        num_frames (`int`, defaults to 96), num_mel_bins (`int`, defaults to 64): example shape.
        quantize_min / quantize_max (`float`, defaults to -2 / 2): the post-processing's clipping range.
    Smaller widths are for tests; the released network uses the defaults.
    """

    model_type = "vggish"

    conv_widths: list[int] | tuple[int, ...] = (64, 128, 256, 256, 512, 512)
    hidden_sizes: list[int] | tuple[int, ...] = (4096, 4096)
    embedding_size: int = 128
    num_frames: int = 96
    num_mel_bins: int = 64
    quantize_min: float = -2.0
    quantize_max: float = 2.0

    def validate_shape(self):
        if len(self.conv_widths) != 6:
            raise ValueError(f"conv_widths needs the 6 widths of VGGish's convolutions, got {list(self.conv_widths)}")
        if self.num_frames % 16 or self.num_mel_bins % 16:
            raise ValueError("num_frames and num_mel_bins must be multiples of 16 (four 2x2 max-pools)")
        if not self.quantize_min < self.quantize_max:
            raise ValueError("quantize_min must be below quantize_max")

    @property
    def feature_size(self) -> int:
        return self.embedding_size


__all__ = ["VGGishConfig"]
