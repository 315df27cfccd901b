"""Configuration of MMT, the multi-modal transformer for text-video retrieval (Gabeur et al., ECCV 2020)."""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import AutoConfig, PreTrainedConfig
from transformers.configuration_utils import SubConfigSpec

from .configuration_common import CheckedModelTypeMixin, config_value_errors

# The reference's fixed expert table (gabeur/mmt utils/util.py `compute_dims`): raw feature size and the row of
# the expert-embedding table. Names are the reference's expert keys.
MMT_EXPERT_TABLE: dict[str, tuple[int, int]] = {
    "s3d": (1024, 1),
    "vggish": (128, 2),
    "face": (512, 3),
    "audio": (128, 4),
    "rgb": (2048, 5),
    "speech": (300, 6),
    "ocr": (300, 7),
    "flow": (1024, 8),
    "scene": (2208, 9),
}
MSRVTT_EXPERTS = ("face", "ocr", "rgb", "s3d", "scene", "speech", "vggish")

# bert-base-cased, the caption encoder of the paper (weights are loaded separately, see MMTModel).
_BERT_BASE_CASED = dict(
    vocab_size=28996,
    hidden_size=768,
    num_hidden_layers=12,
    num_attention_heads=12,
    intermediate_size=3072,
    max_position_embeddings=512,
    type_vocab_size=2,
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
)


