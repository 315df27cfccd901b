"""Configuration of modality-masking pre-training of the MMT video encoder (Gabeur, Nagrani, Sun, Alahari, Schmid,
"Masking Modalities for Cross-modal Video Retrieval", WACV 2022)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import CheckedModelTypeMixin, config_value_errors
from .configuration_mmt import MMT_EXPERT_TABLE, MMTConfig

MASKING_EXPERT_TABLE = {"s3d": MMT_EXPERT_TABLE["s3d"], "vggish": MMT_EXPERT_TABLE["vggish"], "asr": (768, 10)}


@config_value_errors
@strict
class MMTModalityMaskingConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of [`MMTForModalityMaskingPretraining`]: at every step one whole modality is hidden from the video
    encoder Psi (an MMT over RGB, audio and ASR) and becomes the query, encoded by BERT + gated heads when it is the
    ASR (Phi_text, the MMT caption side) or by a temporal-free MMT over its features when it is RGB or audio (Phi_av).

    Args:
        video_config (`dict` or [`MMTConfig`], *optional*): Psi and Phi_text. Defaults to the paper's sizes with
            experts `s3d` (RGB, 1024-d, expert row 1), `vggish` (audio, 128-d, row 2) and `asr` (768-d wordpiece
            features, row 10), BERT-base captions.
        asr_modality (`str`, defaults to `"asr"`): the expert that is speech; its query encoder is Phi_text.
        query_av_num_hidden_layers (`int`, defaults to 4): layers of Phi_av (heads and width follow `video_config`).
        query_av_num_attention_heads (`int`, defaults to 4): heads of Phi_av.
        mask_probability_asr (`float`, defaults to 0.8): p, the probability that a step masks the ASR; RGB and audio
            share 1 - p equally (WACV Table 1; p = 1.0 is the standard "speech supervises vision" pre-training).
        modality_probabilities (`dict[str, float]`, *optional*): the full schedule, overriding
            `mask_probability_asr`; must cover every expert and sum to 1.
        mask_fraction (`float`, defaults to 1.0): fraction r of the masked modality's tokens hidden from Psi and
            given to the query encoder (partial-masking ablation: 0.15 / 0.5 / 0.85); 1.0 masks the whole modality.
        renormalize_over_present (`bool`, defaults to `True`): score only the modalities present in Psi's input
            (the masked slot's embedding is a readout of the others).
        asr_query_tokens (`int`, defaults to 30): consecutive wordpieces given to Phi_text.
        ranking_margin (`float`, defaults to 0.05): margin of the bidirectional ranking loss.
    """

    model_type = "mmt_modality_masking"
    sub_configs = {"video_config": MMTConfig}

    video_config: dict | PreTrainedConfig | None = None
    asr_modality: str = "asr"
    query_av_num_hidden_layers: int = 4
    query_av_num_attention_heads: int = 4
    mask_probability_asr: float = 0.8
    modality_probabilities: dict[str, float] | None = None
    mask_fraction: float = 1.0
    renormalize_over_present: bool = True
    asr_query_tokens: int = 30
    ranking_margin: float = 0.05

    def __post_init__(self, **kwargs):
        if self.video_config is None:
            self.video_config = MMTConfig(
                expert_names=list(MASKING_EXPERT_TABLE),
                expert_feature_sizes={k: v[0] for k, v in MASKING_EXPERT_TABLE.items()},
                expert_type_ids={k: v[1] for k, v in MASKING_EXPERT_TABLE.items()},
            )
        elif isinstance(self.video_config, dict):
            self.video_config = MMTConfig(**{k: v for k, v in self.video_config.items() if k != "model_type"})
        super().__post_init__(**kwargs)

    @property
    def schedule(self) -> dict[str, float]:
        """Probability of masking each expert at a step."""
        if self.modality_probabilities is not None:
            return dict(self.modality_probabilities)
        others = [name for name in self.video_config.expert_names if name != self.asr_modality]
        share = (1.0 - self.mask_probability_asr) / len(others) if others else 0.0
        return {
            name: (self.mask_probability_asr if name == self.asr_modality else share)
            for name in self.video_config.expert_names
        }

    def validate_schedule(self):
        experts = list(self.video_config.expert_names)
        if self.asr_modality not in experts:
            raise ValueError(f"asr_modality {self.asr_modality!r} is not one of the video experts {experts}")
        if not 0.0 <= self.mask_probability_asr <= 1.0:
            raise ValueError(f"mask_probability_asr must be in [0, 1], got {self.mask_probability_asr}")
        schedule = self.schedule
        if set(schedule) != set(experts):
            raise ValueError(
                f"modality_probabilities must give one probability per expert {experts}, got {sorted(schedule)}"
            )
        if any(p < 0 for p in schedule.values()) or abs(sum(schedule.values()) - 1.0) > 1e-6:
            raise ValueError(
                f"the masking schedule must be non-negative and sum to 1, got {schedule} "
                f"(sum {sum(schedule.values()):.6f})"
            )
        if not 0.0 < self.mask_fraction <= 1.0:
            raise ValueError(f"mask_fraction must be in (0, 1], got {self.mask_fraction}")
        if self.video_config.hidden_size % self.query_av_num_attention_heads:
            raise ValueError("video_config.hidden_size must be divisible by query_av_num_attention_heads")


__all__ = ["MMTModalityMaskingConfig", "MASKING_EXPERT_TABLE"]
