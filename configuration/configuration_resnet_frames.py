"""Configuration of the frame-wise ResNet feature extractor (torchvision's ResNet-50 / ResNet-152 trunk, the
classifier replaced by the identity: one 2048-d feature per sampled frame)."""

from huggingface_hub.dataclasses import strict

from .configuration_common import config_value_errors
from .configuration_expert_features import ExpertFeaturesConfig

RESNET_DEPTHS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3)}


@config_value_errors
@strict
class ResNetFramesConfig(ExpertFeaturesConfig):
    r"""
    Configuration of [`ResNetFramesModel`]: torchvision's bottleneck ResNet without its classifier, run on every
    frame sampled at `extraction_fps` (v-iashin/video_features `configs/resnet.yml`; SpecVQGAN's visual features are
    ResNet-50 at 21.5 fps).

    Args:
        depths (`list[int]`, defaults to `[3, 4, 6, 3]`): bottleneck blocks per stage (ResNet-50; `[3, 8, 36, 3]` is
            ResNet-152). `RESNET_DEPTHS` maps 50 / 101 / 152 to them.
        widths (`list[int]`, defaults to `[64, 128, 256, 512]`): bottleneck widths per stage (outputs are 4x); the
            stem has the first width. Other values than the default are for tests.
        batch_norm_eps (`float`, defaults to 1e-5).
        extraction_fps (`float`, *optional*): frames per second sampled from the video (None: every frame).
    """

    model_type = "resnet_frames"

    depths: list[int] | tuple[int, ...] = (3, 4, 6, 3)
    widths: list[int] | tuple[int, ...] = (64, 128, 256, 512)
    batch_norm_eps: float = 1e-5
    num_channels: int = 3

    def validate_stages(self):
        if len(self.depths) != len(self.widths) or not self.depths or min(self.depths) < 1:
            raise ValueError("depths and widths need one positive entry per stage")

    @property
    def feature_size(self) -> int:
        return 4 * self.widths[-1]


__all__ = ["RESNET_DEPTHS", "ResNetFramesConfig"]
