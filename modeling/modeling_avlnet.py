"""AVLnet: audio-visual language model from raw audio (Rouditchenko, Boggust, Harwath, et al.; Interspeech 2021,
arXiv:2006.09199), with its text variants AVLnet-Text-Tri and AVLnet-Text-Fused.

Ported from github.com/roudimit/AVLnet. A dual (or triple) encoder: a ResDAVEnet CNN over log-mel spectrograms,
pooled over time, gated and projected; pooled 2D+3D video features through a gated embedding unit; word vectors
through a Linear + ReLU + max-pool and a gated unit. Scores are raw dot products, trained with the masked-margin
softmax (MMS) loss. The three variants are configuration (`variant`), not copies.

Decisions where the paper and the released code differ, all following the released code so that converted checkpoints
give the authors' numbers:
- the audio gate runs at the CNN width and is followed by a plain Linear to D (`audio_gating="pre_projection"`;
  the paper's equation, gate after projection, is `"post_projection"`);
- training-mode pooling averages over every CNN output frame, padding included
  (`audio_train_pool_includes_padding=True`); evaluation averages the first `max(1, floor(length / ratio))`
  frames, `ratio = round(T / T')`, as the reference does; `False` masks in training too;
- the text pooler applies Linear + ReLU to every word slot and max-pools over all slots, zero padding included
  (padding contributes ReLU(bias), as in the reference);
- the unused input BatchNorm of the CNN and, in the fused variant, the unused audio gate are kept so that
  original checkpoints load strictly; neither is ever applied;
- gated units have no batch norm and no L2 normalisation (AVLnet's context gating).
Other differences: `forward` never modifies its inputs (the original divided the caller's `nframes` in place).
"""

from dataclasses import dataclass

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import ModelOutput
from transformers.utils.generic import can_return_tuple

from ..configuration.configuration_avlnet import AVLnetConfig
from ..processors.validation import check_finite, check_float_features
from .layers.audio import ResDavenet, init_resdavenet_weights
from .layers.gating import ContextGating, GatedEmbeddingUnit
from .layers.pooling import masked_mean
from .loading import CheckedLoadingMixin
from .losses import mms_loss


@dataclass
class AVLnetOutput(ModelOutput):
    r"""
    loss (`torch.Tensor` of shape `()`, *optional*): the variant's MMS objective (Tri: sum of the three pairs).
    logits_audio_video (`torch.Tensor` of shape `(batch, batch)`): audio @ video.T (`av`, `text_tri`).
    logits_audio_text / logits_text_video / logits_text_audio_video (`(batch, batch)`, `text_tri`): audio @ text.T,
        text @ video.T, and text @ (audio + video).T (the Tri fine-tuning score).
    logits_audio_text_video (`(batch, batch)`, `text_fused`): fused(audio, text) @ video.T.
    audio_embeds, video_embeds, text_embeds, audio_text_embeds (`(batch, embed_dim)`): embeddings (not normalised).
    """

    loss: torch.Tensor | None = None
    logits_audio_video: torch.Tensor | None = None
    logits_audio_text: torch.Tensor | None = None
    logits_text_video: torch.Tensor | None = None
    logits_text_audio_video: torch.Tensor | None = None
    logits_audio_text_video: torch.Tensor | None = None
    audio_embeds: torch.Tensor | None = None
    video_embeds: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    audio_text_embeds: torch.Tensor | None = None


class AVLnetTextPooler(nn.Module):
    """`(batch, words, word_dim)` -> `(batch, out_dim)`: Linear + ReLU per word slot, then max over all slots."""

    def __init__(self, word_dim: int, out_dim: int):
        super().__init__()
        self.fc = nn.Linear(word_dim, out_dim)

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.fc(words)).max(dim=1).values


