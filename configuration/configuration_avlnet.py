"""Configuration of AVLnet, audio-video(-text) retrieval from raw audio (Rouditchenko et al., Interspeech 2021)."""

from typing import Literal

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import CheckedModelTypeMixin, config_value_errors


@config_value_errors
@strict
class AVLnetConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of [`AVLnetModel`]. Defaults reproduce the released AVLnet (audio-video) checkpoints.

    Args:
        variant (`"av"`, `"text_tri"` or `"text_fused"`, defaults to `"av"`): AVLnet (audio and video),
            AVLnet-Text-Tri (independent text branch, three pairwise losses) or AVLnet-Text-Fused (audio and text
            fused by one gate, scored against video).
        embed_dim (`int`, defaults to 4096): D, the shared space (paper: 4096; 6144 for Text-Tri).
        video_feature_size (`int`, defaults to 4096): pooled 2D (2048) + 3D (2048) CNN features.
        word_embedding_size (`int`, defaults to 300): word2vec vectors of the text variants.
        num_mel_bins (`int`, defaults to 40): log-mel bins of the audio input.
        audio_stage_depths (`list[int]`, defaults to `[2, 2, 2, 2]`): residual blocks per ResDAVEnet stage.
        audio_stage_widths (`list[int]`, defaults to `[128, 128, 256, 512, 1024]`): stem width, then one per stage.
        audio_kernel_width (`int`, defaults to 9): time kernel of the residual convolutions.
        audio_gating (`"pre_projection"` or `"post_projection"`, defaults to `"pre_projection"`): the released code
            gates the pooled audio at the CNN width and then projects linearly to D; the paper's equation projects
            and gates in D.
        audio_train_pool_includes_padding (`bool`, defaults to `True`): in training mode the reference averages the
            audio over every output frame, padding included; evaluation always masks. `False` masks in both.
        text_word_projection (`bool`, defaults to `True`): Linear + ReLU on each word vector before the max-pool
            (in the code, not in the paper).
        mms_margin (`float`, defaults to 0.001): delta of the masked-margin softmax loss.
    """

    model_type = "avlnet"

    variant: Literal["av", "text_tri", "text_fused"] = "av"
    embed_dim: int = 4096
    video_feature_size: int = 4096
    word_embedding_size: int = 300
    num_mel_bins: int = 40
    audio_stage_depths: list[int] | tuple[int, ...] = (2, 2, 2, 2)
    audio_stage_widths: list[int] | tuple[int, ...] = (128, 128, 256, 512, 1024)
    audio_kernel_width: int = 9
    audio_gating: Literal["pre_projection", "post_projection"] = "pre_projection"
    audio_train_pool_includes_padding: bool = True
    text_word_projection: bool = True
    mms_margin: float = 0.001
    initializer_range: float = 0.02

    def validate_sizes(self):
        if len(self.audio_stage_widths) != len(self.audio_stage_depths) + 1:
            raise ValueError("audio_stage_widths must hold the stem width then one width per stage")
        if self.variant == "text_fused" and self.embed_dim % 2:
            raise ValueError("the fused variant needs an even embed_dim (audio and text are projected to D / 2)")
        if self.variant == "text_fused" and self.audio_gating != "pre_projection":
            raise ValueError("the fused variant gates audio and text together; audio_gating must be 'pre_projection'")

    @property
    def audio_hidden_size(self) -> int:
        return self.audio_stage_widths[-1]


__all__ = ["AVLnetConfig"]
