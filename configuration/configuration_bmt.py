"""Configuration of BMT, the Bi-modal Transformer for dense video captioning (Iashin & Rahtu, BMVC 2020)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import CheckedModelTypeMixin


@strict
class BMTConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of [`BMTForConditionalGeneration`]. Defaults reproduce the released BMT captioner
    (v-iashin/BMT, `best_cap_model.pt`), except `vocab_size`, which comes from the training captions.

    Args:
        vocab_size (`int`, defaults to 10172): caption vocabulary (specials 0 UNK, 1 PAD, 2 BOS, 3 EOS).
        audio_feature_size (`int`, defaults to 128): VGGish embedding width (= audio stream width).
        video_feature_size (`int`, defaults to 1024): I3D width; the model receives rgb + flow summed.
        attention_hidden_size (`int`, defaults to 1024): inner width of *every* attention block, whatever the widths
            of its query and key inputs (reference `--d_model`).
        decoder_hidden_size (`int`, defaults to 300): caption stream width (= GloVe width, reference `--d_model_caps`).
        num_attention_heads (`int`, defaults to 4): heads of every attention block.
        num_encoder_layers (`int`, defaults to 2): bi-modal encoder layers.
        num_decoder_layers (`int`, defaults to 2): bi-modal decoder layers.
        audio_intermediate_size (`int`, defaults to 512): audio feed-forward width.
        video_intermediate_size (`int`, defaults to 4096): video feed-forward width.
        decoder_intermediate_size (`int`, defaults to 1200): caption feed-forward width.
        hidden_dropout_prob (`float`, defaults to 0.1): dropout after positional encodings, on residual branches,
            between feed-forward layers and in the decoder bridge.
        attention_dropout (`float`, defaults to 0.1): dropout on the attention *output* (reference placement).
        layer_norm_eps (`float`, defaults to 1e-5): epsilon of every LayerNorm.
        max_position_embeddings (`int`, defaults to 3660): length of the fixed sinusoidal table.
        freeze_word_embeddings (`bool`, defaults to `True`): keep the (GloVe-initialised) word embeddings frozen.
        label_smoothing (`float`, defaults to 0.7): smoothing mass of the reference KL loss (spread over V - 2 words,
            zero on PAD).
        max_caption_length (`int`, defaults to 30): default number of generated tokens.
    """

    model_type = "bmt"
    attribute_map = {"num_hidden_layers": "num_decoder_layers", "hidden_size": "decoder_hidden_size"}

    vocab_size: int = 10172
    audio_feature_size: int = 128
    video_feature_size: int = 1024
    attention_hidden_size: int = 1024
    decoder_hidden_size: int = 300
    num_attention_heads: int = 4
    num_encoder_layers: int = 2
    num_decoder_layers: int = 2
    audio_intermediate_size: int = 512
    video_intermediate_size: int = 4096
    decoder_intermediate_size: int = 1200
    hidden_dropout_prob: float = 0.1
    attention_dropout: float = 0.1
    layer_norm_eps: float = 1e-5
    max_position_embeddings: int = 3660
    freeze_word_embeddings: bool = True
    label_smoothing: float = 0.7
    max_caption_length: int = 30
    unk_token_id: int = 0
    pad_token_id: int | None = 1
    bos_token_id: int | None = 2
    eos_token_id: int | None = 3
    decoder_start_token_id: int | None = 2
    is_encoder_decoder: bool = True

    def validate_sizes(self):
        if self.attention_hidden_size % self.num_attention_heads:
            raise ValueError(
                f"attention_hidden_size ({self.attention_hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads})"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.vocab_size < 5:
            raise ValueError("vocab_size must hold the four special tokens and at least one word")


__all__ = ["BMTConfig"]
