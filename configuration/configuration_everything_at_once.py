"""Configuration of Everything at Once (Shvetsova et al., CVPR 2022): a fusion transformer over any combination of
video, audio and text."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import CheckedModelTypeMixin, config_value_errors

# the paper's feature variants: the fields in which they differ from the defaults
VARIANTS: dict[str, dict] = {
    "tva": {},
    "s3d": {"video_feature_size": 1024},
    "clip": {"video_feature_size": 512, "text_feature_size": 512},
}


@config_value_errors
@strict
class EverythingAtOnceConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of [`EverythingAtOnceModel`]. Defaults reproduce the paper's HowTo100M model (ResNet-152 ||
    ResNeXt-101 video features, word2vec text, ResDAVEnet v2 audio, one fusion block of width 4096, 6144-d space).

    Args:
        video_feature_size (`int`, defaults to 4096): per-time-step video features (1024 for the S3D variant, 512
            CLIP).
        text_feature_size (`int`, defaults to 300): word vectors (512 for the CLIP-text variant).
        num_mel_bins (`int`, defaults to 40): log-mel bins of the audio.
        audio_stage_depths (`list[int]`, defaults to `[2, 2, 1, 1, 1, 1]`): ResDAVEnet v2 blocks per stage.
        audio_stage_widths (`list[int]`, defaults to `[128, 128, 256, 512, 1024, 2048, 4096]`): stem, then per stage;
            one audio token per 2**stages frames (64).
        audio_kernel_width (`int`, defaults to 9): time kernel of the residual convolutions.
        hidden_size (`int`, defaults to 4096): token space and fusion transformer width.
        num_hidden_layers (`int`, defaults to 1), num_attention_heads (`int`, defaults to 64).
        mlp_ratio (`float`, defaults to 1.0): MLP width / hidden size.
        layer_norm_eps (`float`, defaults to 1e-6): every LayerNorm.
        projection_dim (`int`, defaults to 6144): the joint embedding space.
        compute_fused_embeddings (`bool`, defaults to `True`): also run the pairwise passes (t+v, t+a, v+a).
        temperature (`float`, defaults to 0.05): of the combinatorial contrastive loss.
        loss_weights (`dict[str, float]`, *optional*): weights of the loss terms `tv`, `ta`, `va`, `t_va`, `v_ta`,
            `a_tv` (pre-training: 1 for tv and 0.1 for the others; fine-tuning: all 1).
    """

    model_type = "everything_at_once"

    video_feature_size: int = 4096
    text_feature_size: int = 300
    num_mel_bins: int = 40
    audio_stage_depths: list[int] | tuple[int, ...] = (2, 2, 1, 1, 1, 1)
    audio_stage_widths: list[int] | tuple[int, ...] = (128, 128, 256, 512, 1024, 2048, 4096)
    audio_kernel_width: int = 9
    hidden_size: int = 4096
    num_hidden_layers: int = 1
    num_attention_heads: int = 64
    mlp_ratio: float = 1.0
    layer_norm_eps: float = 1e-6
    projection_dim: int = 6144
    compute_fused_embeddings: bool = True
    temperature: float = 0.05
    loss_weights: dict[str, float] | None = None
    initializer_range: float = 0.02

    @classmethod
    def from_variant(cls, variant: str, **overrides) -> "EverythingAtOnceConfig":
        """The configuration of one of the paper's feature variants (`VARIANTS`): `"tva"` (ResNet-152 || ResNeXt-101
        video features, word2vec text), `"s3d"` (MIL-NCE S3D video features, one per second) or `"clip"` (CLIP
        ViT-B/32 image features and CLIP text tokens: give the processor a local CLIP text model with
        `load_clip_text_model`). `overrides` replace any field."""
        if variant not in VARIANTS:
            raise ValueError(f"unknown Everything at Once variant {variant!r}; known: {sorted(VARIANTS)}")
        return cls(**{**VARIANTS[variant], **overrides})

    def __post_init__(self, **kwargs):
        if self.loss_weights is None:
            self.loss_weights = {"tv": 1.0, "ta": 0.1, "va": 0.1, "t_va": 0.1, "v_ta": 0.1, "a_tv": 0.1}
        super().__post_init__(**kwargs)

    def validate_sizes(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
            )
        if len(self.audio_stage_widths) != len(self.audio_stage_depths) + 1:
            raise ValueError("audio_stage_widths must hold the stem width then one width per stage")
        unknown = set(self.loss_weights) - {"tv", "ta", "va", "t_va", "v_ta", "a_tv"}
        if unknown:
            raise ValueError(f"unknown loss terms {sorted(unknown)}")


__all__ = ["EverythingAtOnceConfig", "VARIANTS"]