class AVLnetFusionGate(nn.Module):
    """Fused audio-text gate: h = fc_audio(a) + fc_text(t); out = h * sigmoid(cg.fc(h))."""

    def __init__(self, input_dim: int, output_dim: int):
        super().__init__()
        self.fc_audio = nn.Linear(input_dim, output_dim)
        self.fc_text = nn.Linear(input_dim, output_dim)
        self.cg = ContextGating(output_dim, use_batch_norm=False)

    def forward(self, audio: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.cg(self.fc_audio(audio) + self.fc_text(text))


class AVLnetPreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    config: AVLnetConfig
    base_model_prefix = "avlnet"
    main_input_name = "input_features"
    input_modalities = ("audio", "video", "text")
    supports_gradient_checkpointing = False

    def _init_weights(self, module):
        if isinstance(module, (nn.Conv2d, nn.BatchNorm2d)):
            init_resdavenet_weights(module)
        elif isinstance(module, nn.Linear):  # PyTorch's default, as the reference
            from transformers import initialization as init

            bound = 1 / module.in_features**0.5
            init.uniform_(module.weight, -bound, bound)
            init.uniform_(module.bias, -bound, bound)
        else:
            super()._init_weights(module)


class AVLnetModel(AVLnetPreTrainedModel):
    """AVLnet, AVLnet-Text-Tri or AVLnet-Text-Fused (`config.variant`).

    Inputs: `input_features` `(batch, num_mel_bins, frames)` log-mel in dB (padded with 0 dB as the reference),
    `audio_lengths` `(batch,)` valid input frames (may exceed `frames`: "all"), `video_features`
    `(batch, video_feature_size)`, and for the text variants `text_features` `(batch, words, word_embedding_size)`
    word vectors (zero rows for empty slots). `AVLnetProcessor` produces them.
    """

    def __init__(self, config: AVLnetConfig):
        super().__init__(config)
        hidden, dim = config.audio_hidden_size, config.embed_dim
        self.audio_encoder = ResDavenet(
            config.num_mel_bins, config.audio_stage_depths, config.audio_stage_widths, config.audio_kernel_width
        )
        fused = config.variant == "text_fused"
        if config.audio_gating == "pre_projection":
            self.audio_gate = GatedEmbeddingUnit(hidden, hidden, use_batch_norm=False, normalize=False)
            self.audio_projection = nn.Linear(hidden, dim // 2 if fused else dim)
        else:
            self.audio_projection = nn.Linear(hidden, dim)
            self.audio_gate = GatedEmbeddingUnit(dim, dim, use_batch_norm=False, normalize=False)
        self.video_gate = GatedEmbeddingUnit(config.video_feature_size, dim, use_batch_norm=False, normalize=False)
        if config.variant == "text_tri":
            self.text_pooler = AVLnetTextPooler(config.word_embedding_size, dim)
            self.text_gate = GatedEmbeddingUnit(dim, dim, use_batch_norm=False, normalize=False)
        elif fused:
            self.text_pooler = AVLnetTextPooler(config.word_embedding_size, dim // 2)
            self.fusion = AVLnetFusionGate(dim // 2, dim)
        self.post_init()

    # ------------------------------------------------------------------ audio
    def pool_audio(
        self, features: torch.Tensor, audio_lengths: torch.Tensor | None, input_frames: int
    ) -> torch.Tensor:
        """Mean over CNN output frames `(batch, channels, frames')` -> `(batch, channels)` (see the header)."""
        if self.training and self.config.audio_train_pool_includes_padding:
            return features.mean(dim=2)
        if audio_lengths is None:
            return features.mean(dim=2)
        output_frames = features.shape[2]
        ratio = round(input_frames / output_frames)
        valid = torch.clamp(torch.div(audio_lengths.long(), ratio, rounding_mode="floor"), min=1)
        mask = torch.arange(output_frames, device=features.device)[None] < valid[:, None]
        return masked_mean(features.transpose(1, 2), mask)

    def _check_audio(self, input_features: torch.Tensor, audio_lengths: torch.Tensor | None) -> None:
        check_float_features("input_features", input_features, check_values=False, model_dtype=self.dtype)
        if input_features.dim() != 3:
            raise ValueError(f"input_features must be (batch, mel_bins, frames), got rank {input_features.dim()}")
        if input_features.shape[2] == 0:
            raise ValueError("input_features has no frame (empty audio)")
        check_finite("input_features", input_features)
        if audio_lengths is not None:
            if audio_lengths.shape != (input_features.shape[0],):
                raise ValueError(
                    f"audio_lengths must be ({input_features.shape[0]},), got {tuple(audio_lengths.shape)}"
                )
            if audio_lengths.is_floating_point() or (audio_lengths < 0).any():
                raise ValueError("audio_lengths must be non-negative integers (valid input frames)")

    def audio_pooled(self, input_features: torch.Tensor, audio_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled CNN features `(batch, audio_hidden_size)`."""
        self._check_audio(input_features, audio_lengths)
        features = self.audio_encoder(input_features)
        return self.pool_audio(features, audio_lengths, input_features.shape[2])

    def get_audio_features(
        self, input_features: torch.Tensor, audio_lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """`(batch, mel_bins, frames)` -> audio embeddings `(batch, embed_dim)` (`av`, `text_tri`)."""
        if self.config.variant == "text_fused":
            raise ValueError("the fused variant has no audio-only embedding; use get_audio_text_features")
        pooled = self.audio_pooled(input_features, audio_lengths)
        if self.config.audio_gating == "pre_projection":
            return self.audio_projection(self.audio_gate(pooled))
        return self.audio_gate(self.audio_projection(pooled))

    # ------------------------------------------------------------------ video and text
    def get_video_features(self, video_features: torch.Tensor) -> torch.Tensor:
        """`(batch, video_feature_size)` -> `(batch, embed_dim)`."""
        check_float_features("video_features", video_features, check_values=False, model_dtype=self.dtype)
        if video_features.dim() != 2 or video_features.shape[1] != self.config.video_feature_size:
            raise ValueError(
                f"video_features must be (batch, {self.config.video_feature_size}), got {tuple(video_features.shape)}"
            )
        check_finite("video_features", video_features)
        return self.video_gate(video_features)

    def _text_pooled(self, text_features: torch.Tensor) -> torch.Tensor:
        if self.config.variant == "av":
            raise ValueError("the audio-video variant has no text branch (use variant='text_tri' or 'text_fused')")
        if text_features is None:
            raise ValueError(
                f"the {self.config.variant} variant needs text_features "
                f"(batch, words, {self.config.word_embedding_size})"
            )
        check_float_features("text_features", text_features, check_values=False, model_dtype=self.dtype)
        if text_features.dim() != 3 or text_features.shape[2] != self.config.word_embedding_size:
            raise ValueError(
                f"text_features must be (batch, words, {self.config.word_embedding_size}), "
                f"got {tuple(text_features.shape)}"
            )
        if text_features.shape[1] == 0:
            raise ValueError("text_features has no word slot")
        check_finite("text_features", text_features)
        return self.text_pooler(text_features)

    def get_text_features(self, text_features: torch.Tensor) -> torch.Tensor:
        """Word vectors `(batch, words, word_dim)` -> `(batch, embed_dim)` (`text_tri`)."""
        if self.config.variant != "text_tri":
            raise ValueError("only the Tri variant has a separate text embedding")
        return self.text_gate(self._text_pooled(text_features))

    def get_audio_text_features(self, input_features, audio_lengths, text_features) -> torch.Tensor:
        """Fused audio + text embedding `(batch, embed_dim)` (`text_fused`)."""
        if self.config.variant != "text_fused":
            raise ValueError("only the fused variant fuses audio and text")
        audio = self.audio_projection(self.audio_pooled(input_features, audio_lengths))
        return self.fusion(audio, self._text_pooled(text_features))

    @can_return_tuple
    def forward(
        self,
        input_features: torch.Tensor,
        video_features: torch.Tensor,
        audio_lengths: torch.Tensor | None = None,
        text_features: torch.Tensor | None = None,
        return_loss: bool = False,
        **kwargs,
    ) -> AVLnetOutput:
        if input_features.dim() != 3:
            raise ValueError(f"input_features must be (batch, mel_bins, frames), got rank {input_features.dim()}")
        batch = {input_features.shape[0], video_features.shape[0]} | (
            {text_features.shape[0]} if text_features is not None else set()
        )
        if len(batch) != 1:
            raise ValueError(f"inputs disagree on the batch size: {sorted(batch)}")
        margin = self.config.mms_margin
        video = self.get_video_features(video_features)
        if self.config.variant == "text_fused":
            fused = self.get_audio_text_features(input_features, audio_lengths, text_features)
            logits = fused @ video.T
            return AVLnetOutput(
                loss=mms_loss(logits, margin) if return_loss else None,
                logits_audio_text_video=logits,
                video_embeds=video,
                audio_text_embeds=fused,
            )
        audio = self.get_audio_features(input_features, audio_lengths)
        audio_video = audio @ video.T
        if self.config.variant == "av":
            return AVLnetOutput(
                loss=mms_loss(audio_video, margin) if return_loss else None,
                logits_audio_video=audio_video,
                audio_embeds=audio,
                video_embeds=video,
            )
        text = self.get_text_features(text_features)
        audio_text, text_video = audio @ text.T, text @ video.T
        loss = None
        if return_loss:  # pre-training objective: the three pairs
            loss = mms_loss(audio_video, margin) + mms_loss(audio_text, margin) + mms_loss(text_video, margin)
        return AVLnetOutput(
            loss=loss,
            logits_audio_video=audio_video,
            logits_audio_text=audio_text,
            logits_text_video=text_video,
            logits_text_audio_video=text @ (audio + video).T,
            audio_embeds=audio,
            video_embeds=video,
            text_embeds=text,
        )


__all__ = ["AVLnetModel", "AVLnetOutput", "AVLnetPreTrainedModel"]
