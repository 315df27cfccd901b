"""Configuration of the RAFT optical-flow extractor (Teed & Deng, ECCV 2020; the large model)."""

from huggingface_hub.dataclasses import strict

from .configuration_common import config_value_errors
from .configuration_expert_features import ExpertFeaturesConfig


@config_value_errors
@strict
class RAFTConfig(ExpertFeaturesConfig):
    r"""
    Configuration of [`RAFTModel`] (torchvision's RAFT building blocks, the sizes of RAFT-large by default).

    Args:
        feature_encoder_layers / context_encoder_layers (`list[int]`, defaults to `[64, 64, 96, 128, 256]`): stem
            width, the three residual stages and the output width (instance norm in the feature encoder, batch norm
            in the context encoder).
        corr_levels (`int`, defaults to 4), corr_radius (`int`, defaults to 4): the correlation pyramid.
        motion_encoder_corr_layers (`[256, 192]`), motion_encoder_flow_layers (`[128, 64]`),
            motion_encoder_out_channels (`int`, 128): the motion encoder.
        hidden_size (`int`, defaults to 128): GRU state (the rest of the context encoder's output is its input).
        flow_head_hidden_size (`int`, defaults to 256).
        num_flow_updates (`int`, defaults to 20): refinement iterations (the reference's `iters=20`).
        pad_mode (`str`, defaults to `"sintel"`): `InputPadder` rule; frames are padded (replicate) to multiples
            of 8, centred ("sintel") or at the bottom ("kitti"), and the flow cropped back.
        extraction_fps (`float`, *optional*): rate of the frames between which flow is computed.
    """

    model_type = "raft"

    feature_encoder_layers: list[int] | tuple[int, ...] = (64, 64, 96, 128, 256)
    context_encoder_layers: list[int] | tuple[int, ...] = (64, 64, 96, 128, 256)
    corr_levels: int = 4
    corr_radius: int = 4
    motion_encoder_corr_layers: list[int] | tuple[int, ...] = (256, 192)
    motion_encoder_flow_layers: list[int] | tuple[int, ...] = (128, 64)
    motion_encoder_out_channels: int = 128
    hidden_size: int = 128
    flow_head_hidden_size: int = 256
    num_flow_updates: int = 20
    pad_mode: str = "sintel"

    def validate_raft(self):
        if len(self.feature_encoder_layers) != 5 or len(self.context_encoder_layers) != 5:
            raise ValueError("feature_encoder_layers / context_encoder_layers need 5 widths")
        if self.context_encoder_layers[-1] <= self.hidden_size:
            raise ValueError("the context encoder's output must be wider than hidden_size (the rest is the context)")
        if self.pad_mode not in ("sintel", "kitti"):
            raise ValueError(f"pad_mode must be 'sintel' or 'kitti', got {self.pad_mode!r}")
        if self.num_flow_updates < 1:
            raise ValueError("num_flow_updates must be positive")


__all__ = ["RAFTConfig"]
