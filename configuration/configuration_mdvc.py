"""Configuration of MDVC, Multi-modal Dense Video Captioning (Iashin & Rahtu, CVPR Workshops 2020)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import CheckedModelTypeMixin, config_value_errors


@config_value_errors
@strict
class MDVCConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of [`MDVCForConditionalGeneration`]: three independent encoder-decoder transformers (speech,
    audio, video), fused late by a two-layer MLP over the concatenated decoder states. Defaults reproduce the
    released MDVC model (v-iashin/MDVC), except the vocabulary sizes, which come from the data.

    Args:
        vocab_size (`int`, defaults to 10172): caption vocabulary (0 UNK, 1 PAD, 2 BOS, 3 EOS).
        speech_vocab_size (`int`, defaults to 22500): ASR subtitle vocabulary (same special ids).
        video_hidden_size (`int`, defaults to 1024): video stream width (= I3D rgb + flow features).
        audio_hidden_size (`int`, defaults to 128): audio stream width (= VGGish features).
        speech_hidden_size (`int`, defaults to 512): speech stream width (subtitle embedding).
        num_hidden_layers (`int`, defaults to 1): encoder and decoder layers per stream.
        num_attention_heads (`int`, defaults to 4): heads of every attention block.
        video_intermediate_size / audio_intermediate_size / speech_intermediate_size (`int`, defaults to 2048):
            feed-forward widths.
        hidden_dropout_prob (`float`, defaults to 0.1): dropout after positional encodings, on residual branches
            and inside the fusion MLP (no dropout inside attention or feed-forward, as the reference).
        layer_norm_eps (`float`, defaults to 1e-5): epsilon of every LayerNorm.
        max_position_embeddings (`int`, defaults to 3660): length of the fixed sinusoidal table.
        label_smoothing (`float`, defaults to 0.7): smoothing mass of the reference KL loss.
        max_caption_length (`int`, defaults to 50): default number of generated tokens.
    """

    model_type = "mdvc"

    vocab_size: int = 10172
    speech_vocab_size: int = 22500
    video_hidden_size: int = 1024
    audio_hidden_size: int = 128
    speech_hidden_size: int = 512
    num_hidden_layers: int = 1
    num_attention_heads: int = 4
    video_intermediate_size: int = 2048
    audio_intermediate_size: int = 2048
    speech_intermediate_size: int = 2048
    hidden_dropout_prob: float = 0.1
    layer_norm_eps: float = 1e-5
    max_position_embeddings: int = 3660
    label_smoothing: float = 0.7
    max_caption_length: int = 50
    unk_token_id: int = 0
    pad_token_id: int | None = 1
    bos_token_id: int | None = 2
    eos_token_id: int | None = 3
    decoder_start_token_id: int | None = 2
    is_encoder_decoder: bool = True

    def validate_sizes(self):
        for name in ("video_hidden_size", "audio_hidden_size", "speech_hidden_size"):
            if getattr(self, name) % self.num_attention_heads:
                raise ValueError(f"{name} ({getattr(self, name)}) must be divisible by num_attention_heads")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")


__all__ = ["MDVCConfig"]
