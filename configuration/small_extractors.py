"""Small networks of the feature extractors' architectures (odd, unequal widths), with random weights the stand-ins
that tests, the demo page and the extraction benchmark build where the authors' weights (converted by
`scripts/convert_<extractor>_original_checkpoint.py`, docs/feature_extractors.md) are not at hand. Sizes only: each
user adds its own sampling (`extraction_fps`, `stack_size`, `step_size`)."""

SMALL_EXTRACTOR_SIZES: dict[str, dict] = {
    "resnet_frames": dict(depths=[1, 2, 1, 1], widths=[8, 12, 16, 20]),
    "s3d": dict(width_divisor=8),
    "i3d": dict(width_divisor=8),
    "raft": dict(
        feature_encoder_layers=[8, 8, 12, 16, 24],
        context_encoder_layers=[8, 8, 12, 16, 20],
        corr_levels=2,
        corr_radius=2,
        motion_encoder_corr_layers=[16, 12],
        motion_encoder_flow_layers=[8, 6],
        motion_encoder_out_channels=14,
        hidden_size=12,
        flow_head_hidden_size=16,
        num_flow_updates=3,
    ),
    "vggish": dict(conv_widths=[4, 6, 8, 8, 10, 12], hidden_sizes=[24, 20], embedding_size=16),
}


def small_extractor_config(model_type: str, **sampling) -> dict:
    """A copy of the small sizes of `model_type` with `sampling` (or any other config value) added."""
    return {**SMALL_EXTRACTOR_SIZES[model_type], **sampling}


__all__ = ["SMALL_EXTRACTOR_SIZES", "small_extractor_config"]
