"""Configuration of BMT, the Bi-modal Transformer for dense video captioning (Iashin & Rahtu, BMVC 2020)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import CheckedModelTypeMixin, config_value_errors


@config_value_errors
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
        audio_anchor_lengths / video_anchor_lengths (`list[float]`, defaults to `None`): proposal anchors in seconds
            (48 audio / 128 video in the released model). They come from the proposal checkpoint (`'anchors'`) or
            from K-means over the training event lengths; [`BMTForEventProposal`] refuses to run without them.
        audio_kernel_sizes (`list[int]`, defaults to `[5, 13, 23, 35, 51, 69, 91, 121, 161, 211]`): one audio
            proposal head per (odd) kernel size.
        video_kernel_sizes (`list[int]`, defaults to `[1, 5, 9, 13, 19, 25, 35, 45, 61, 79]`): same for video.
        audio_proposal_hidden_sizes / video_proposal_hidden_sizes (`list[int]`, defaults to `[512, 512]`): widths of
            the hidden convolutions of every proposal head.
        audio_feature_stride / video_feature_stride (`float`, defaults to 0.96 / 2.56): seconds per feature step.
        max_audio_length / max_video_length (`int`, defaults to 800 / 300): fixed padded lengths of whole-video inputs
            of the proposal generator (the padded steps change the predictions, as in the reference).
        object_loss_weight / no_object_loss_weight (`float`, defaults to 1 / 100): weights of the objectness terms.
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
    audio_anchor_lengths: list[float] | tuple[float, ...] | None = None
    video_anchor_lengths: list[float] | tuple[float, ...] | None = None
    audio_kernel_sizes: list[int] | tuple[int, ...] = (5, 13, 23, 35, 51, 69, 91, 121, 161, 211)
    video_kernel_sizes: list[int] | tuple[int, ...] = (1, 5, 9, 13, 19, 25, 35, 45, 61, 79)
    audio_proposal_hidden_sizes: list[int] | tuple[int, ...] = (512, 512)
    video_proposal_hidden_sizes: list[int] | tuple[int, ...] = (512, 512)
    audio_feature_stride: float = 0.96
    video_feature_stride: float = 2.56
    max_audio_length: int = 800
    max_video_length: int = 300
    object_loss_weight: float = 1.0
    no_object_loss_weight: float = 100.0
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
        if any(k % 2 == 0 for k in list(self.audio_kernel_sizes) + list(self.video_kernel_sizes)):
            raise ValueError("proposal kernel sizes must be odd (the heads keep the sequence length)")
        for name in ("audio_anchor_lengths", "video_anchor_lengths"):
            anchors = getattr(self, name)
            if anchors is not None and (len(anchors) == 0 or min(anchors) <= 0):
                raise ValueError(f"{name} must be a non-empty list of positive lengths in seconds")
        if self.vocab_size < 5:
            raise ValueError("vocab_size must hold the four special tokens and at least one word")


__all__ = ["BMTConfig"]
