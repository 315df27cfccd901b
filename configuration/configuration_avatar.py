"""Configuration of AVATAR, audio-visual speech recognition (Gabeur et al., Interspeech 2022)."""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import config_value_errors


@config_value_errors
@strict
class AvatarConfig(PreTrainedConfig):
    r"""Configuration of [`AvatarForConditionalGeneration`]. Defaults are the paper's headline model.

    Args:
        hidden_size: width D of the MBT encoder (both streams).
        encoder_layers: transformer blocks per encoder stream.
        encoder_attention_heads: heads of the encoder attention.
        encoder_intermediate_size: encoder MLP width.
        patch_size: spatial patch (height, width) of both modalities; for audio height = time frames, width = mel bins.
        tubelet_size: temporal extent of a video tubelet.
        num_channels: input channels (the log-mel is tiled to 3 channels).
        num_frames: video frames per clip (2 in the paper, 8 in the released config); any number of at least
            `tubelet_size` (the tubelet convolution keeps whole tubelets, `num_frames // tubelet_size`, as the
            reference's VALID convolution does).
        image_size: frame size: one int for square frames (older configs), or `[height, width]`. The token grid is
            `(height // patch_size, width // patch_size)` per tubelet.
        num_mel_bins: log-mel bins.
        max_audio_frames: log-mel frames per clip (2500 = 25 s).
        modalities: encoder streams; ("rgb", "audio") or ("audio",) for the audio-only baseline.
        fusion_layer: first encoder layer where the streams exchange information through the bottleneck.
        num_bottleneck_tokens: bottleneck tokens named by the paper.
        bottleneck_extra_cls_token: the reference adds one more bottleneck token (5 parameters in total).
        encoder_attention_dropout: dropout on encoder attention probabilities.
        encoder_dropout: dropout on encoder branch outputs.
        encoder_drop_path_rate: stochastic depth rate of the last encoder layer (linear in the layer index, no
            rescaling).
        layer_norm_eps: LayerNorm epsilon everywhere.
        decoder_layers: decoder blocks.
        decoder_attention_heads: decoder heads.
        d_model: decoder width (must equal hidden_size).
        decoder_ffn_dim: decoder MLP width.
        decoder_dropout: decoder dropout.
        decoder_attention_dropout: decoder attention dropout.
        max_position_embeddings: size of the decoder sinusoid table.
        vocab_size: wordpiece vocabulary size.
        init_std: std of the positional/bottleneck initialisation.
    """

    model_type = "avatar"
    # transformers 5 builds generation caches from `num_hidden_layers`: alias it to the decoder depth.
    attribute_map = {"num_hidden_layers": "decoder_layers"}

    hidden_size: int = 768
    encoder_layers: int = 12
    encoder_attention_heads: int = 12
    encoder_intermediate_size: int = 3072
    patch_size: int = 16
    tubelet_size: int = 2
    num_channels: int = 3
    num_frames: int = 2
    image_size: int | list[int] | tuple[int, ...] = 224
    num_mel_bins: int = 80
    max_audio_frames: int = 2500
    modalities: list[str] | tuple[str, ...] = ("rgb", "audio")
    fusion_layer: int = 8
    num_bottleneck_tokens: int = 4
    bottleneck_extra_cls_token: bool = True
    encoder_attention_dropout: float = 0.1
    encoder_dropout: float = 0.0
    encoder_drop_path_rate: float = 0.2
    layer_norm_eps: float = 1e-6
    decoder_layers: int = 8
    decoder_attention_heads: int = 4
    d_model: int = 768
    decoder_ffn_dim: int = 3072
    decoder_dropout: float = 0.1
    decoder_attention_dropout: float = 0.0
    max_position_embeddings: int = 256
    vocab_size: int = 30522
    init_std: float = 0.02
    pad_token_id: int | None = 0
    eos_token_id: int | None = 102
    decoder_start_token_id: int | None = 0
    is_encoder_decoder: bool = True
    tie_word_embeddings: bool = True

    def validate_architecture(self):
        if tuple(self.modalities) not in (("rgb", "audio"), ("audio",)):
            raise ValueError(f"modalities must be ('rgb', 'audio') or ('audio',), got {self.modalities}")
        if self.hidden_size != self.d_model:
            raise ValueError(f"hidden_size ({self.hidden_size}) must equal d_model ({self.d_model})")
        if self.hidden_size % self.encoder_attention_heads or self.d_model % self.decoder_attention_heads:
            raise ValueError("hidden sizes must be divisible by the number of heads")
        if not 0 <= self.fusion_layer <= self.encoder_layers:
            raise ValueError(f"fusion_layer must be in [0, {self.encoder_layers}], got {self.fusion_layer}")
        if self.num_frames < self.tubelet_size:
            raise ValueError(
                f"num_frames ({self.num_frames}) must be at least tubelet_size ({self.tubelet_size}): one tubelet"
            )
        size = [self.image_size] if isinstance(self.image_size, int) else list(self.image_size)
        if len(size) not in (1, 2) or not all(isinstance(v, int) and v >= self.patch_size for v in size):
            raise ValueError(
                f"image_size must be an int or [height, width], each at least patch_size ({self.patch_size}); "
                f"got {self.image_size!r}"
            )
        if self.max_audio_frames < self.patch_size or self.num_mel_bins < self.patch_size:
            raise ValueError(
                f"max_audio_frames ({self.max_audio_frames}) and num_mel_bins ({self.num_mel_bins}) must be at least "
                f"patch_size ({self.patch_size})"
            )

    @property
    def frame_size(self) -> tuple[int, int]:
        """`(height, width)` of the video frames."""
        if isinstance(self.image_size, int):
            return self.image_size, self.image_size
        return tuple(self.image_size) if len(self.image_size) == 2 else (self.image_size[0],) * 2

    @property
    def video_grid(self) -> tuple[int, int, int]:
        """Tubelet grid `(time, height, width)` the video positional embedding covers (CLS slot aside)."""
        height, width = self.frame_size
        return self.num_frames // self.tubelet_size, height // self.patch_size, width // self.patch_size

    @property
    def audio_grid(self) -> tuple[int, int]:
        """Patch grid `(time frames, mel bins)` the audio positional embedding covers (CLS slot aside)."""
        return self.max_audio_frames // self.patch_size, self.num_mel_bins // self.patch_size

    @property
    def num_video_tokens(self) -> int:
        t, h, w = self.video_grid
        return t * h * w

    @property
    def num_audio_tokens(self) -> int:
        rows, columns = self.audio_grid
        return rows * columns

    @property
    def num_bottlenecks(self) -> int:
        return self.num_bottleneck_tokens + int(self.bottleneck_extra_cls_token)


__all__ = ["AvatarConfig"]
