"""Configurations of SpecVQGAN, visually guided sound generation (Iashin and Rahtu, BMVC 2021).

Two models, as in the paper: [`SpecVQGANConfig`] is Stage I, the spectrogram codebook autoencoder (the reference's
`VQModel`); [`SpecVQGANSamplerConfig`] is Stage II, the conditional transformer over codebook indices (the
reference's `Net2NetTransformer` with `GPTFeats` / `GPTFeatsClass`), which holds a Stage I config.
"""

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig

from .configuration_common import CheckedModelTypeMixin, config_value_errors


def attention_levels(resolution: int, num_levels: int, attn_resolutions) -> list[int]:
    """Levels whose blocks are followed by an attention block: the reference tracks `curr_res`, which starts at
    `resolution` (not at the input size) and halves per level, and puts attention where it is listed."""
    return [level for level in range(num_levels) if resolution // 2**level in set(attn_resolutions)]


@config_value_errors
@strict
class SpecVQGANConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of [`SpecVQGANModel`], the Stage I spectrogram VQGAN. Defaults are the released VGGSound codebook
    (`configs/vggsound_codebook.yaml` of v-iashin/SpecVQGAN): 80 x 848 log-mel spectrograms in [-1, 1] -> a 5 x 53
    grid of indices into 1024 codes of width 256.

    Args (the reference's names in brackets):
        num_mel_bins (`int`, defaults to 80): rows of the input spectrogram [`mel_num`].
        in_channels / out_channels (`int`, defaults to 1): [`in_channels`, `out_ch`].
        base_channels (`int`, defaults to 128): [`ch`].
        channel_multipliers (`list[int]`, defaults to `[1, 1, 2, 2, 4]`): width of each level in units of
            `base_channels` [`ch_mult`]; one downsampling (x 1/2) between consecutive levels.
        num_res_blocks (`int`, defaults to 2): ResNet blocks per encoder level; decoder levels have one more.
        attn_resolutions (`list[int]`, defaults to `[53]`) and resolution (`int`, defaults to 848): an attention
            block follows every ResNet block of a level whose `resolution // 2**level` is listed (the reference's
            bookkeeping; `resolution` steers nothing else). Both mid sections always hold one.
        z_channels (`int`, defaults to 256): encoder output / decoder input width.
        embed_dim (`int`, defaults to 256): codebook vector width.
        num_embeddings (`int`, defaults to 1024): codebook size K [`n_embed`] (128 for the VAS codebook).
        dropout (`float`, defaults to 0.0): inside the ResNet blocks.
        commitment_cost (`float`, defaults to 0.25): beta of the codebook loss
            `mean((sg[e] - z)^2) + beta * mean((e - sg[z])^2)` (the reference's weighting, kept).
        codebook_weight / pixel_loss_weight (`float`, defaults to 1.0): weights of the codebook loss and of the
            L1 reconstruction term in `forward`'s loss and in [`SpecVQGANTrainingLoss`].
        perceptual_weight (`float`, defaults to 1.0): weight of the LPAPS term in [`SpecVQGANTrainingLoss`] (see the
            model file's header for why the released codebooks were effectively trained without it).
        disc_weight (`float`, defaults to 0.8), disc_start (`int`, defaults to 30001; 2001 for VAS),
            disc_num_layers (`int`, defaults to 3), disc_base_channels (`int`, defaults to 64),
            min_adapt_weight / max_adapt_weight (`float`, defaults to 1.0 / 1.0): the patch discriminator and its
            adaptive weight [`disc_weight`, `disc_start`, `disc_num_layers`, `disc_ndf`, `min_adapt_weight`,
            `max_adapt_weight`].
        lpaps_channels (`list[int]`, defaults to `[64, 128, 256, 512, 512]`): widths of the five VGG-like blocks of
            the LPAPS network (2, 2, 3, 3, 3 convolutions).
    """

    model_type = "specvqgan"

    num_mel_bins: int = 80
    in_channels: int = 1
    out_channels: int = 1
    base_channels: int = 128
    channel_multipliers: list[int] | tuple[int, ...] = (1, 1, 2, 2, 4)
    num_res_blocks: int = 2
    attn_resolutions: list[int] | tuple[int, ...] = (53,)
    resolution: int = 848
    z_channels: int = 256
    embed_dim: int = 256
    num_embeddings: int = 1024
    dropout: float = 0.0
    commitment_cost: float = 0.25
    codebook_weight: float = 1.0
    pixel_loss_weight: float = 1.0
    perceptual_weight: float = 1.0
    disc_weight: float = 0.8
    disc_start: int = 30001
    disc_num_layers: int = 3
    disc_base_channels: int = 64
    min_adapt_weight: float = 1.0
    max_adapt_weight: float = 1.0
    lpaps_channels: list[int] | tuple[int, ...] = (64, 128, 256, 512, 512)

    def validate_sizes(self):
        if not self.channel_multipliers or min(self.channel_multipliers) < 1:
            raise ValueError(f"channel_multipliers must be positive, got {list(self.channel_multipliers)}")
        widths = [self.base_channels * m for m in self.channel_multipliers] + [self.z_channels]
        if any(w % 32 for w in widths):
            raise ValueError(f"every level width and z_channels must be a multiple of 32 (GroupNorm), got {widths}")
        if self.num_res_blocks < 1 or self.num_embeddings < 2 or self.embed_dim < 1:
            raise ValueError("num_res_blocks >= 1, num_embeddings >= 2 and embed_dim >= 1 are needed")
        if self.num_mel_bins < self.downsampling_factor:
            raise ValueError(
                f"num_mel_bins ({self.num_mel_bins}) is below the downsampling factor {self.downsampling_factor}"
            )

    @property
    def num_levels(self) -> int:
        return len(self.channel_multipliers)

    @property
    def downsampling_factor(self) -> int:
        return 2 ** (self.num_levels - 1)

    def latent_size(self, frames: int, bins: int | None = None) -> tuple[int, int]:
        """(rows, columns) of the index grid for a `bins` x `frames` spectrogram: each downsampling pads one row
        and column at the end and takes a stride-2 3x3 convolution (80 x 848 -> 5 x 53)."""
        sizes = []
        for size in (self.num_mel_bins if bins is None else bins, frames):
            for _ in range(self.num_levels - 1):
                size = (size + 1 - 3) // 2 + 1
            sizes.append(size)
        return sizes[0], sizes[1]


@config_value_errors
@strict
class SpecVQGANSamplerConfig(CheckedModelTypeMixin, PreTrainedConfig):
    r"""
    Configuration of [`SpecVQGANForConditionalGeneration`], the Stage II transformer. Defaults are the released
    VGGSound sampler on 212 ResNet-50 / BN-Inception features (`configs/vggsound_transformer.yaml`).

    Args (the reference's names in brackets):
        first_stage_config (`dict` or [`SpecVQGANConfig`], *optional*): the frozen Stage I codebook; its
            `num_embeddings` is the vocabulary. Defaults to the VGGSound codebook.
        latent_grid (`list[int]`, defaults to `[5, 53]`): (rows, columns) H x W of the index grid the Stage I encoder
            gives for the training spectrograms [`first_stage_permuter_config` H, W]; tokens are ordered
            column-major over it.
        feature_size (`int`, defaults to 2048): width of each visual feature vector [`feat_depth`].
        num_features (`int`, defaults to 212): conditioning vectors N per clip [`feat_sample_size`, 212 = all].
        num_classes (`int`, defaults to 0): > 0 adds one class-embedding condition token after the features
            (the reference's `GPTFeatsClass`, "+cls"); 0 is `GPTFeats`.
        hidden_size (`int`, defaults to 1024) [`n_embd`], num_hidden_layers (`int`, defaults to 24) [`n_layer`],
        num_attention_heads (`int`, defaults to 16) [`n_head`; the code's 16, not the paper's 12],
        intermediate_size (`int`, defaults to 4096): the MLP width (4 x hidden in the reference).
        max_position_embeddings (`int`, *optional*): length of the learned positional table [`block_size`];
            defaults to condition tokens + H x W, as the reference's configs (477 for 212 features; one more than
            the positions used, condition tokens + H x W - 1).
        embedding_dropout / attention_dropout / hidden_dropout (`float`, defaults to 0.0): [`embd_pdrop`,
            `attn_pdrop`, `resid_pdrop`]; the reference's GPT constructor passes 0.0.
        layer_norm_eps (`float`, defaults to 1e-5), initializer_range (`float`, defaults to 0.02).
        bos_token_id (`int`, *optional*): the id that stands for "the condition" at the start of every token
            sequence; defaults to the codebook size (it is never embedded: its slot holds the last condition
            vector, whose output predicts the first index). Generation returns indices without it.
    """

    model_type = "specvqgan_sampler"
    sub_configs = {"first_stage_config": SpecVQGANConfig}
    zero_allowed_fields = ("num_classes",)  # 0: no class condition token (see `num_classes` above)

    first_stage_config: dict | PreTrainedConfig | None = None
    latent_grid: list[int] | tuple[int, ...] = (5, 53)
    feature_size: int = 2048
    num_features: int = 212
    num_classes: int = 0
    hidden_size: int = 1024
    num_hidden_layers: int = 24
    num_attention_heads: int = 16
    intermediate_size: int = 4096
    max_position_embeddings: int | None = None
    embedding_dropout: float = 0.0
    attention_dropout: float = 0.0
    hidden_dropout: float = 0.0
    layer_norm_eps: float = 1e-5
    initializer_range: float = 0.02
    bos_token_id: int | None = None
    is_decoder: bool = True

    def __post_init__(self, **kwargs):
        if self.first_stage_config is None:
            self.first_stage_config = SpecVQGANConfig()
        elif isinstance(self.first_stage_config, dict):
            self.first_stage_config = SpecVQGANConfig(
                **{k: v for k, v in self.first_stage_config.items() if k != "model_type"}
            )
        if self.bos_token_id is None:
            self.bos_token_id = self.codebook_size
        if self.max_position_embeddings is None:
            self.max_position_embeddings = self.num_condition_tokens + self.num_tokens
        super().__post_init__(**kwargs)

    @property
    def codebook_size(self) -> int:
        return self.first_stage_config.num_embeddings

    @property
    def num_tokens(self) -> int:
        """Indices per clip, H x W (265 for the released grid)."""
        return self.latent_grid[0] * self.latent_grid[1]

    @property
    def num_condition_tokens(self) -> int:
        return self.num_features + (1 if self.num_classes > 0 else 0)

    @property
    def sequence_length(self) -> int:
        """Transformer positions used: the condition tokens, then all indices but the last."""
        return self.num_condition_tokens + self.num_tokens - 1

    def validate_sizes(self):
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"hidden_size {self.hidden_size} is not a multiple of num_attention_heads {self.num_attention_heads}"
            )
        if len(self.latent_grid) != 2 or min(self.latent_grid) < 1:
            raise ValueError(f"latent_grid must be (rows, columns) with positive sizes, got {list(self.latent_grid)}")
        if self.num_features < 1 or self.feature_size < 1 or self.num_classes < 0:
            raise ValueError("num_features and feature_size must be positive, num_classes non-negative")
        if self.max_position_embeddings < self.sequence_length:
            raise ValueError(
                f"max_position_embeddings ({self.max_position_embeddings}) is shorter than the sequence: "
                f"{self.num_condition_tokens} condition tokens + {self.num_tokens} - 1 indices"
            )
        if self.bos_token_id < self.codebook_size:
            raise ValueError(
                f"bos_token_id ({self.bos_token_id}) must not be a codebook index (< {self.codebook_size})"
            )


__all__ = ["SpecVQGANConfig", "SpecVQGANSamplerConfig", "attention_levels"]