@config_value_errors
@strict
class MMTConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of [`MMTModel`]. Defaults reproduce the paper's MSR-VTT model (7 experts, 4 layers x 4 heads,
    512 wide, BERT-base-cased captions); see gabeur/mmt `configs_pub/eccv20/MSRVTT_jsfusion_trainval.json`.

    Args:
        text_config (`dict` or `PreTrainedConfig`, *optional*):
            Caption encoder; any `AutoConfig` type with a BERT-like `last_hidden_state`. Defaults to the
            bert-base-cased shape.
        expert_names (`list[str]`):
            Video experts in token order. This order fixes the video token layout and the expert axis of every
            output; converted checkpoints use the reference's sorted order. Never re-sorted.
        expert_feature_sizes (`dict[str, int]`, *optional*):
            Raw size of each expert's pre-extracted features. Defaults to the reference table (face 512).
        expert_type_ids (`dict[str, int]`, *optional*):
            Row of the expert-embedding table for each expert (THESIS eq. 3.3). Defaults to the reference table.
        hidden_size (`int`, defaults to 512): d, the width of the video transformer, projections and heads.
        num_hidden_layers (`int`, defaults to 4): video transformer layers.
        num_attention_heads (`int`, defaults to 4): video transformer heads.
        intermediate_size (`int`, defaults to 3072): feed-forward width of the video transformer.
        hidden_act (`str`, defaults to `"gelu"`): erf GELU, as the reference BERT.
        hidden_dropout_prob (`float`, defaults to 0.1): dropout on embeddings and residual branches.
        attention_probs_dropout_prob (`float`, defaults to 0.1): dropout on attention probabilities.
        max_temporal_positions (`int`, defaults to 32): rows of the temporal table T (102 for ActivityNet). Id 0 is
            the aggregated token, 1 unknown time / padding, `floor(t) + 2` a feature centred at t seconds (clamped).
        type_vocab_size (`int`, defaults to 19): rows of the expert-embedding table E.
        layer_norm_eps (`float`, defaults to 1e-12): LayerNorm epsilon of the video transformer.
        initializer_range (`float`, defaults to 0.02): std of the normal initialisation.
        temporal_encoding (`"seconds"`, `"order"`, `"unknown"` or `"none"`, defaults to `"seconds"`):
            temporal ids from time codes (reference `tint`), token order (`ordr`), all unknown (`type`), or no
            temporal embedding at all (`none`).
        agg_init (`"max"`, `"mean"` or `"zero"`, defaults to `"max"`): input of each [AGG] token: the projected
            pooled features (max or mean over all raw features of the clip, computed by the processor) or the
            projection of a zero vector (reference `mxp` / `mnp` / `sep`).
        use_feature_tokens (`bool`, defaults to `True`): feed the per-feature tokens (reference `vid_inp=both`);
            `False` feeds only [CLS] and the [AGG] tokens (`vid_inp=agg`).
        text_pooling (`"cls"`, `"max"` or `"mean"`, defaults to `"cls"`): caption vector h(c) from the caption
            encoder's last hidden state: the [CLS] output, or max / mean over tokens 1..L-1.
        text_projection (`"gated_bn"`, `"gated"` or `"linear"`, defaults to `"gated_bn"`): caption head per
            expert: gated embedding unit with batch norm (`gbn`), without (`gem`), or Linear + L2 norm (`lin`).
        text_weighting (`"linear_softmax"` or `"uniform"`, defaults to `"linear_softmax"`): mixture weights w(c).
        renormalize_missing_modalities (`bool`, defaults to `False`): drop missing experts from the similarity
            and renormalise the weights per caption-video pair. The published models keep them (`False`).
        ranking_margin (`float`, defaults to 0.05): margin of the bidirectional max-margin ranking loss.

    Example:

    ```python
    >>> from videozoo.configuration import MMTConfig
    >>> from videozoo.modeling import MMTModel
    >>> model = MMTModel(MMTConfig(expert_names=["s3d", "vggish"]))
    ```
    """

    model_type = "mmt"
    loadable_from = {"mmt_modality_masking": "video_config"}  # fine-tuning from modality-masking pre-training
    sub_configs_defaults = {
        "text_config": SubConfigSpec(config_class=AutoConfig, model_type="bert", init_kwargs=_BERT_BASE_CASED)
    }

    text_config: dict | PreTrainedConfig | None = None
    expert_names: list[str] | tuple[str, ...] = MSRVTT_EXPERTS
    expert_feature_sizes: dict[str, int] | None = None
    expert_type_ids: dict[str, int] | None = None
    hidden_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1
    max_temporal_positions: int = 32
    type_vocab_size: int = 19
    layer_norm_eps: float = 1e-12
    initializer_range: float = 0.02
    temporal_encoding: Literal["seconds", "order", "unknown", "none"] = "seconds"
    agg_init: Literal["max", "mean", "zero"] = "max"
    use_feature_tokens: bool = True
    text_pooling: Literal["cls", "max", "mean"] = "cls"
    text_projection: Literal["gated_bn", "gated", "linear"] = "gated_bn"
    text_weighting: Literal["linear_softmax", "uniform"] = "linear_softmax"
    renormalize_missing_modalities: bool = False
    ranking_margin: float = 0.05

    def __post_init__(self, **kwargs):
        self.expert_names = list(self.expert_names)
        if self.expert_feature_sizes is None:
            self.expert_feature_sizes = {n: MMT_EXPERT_TABLE[n][0] for n in self.expert_names if n in MMT_EXPERT_TABLE}
        if self.expert_type_ids is None:
            self.expert_type_ids = {n: MMT_EXPERT_TABLE[n][1] for n in self.expert_names if n in MMT_EXPERT_TABLE}
        super().__post_init__(**kwargs)

    def validate_experts(self):
        if not self.expert_names:
            raise ValueError("MMTConfig needs at least one expert in expert_names")
        if len(set(self.expert_names)) != len(self.expert_names):
            raise ValueError(f"expert_names has duplicates: {self.expert_names}")
        for table in ("expert_feature_sizes", "expert_type_ids"):
            missing = [name for name in self.expert_names if name not in getattr(self, table)]
            if missing:
                raise ValueError(f"{table} has no entry for expert(s) {missing} (unknown to the reference table)")
        for name, size in self.expert_feature_sizes.items():
            if size <= 0:
                raise ValueError(f"expert_feature_sizes[{name!r}] must be positive, got {size}")
        for name, type_id in self.expert_type_ids.items():
            if not 0 < type_id < self.type_vocab_size:
                raise ValueError(
                    f"expert_type_ids[{name!r}] = {type_id} is outside the expert table"
                    f" (1..{self.type_vocab_size - 1}; row 0 is the [CLS] token)"
                )

    def validate_sizes(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not divisible by num_attention_heads {self.num_attention_heads}"
            )
        if self.max_temporal_positions < 2:
            raise ValueError("max_temporal_positions must be at least 2 (ids 0 = aggregated, 1 = unknown time)")


__all__ = ["MMTConfig", "MMT_EXPERT_TABLE", "MSRVTT_EXPERTS"]
