"""CLIP frame features (A. Radford et al., "Learning Transferable Visual Models From Natural Language Supervision",
ICML 2021), as v-iashin/video_features' `clip` extractor computes them: every sampled frame through CLIP's image
encoder, the projected image embedding (`model.encode_image`: the class token after `ln_post`, times `proj`), not
normalised. 512-d for ViT-B/32 (the reference's default).

The network is transformers' `CLIPVisionModelWithProjection` (`vision_model` + `visual_projection`, the same
computation as OpenAI's `VisionTransformer`: pre-LayerNorm, QuickGELU, class token, `ln_post`, projection without
bias), so attention runs through transformers' attention interface (eager, SDPA, ...) and a transformers CLIP
checkpoint (`CLIPModel` or `CLIPVisionModelWithProjection`, e.g. a local copy of openai/clip-vit-base-patch32) loads
by name: `CLIPFramesModel.from_clip_checkpoint(folder)`, or scripts/convert_clip_frames_checkpoint.py. OpenAI's
own `.pt` files are TorchScript archives (pickles) and are not read.

Decisions: the reference runs CLIP in float16 on a GPU (`clip.load` keeps fp16 weights on CUDA); the zoo computes
in float32 (the features differ by float16 rounding, about 1e-3 relative). Only the ViT towers exist in transformers'
CLIP: the reference's RN50 / RN101 / RN50x4 / RN50x16 are refused by name (`CLIPFramesConfig.from_model_name`).
"""

from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import CLIPVisionModelWithProjection
from transformers.models.clip.modeling_clip import CLIPAttention

from ..configuration.configuration_clip_frames import CLIPFramesConfig
from ..processors.validation import check_float_features
from .layers.attention import recording_attentions
from .loading import CheckedLoadingMixin
from .modeling_expert_features import ExpertFeaturesOutput


@dataclass
class CLIPFramesOutput(ExpertFeaturesOutput):
    """
    Args:
        features (`(batch, projection_dim)`): the projected image embedding of each frame (`encode_image`).
        hidden_states (`(batch, 1 + patches, hidden_size)`, *optional*): the last layer's tokens
            (`output_hidden_states=True`).
        attentions (`tuple` of `(batch, heads, tokens, tokens)`, *optional*): each layer's attention weights
            (`output_attentions=True`).
    """

    attentions: tuple[torch.FloatTensor, ...] | None = None


class CLIPFramesModel(CheckedLoadingMixin, CLIPVisionModelWithProjection):
    config_class = CLIPFramesConfig
    config: CLIPFramesConfig

    def forward(
        self,
        pixel_values: torch.Tensor,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
    ) -> CLIPFramesOutput | tuple:
        """`pixel_values`: `(batch, 3, image_size, image_size)`, CLIP-normalised (`CLIPFramesProcessor`)."""
        check_float_features("pixel_values", pixel_values, model_dtype=self.dtype)
        size = self.config.image_size
        if pixel_values.dim() != 4 or tuple(pixel_values.shape[1:]) != (self.config.num_channels, size, size):
            raise ValueError(
                f"pixel_values must be (batch, {self.config.num_channels}, {size}, {size}), got "
                f"{tuple(pixel_values.shape)}"
            )
        # weights are recorded with the zoo's recorder, which runs CLIP's attention eagerly meanwhile (SDPA kernels
        # return no weights)
        groups = {"attentions": lambda name: True}
        with recording_attentions(self, groups, enabled=bool(output_attentions), also=(CLIPAttention,)) as recorded:
            output = super().forward(pixel_values=pixel_values)
        result = CLIPFramesOutput(
            features=output.image_embeds,
            hidden_states=output.last_hidden_state if output_hidden_states else None,
            attentions=tuple(recorded["attentions"]) if output_attentions else None,
        )
        return result if return_dict is not False else result.to_tuple()

    @classmethod
    def from_clip_checkpoint(cls, folder: str | Path, extraction_fps: float | None = None) -> "CLIPFramesModel":
        """A local transformers CLIP checkpoint folder (`CLIPModel` or `CLIPVisionModelWithProjection`) as a frame
        extractor: its image tower and projection, under the same parameter names; the text tower is left out."""
        import json

        from transformers import CLIPVisionConfig

        folder = Path(folder)
        if not (folder / "config.json").is_file():
            raise FileNotFoundError(f"{folder}: no config.json (a transformers CLIP checkpoint folder is expected)")
        saved = json.loads((folder / "config.json").read_text())
        if saved.get("model_type") not in ("clip", "clip_vision_model"):
            raise ValueError(f"{folder}: a {saved.get('model_type')!r} checkpoint, not a transformers CLIP one")
        vision = CLIPVisionConfig.from_pretrained(folder)  # takes `vision_config` out of a CLIPModel config
        if saved["model_type"] == "clip" and saved.get("projection_dim"):  # CLIPModel keeps it at the top level
            vision.projection_dim = saved["projection_dim"]
        fields = {k: v for k, v in vision.to_dict().items() if k in CLIPFramesConfig.__dataclass_fields__}
        for key in ("model_type", "transformers_version", "architectures", "_name_or_path"):
            fields.pop(key, None)
        config = CLIPFramesConfig(**fields, extraction_fps=extraction_fps)
        source = CLIPVisionModelWithProjection.from_pretrained(folder, config=vision).eval()
        model = cls(config).eval()
        missing, unexpected = model.load_state_dict(source.state_dict(), strict=False)
        missing = [k for k in missing if not k.endswith("position_ids")]
        if missing or unexpected:
            raise ValueError(f"{folder}: parameters missing {missing}, unexpected {unexpected}")
        return model


__all__ = ["CLIPFramesModel", "CLIPFramesOutput"]
