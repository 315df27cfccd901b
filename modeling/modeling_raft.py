"""RAFT optical flow (Z. Teed, J. Deng, "RAFT: Recurrent All-Pairs Field Transforms for Optical Flow", ECCV 2020),
as v-iashin/video_features runs it for its RAFT extractor and I3D's flow stream (princeton-vl's `RAFT`, large).

The network is torchvision's RAFT, assembled from torchvision's building blocks (`FeatureEncoder`, `CorrBlock`,
`MotionEncoder`, `RecurrentBlock`, `FlowHead`, `MaskPredictor`): the same computation as the reference (all-pairs
correlation / sqrt(256) with a 4-level average-pooled pyramid and radius-4 lookups, separable ConvGRU, convex
upsampling with the mask scaled by 0.25), which the parity fixture confirms; the authors' weights are renamed by
the conversion script.

Around it, what the reference does outside its network: inputs are RGB in 0...255 and mapped to 2 x / 255 - 1;
frames are padded to multiples of 8 by replication (`InputPadder`, "sintel": centred, "kitti": at the bottom);
`num_flow_updates` (20) iterations from zero flow; the last convexly-upsampled flow is returned, cropped back to the
input size unless `unpad=False` (I3D's flow stream uses the padded flow, as the reference). Output channels
(dx, dy) in pixels.
"""

from dataclasses import dataclass

import torch
from torch.nn import functional as F
from torchvision.models.optical_flow.raft import (
    RAFT,
    CorrBlock,
    FeatureEncoder,
    FlowHead,
    MaskPredictor,
    MotionEncoder,
    RecurrentBlock,
    ResidualBlock,
    UpdateBlock,
)
from transformers.utils import ModelOutput

from ..configuration.configuration_raft import RAFTConfig
from ..processors.validation import check_float_features
from .modeling_expert_features import ExpertFeaturesPreTrainedModel


@dataclass
class OpticalFlowOutput(ModelOutput):
    """
    Args:
        flow (`(batch, 2, H, W)`): flow from `image1` to `image2`, channels (dx, dy), pixels.
        padding (`(4,)` int64): [left, right, top, bottom] padding applied before the network.
    """

    flow: torch.FloatTensor | None = None
    padding: torch.LongTensor | None = None


def input_padding(height: int, width: int, mode: str = "sintel") -> list[int]:
    """[left, right, top, bottom] padding to multiples of 8 (`InputPadder`): sintel centres it, kitti pads the
    bottom (height) and centres the width."""
    pad_h = (((height // 8) + 1) * 8 - height) % 8
    pad_w = (((width // 8) + 1) * 8 - width) % 8
    if mode == "sintel":
        return [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2]
    return [pad_w // 2, pad_w - pad_w // 2, 0, pad_h]


class RAFTModel(ExpertFeaturesPreTrainedModel):
    config_class = RAFTConfig
    main_input_name = "image1"

    def __init__(self, config: RAFTConfig):
        super().__init__(config)
        feature_encoder = FeatureEncoder(
            block=ResidualBlock, layers=tuple(config.feature_encoder_layers), norm_layer=torch.nn.InstanceNorm2d
        )
        context_encoder = FeatureEncoder(
            block=ResidualBlock, layers=tuple(config.context_encoder_layers), norm_layer=torch.nn.BatchNorm2d
        )
        corr_block = CorrBlock(num_levels=config.corr_levels, radius=config.corr_radius)
        motion_encoder = MotionEncoder(
            in_channels_corr=corr_block.out_channels,
            corr_layers=tuple(config.motion_encoder_corr_layers),
            flow_layers=tuple(config.motion_encoder_flow_layers),
            out_channels=config.motion_encoder_out_channels,
        )
        recurrent_block = RecurrentBlock(
            input_size=motion_encoder.out_channels + config.context_encoder_layers[-1] - config.hidden_size,
            hidden_size=config.hidden_size,
            kernel_size=((1, 5), (5, 1)),
            padding=((0, 2), (2, 0)),
        )
        flow_head = FlowHead(in_channels=config.hidden_size, hidden_size=config.flow_head_hidden_size)
        self.raft = RAFT(
            feature_encoder=feature_encoder,
            context_encoder=context_encoder,
            corr_block=corr_block,
            update_block=UpdateBlock(
                motion_encoder=motion_encoder, recurrent_block=recurrent_block, flow_head=flow_head
            ),
            mask_predictor=MaskPredictor(in_channels=config.hidden_size, hidden_size=256, multiplier=0.25),
        )
        self.post_init()

    def forward(
        self,
        image1: torch.Tensor,
        image2: torch.Tensor,
        unpad: bool = True,
        num_flow_updates: int | None = None,
        return_dict: bool | None = None,
    ) -> OpticalFlowOutput | tuple:
        """`image1`, `image2`: `(batch, 3, H, W)` RGB in 0...255 (float); flow from image1 to image2."""
        check_float_features("image1", image1, model_dtype=self.dtype)
        check_float_features("image2", image2, model_dtype=self.dtype)
        if image1.dim() != 4 or image1.shape[1] != 3 or image1.shape != image2.shape:
            raise ValueError(
                f"image1 and image2 must both be (batch, 3, H, W), got {tuple(image1.shape)} and {tuple(image2.shape)}"
            )
        height, width = image1.shape[-2:]
        padding = input_padding(height, width, self.config.pad_mode)
        padded_side = min(height + padding[2] + padding[3], width + padding[0] + padding[1])
        if padded_side // 8 < 2 ** (self.config.corr_levels - 1) * 2:
            raise ValueError(
                f"frames of {height}x{width} are too small for {self.config.corr_levels} correlation levels "
                f"(the padded shorter side must be at least {8 * 2**self.config.corr_levels} px)"
            )
        pair = torch.cat([image1, image2]).float()
        pair = F.pad(pair, padding, mode="replicate")
        pair = 2 * (pair / 255.0) - 1.0
        first, second = pair.chunk(2)
        flow = self.raft(first.contiguous(), second.contiguous(), num_flow_updates or self.config.num_flow_updates)[-1]
        if unpad:
            flow = flow[..., padding[2] : flow.shape[-2] - padding[3], padding[0] : flow.shape[-1] - padding[1]]
        output = OpticalFlowOutput(flow=flow, padding=torch.tensor(padding))
        return output if return_dict is not False else output.to_tuple()


__all__ = ["OpticalFlowOutput", "RAFTModel", "input_padding"]
