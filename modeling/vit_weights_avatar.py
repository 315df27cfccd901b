"""Starting AVATAR's two encoder streams from an image ViT, as MBT does (scenic `projects/mbt/model_utils.py`,
`initialise_from_train_state` / `init_posemb`): blocks copied into both streams, the patch kernel inflated on the
central frame for the tubelets, the positional grid resized to the audio and frame grids, bottlenecks from its
2 x 2 resizing. Used by `AvatarForConditionalGeneration.from_vit_pretrained`."""

import math

import torch
import torch.nn.functional as F

from ..configuration.configuration_avatar import AvatarConfig
from .renaming import rename_key


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
            f"the ViT patch kernel is {tuple(kernel.shape)}, "
            f"this AVATAR config needs {(d, config.num_channels, p, p)} "
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

    audio_grid = _resize_grid(grid, config.audio_grid).reshape(-1, d)
    out["encoder.audio_embeddings.patch_embedding.weight"] = kernel
    out["encoder.audio_embeddings.patch_embedding.bias"] = bias
    out["encoder.audio_embeddings.cls_token"] = cls_token
    out["encoder.audio_embeddings.position_embedding"] = torch.cat([cls_position, audio_grid])[None]
    if "video" in streams:
        t = config.tubelet_size
        inflated = kernel.new_zeros(d, config.num_channels, t, p, p)
        inflated[:, :, t // 2] = kernel
        frames, height, width = config.video_grid
        frame_grid = _resize_grid(grid, (height, width)).reshape(-1, d)
        tiled = frame_grid.repeat(frames, 1)
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
