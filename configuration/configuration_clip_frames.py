"""Configuration of the CLIP frame feature extractor (Radford et al., "Learning Transferable Visual Models From
Natural Language Supervision", ICML 2021): CLIP's image tower with its projection, one embedding per sampled frame,
as v-iashin/video_features' `clip` extractor computes them (`models/clip/extract_clip.py`, `configs/clip.yml`)."""

from huggingface_hub.dataclasses import strict
from transformers import CLIPVisionConfig

from .configuration_common import CheckedModelTypeMixin, config_value_errors

# The ViT image towers of OpenAI's released CLIP models (the reference's `model_name`s), as transformers' CLIP
# vision config fields: width, layers, heads, MLP width, patch, input size and the projected embedding size.
CLIP_VISION_MODELS: dict[str, dict] = {
    "ViT-B/32": dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        patch_size=32,
        image_size=224,
        projection_dim=512,
    ),  # fmt: skip
    "ViT-B/16": dict(
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        patch_size=16,
        image_size=224,
        projection_dim=512,
    ),  # fmt: skip
    "ViT-L/14": dict(
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        patch_size=14,
        image_size=224,
        projection_dim=768,
    ),  # fmt: skip
    "ViT-L/14@336px": dict(
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        patch_size=14,
        image_size=336,
        projection_dim=768,
    ),  # fmt: skip
}
# The reference also offers CLIP's modified ResNets (RN50, RN101, RN50x4, RN50x16, RN50x64); transformers' CLIP
# has no such image tower, so they are refused by name.
CLIP_RESNET_MODELS = ("RN50", "RN101", "RN50x4", "RN50x16", "RN50x64")


@config_value_errors
@strict
class CLIPFramesConfig(CheckedModelTypeMixin, CLIPVisionConfig):
    r"""
    Configuration of [`CLIPFramesModel`]: transformers' `CLIPVisionConfig` (the defaults are ViT-B/32, the
    reference's default `model_name`) and the frame rate of the extraction.

    Args:
        extraction_fps (`float`, *optional*): frames per second sampled from the video (None: every frame, the
            reference's default).
        (the rest): `CLIPVisionConfig`'s fields; `projection_dim` is the size of the features.
    """

    model_type = "clip_frames"

    # CLIPVisionConfig's, narrowed to one int (square frames: the processor crops a square of `image_size`)
    projection_dim: int = 512
    image_size: int = 224
    patch_size: int = 32
    extraction_fps: float | int | None = None

    def validate_sampling(self):
        if self.extraction_fps is not None and not self.extraction_fps > 0:
            raise ValueError(f"extraction_fps must be positive or None, got {self.extraction_fps}")

    def validate_patches(self):
        if self.image_size % self.patch_size:
            raise ValueError(f"image_size ({self.image_size}) must be divisible by patch_size ({self.patch_size})")

    @classmethod
    def from_model_name(cls, model_name: str, **kwargs) -> "CLIPFramesConfig":
        """The image tower of one of OpenAI's released models by the reference's name (e.g. "ViT-B/32")."""
        if model_name in CLIP_RESNET_MODELS:
            raise ValueError(
                f"CLIP {model_name} has a modified-ResNet image tower, which transformers' CLIP (the definition this "
                f"extractor is built on) does not implement; use one of {', '.join(CLIP_VISION_MODELS)}"
            )
        if model_name not in CLIP_VISION_MODELS:
            raise ValueError(f"model_name must be one of {', '.join(CLIP_VISION_MODELS)}, got {model_name!r}")
        return cls(**{**CLIP_VISION_MODELS[model_name], **kwargs})

    @property
    def feature_size(self) -> int:
        return self.projection_dim


__all__ = ["CLIP_RESNET_MODELS", "CLIP_VISION_MODELS", "CLIPFramesConfig"]
