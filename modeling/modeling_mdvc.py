"""MDVC: Multi-modal Dense Video Captioning (captioning module).

Paper: V. Iashin and E. Rahtu, "Multi-modal Dense Video Captioning", CVPR Workshops 2020 (arXiv 2003.07758).
Reference code: https://github.com/v-iashin/MDVC (`model/transformer.py`, `SubsAudioVideoTransformer`).

Decisions (reference behaviour kept as default so released weights reproduce):
- Three independent pre-norm encoder-decoder transformers (speech, audio, video), each with its own caption
  embedding scaled by sqrt(width); late fusion `[speech; audio; video]` -> Linear -> ReLU -> Dropout -> Linear(V, V)
  -> log_softmax.
- Same positional-encoding quirk as BMT (channel's own index in the exponent, float64 table).
- Textbook attention (q, k, v, out all d x d), no dropout inside attention or feed-forward, no final LayerNorm. It is
  the shared `MultiHeadAttention` (eager / SDPA by `attn_implementation`); `output_attentions=True` returns the
  encoders', the decoders' self- and cross-attention weights, each in the order speech, audio, video stream.
- Audio and video share one mask (`feature_attention_mask`): the reference truncates both to a common length.
  Masks are explicit booleans instead of the reference's "channel 0 == 1" sentinel; the reference's random-noise
  features for missing videos are a data-loading concern, not done by the model.
- Loss: the reference label-smoothed KL (see `label_smoothed_kl` in the BMT module).
- `generate()` (greedy or beam search) runs the three encoders once and caches the decoders' self- and
  cross-attention keys/values (an `EncoderDecoderCache` of 3 x num_hidden_layers layers each: speech, audio, video;
  the cross-attention keys/values are projected once from the encoder outputs). Without the cache, the fusion MLP
  (a V x V layer) would be re-applied to the whole prefix at every step. The reference decodes greedily only.
- Learned proposals are an input (the Bi-SST proposal file is not distributed); BMT's generator may be used, as a
  labelled deviation.
"""

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers.cache_utils import Cache, EncoderDecoderCache
from transformers.modeling_outputs import Seq2SeqLMOutput
from transformers.utils import ModelOutput, can_return_tuple

from ..configuration.configuration_mdvc import MDVCConfig
from ..processors.validation import check_ids
from .layers.attention import MultiHeadAttention, causal_mask, padding_mask_to_bool, returns_attentions
from .loading import CheckedLoadingMixin
from .modeling_bmt import (
    BMTFeedForward,
    BMTPositionalEncoding,
    CaptionerGenerationMixin,
    _check_features,
    init_reference_weights,
    label_smoothed_kl,
)


class MDVCEncoderLayer(nn.Module):
    def __init__(self, size, intermediate, config: MDVCConfig):
        super().__init__()
        self.self_attn_norm = nn.LayerNorm(size, eps=config.layer_norm_eps)
        self.self_attn = MultiHeadAttention(config, size, config.num_attention_heads)
        self.ffn_norm = nn.LayerNorm(size, eps=config.layer_norm_eps)
        self.ffn = BMTFeedForward(size, intermediate, 0.0)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x, mask):
        h = self.self_attn_norm(x)
        x = x + self.dropout(self.self_attn(h, attention_mask=mask)[0])
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


class MDVCDecoderLayer(nn.Module):
    """`cache_index`: this layer's index in the self- and in the cross-attention cache (the three streams' decoders
    share one `EncoderDecoderCache`: speech layers first, then audio, then video)."""

    def __init__(self, size, intermediate, config: MDVCConfig, cache_index: int = 0):
        super().__init__()
        eps, heads = config.layer_norm_eps, config.num_attention_heads
        self.self_attn_norm = nn.LayerNorm(size, eps=eps)
        self.self_attn = MultiHeadAttention(config, size, heads, cache_index=cache_index)
        self.cross_attn_norm = nn.LayerNorm(size, eps=eps)
        self.cross_attn = MultiHeadAttention(config, size, heads, cache_index=cache_index, static_key_value=True)
        self.ffn_norm = nn.LayerNorm(size, eps=eps)
        self.ffn = BMTFeedForward(size, intermediate, 0.0)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, x, memory, self_mask, memory_mask, cache: EncoderDecoderCache | None = None):
        self_cache, cross_cache = (
            (cache.self_attention_cache, cache.cross_attention_cache) if cache is not None else (None, None)
        )
        h = self.self_attn_norm(x)
        x = x + self.dropout(self.self_attn(h, attention_mask=self_mask, past_key_values=self_cache)[0])
        x = x + self.dropout(self.cross_attn(self.cross_attn_norm(x), memory, memory_mask, cross_cache)[0])
        return x + self.dropout(self.ffn(self.ffn_norm(x)))


class MDVCStream(nn.Module):
    """One modality's encoder-decoder transformer with its own caption embedding."""

    def __init__(self, size: int, intermediate: int, config: MDVCConfig, first_cache_index: int = 0):
        super().__init__()
        self.size = size
        self.caption_embeddings = nn.Embedding(config.vocab_size, size)
        self.positional = BMTPositionalEncoding(config)
        self.encoder_layers = nn.ModuleList(
            [MDVCEncoderLayer(size, intermediate, config) for _ in range(config.num_hidden_layers)]
        )
        self.decoder_layers = nn.ModuleList(
            [
                MDVCDecoderLayer(size, intermediate, config, first_cache_index + i)
                for i in range(config.num_hidden_layers)
            ]
        )

    def encode(self, source, mask):
        x = self.positional(source)
        for layer in self.encoder_layers:
            x = layer(x, mask)
        return x

    def decode(self, ids, memory, self_mask, memory_mask, cache=None, past: int = 0):
        x = self.positional(self.caption_embeddings(ids) * math.sqrt(self.size), offset=past)
        for layer in self.decoder_layers:
            x = layer(x, memory, self_mask, memory_mask, cache)
        return x


@dataclass
class MDVCEncoderOutput(ModelOutput):
    r"""
    last_hidden_state (`(B, T, video_hidden_size)`): video encoder memory.
    audio_hidden_state (`(B, T, audio_hidden_size)`): audio encoder memory.
    speech_hidden_state (`(B, S, speech_hidden_size)`): speech encoder memory.
    feature_attention_mask (`(B, T)`): valid audio/video steps; speech_attention_mask (`(B, S)`): valid subtitle
        tokens.
    """

    last_hidden_state: torch.FloatTensor | None = None
    audio_hidden_state: torch.FloatTensor | None = None
    speech_hidden_state: torch.FloatTensor | None = None
    feature_attention_mask: torch.BoolTensor | None = None
    speech_attention_mask: torch.BoolTensor | None = None


class MDVCPreTrainedModel(CheckedLoadingMixin, PreTrainedModel):
    config_class = MDVCConfig
    base_model_prefix = "mdvc"
    main_input_name = "video_features"
    _supports_sdpa = True

    def _init_weights(self, module):
        init_reference_weights(module)


class MDVCForConditionalGeneration(MDVCPreTrainedModel, CaptionerGenerationMixin):
    def __init__(self, config: MDVCConfig):
        super().__init__(config)
        self.speech_embeddings = nn.Embedding(config.speech_vocab_size, config.speech_hidden_size)
        n = config.num_hidden_layers  # cache layers: speech 0 .. n-1, audio n .. 2n-1, video 2n .. 3n-1
        self.speech_stream = MDVCStream(config.speech_hidden_size, config.speech_intermediate_size, config, 0)
        self.audio_stream = MDVCStream(config.audio_hidden_size, config.audio_intermediate_size, config, n)
        self.video_stream = MDVCStream(config.video_hidden_size, config.video_intermediate_size, config, 2 * n)
        fused = config.speech_hidden_size + config.audio_hidden_size + config.video_hidden_size
        self.fusion_proj = nn.Linear(fused, config.vocab_size)
        self.fusion_dropout = nn.Dropout(config.hidden_dropout_prob)
        self.lm_head = nn.Linear(config.vocab_size, config.vocab_size)
        self.post_init()

    def get_encoder(self):
        return _MDVCEncoderView(self)

    def encode(
        self,
        video_features=None,
        audio_features=None,
        speech_input_ids=None,
        feature_attention_mask=None,
        speech_attention_mask=None,
        **kwargs,
    ) -> MDVCEncoderOutput:
        cfg = self.config
        _check_features("video_features", video_features, cfg.video_hidden_size, feature_attention_mask, self.dtype)
        _check_features("audio_features", audio_features, cfg.audio_hidden_size, feature_attention_mask, self.dtype)
        if audio_features.shape[:2] != video_features.shape[:2]:
            raise ValueError(
                "MDVC needs audio_features and video_features of the same length (both 0.96 s steps, truncated to a "
                f"common length); got {tuple(audio_features.shape[:2])} and {tuple(video_features.shape[:2])}"
            )
        if speech_input_ids is None:
            raise ValueError("speech_input_ids is missing: MDVC needs the ASR subtitle ids (use [BOS, EOS] if none)")
        check_ids("speech_input_ids", speech_input_ids, cfg.speech_vocab_size)
        if feature_attention_mask is None:
            feature_attention_mask = torch.ones(
                video_features.shape[:2], dtype=torch.bool, device=video_features.device
            )
        if speech_attention_mask is None:
            speech_attention_mask = speech_input_ids != cfg.pad_token_id
        feature_attention_mask, speech_attention_mask = feature_attention_mask.bool(), speech_attention_mask.bool()
        if not feature_attention_mask.any(-1).all() or not speech_attention_mask.any(-1).all():
            raise ValueError("every sample needs at least one valid feature step and one valid subtitle token")
        fm, sm = feature_attention_mask[:, None, None], speech_attention_mask[:, None, None]
        speech = self.speech_embeddings(speech_input_ids) * math.sqrt(cfg.speech_hidden_size)
        return MDVCEncoderOutput(
            last_hidden_state=self.video_stream.encode(video_features, fm),
            audio_hidden_state=self.audio_stream.encode(audio_features, fm),
            speech_hidden_state=self.speech_stream.encode(speech, sm),
            feature_attention_mask=feature_attention_mask,
            speech_attention_mask=speech_attention_mask,
        )

    @can_return_tuple
    @returns_attentions(
        encoder_attentions=lambda name: ".encoder_layers." in name,
        decoder_attentions=lambda name: ".decoder_layers." in name and name.endswith(".self_attn"),
        cross_attentions=lambda name: ".decoder_layers." in name and name.endswith(".cross_attn"),
    )
    def forward(
        self,
        video_features: torch.FloatTensor | None = None,
        audio_features: torch.FloatTensor | None = None,
        speech_input_ids: torch.LongTensor | None = None,
        feature_attention_mask: torch.Tensor | None = None,
        speech_attention_mask: torch.Tensor | None = None,
        decoder_input_ids: torch.LongTensor | None = None,
        decoder_attention_mask: torch.Tensor | None = None,
        encoder_outputs: MDVCEncoderOutput | None = None,
        past_key_values: Cache | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        **kwargs,
    ) -> Seq2SeqLMOutput:
        r"""
        video_features (`(B, T, video_hidden_size)`, rgb + flow), audio_features (`(B, T, audio_hidden_size)`),
        feature_attention_mask (`(B, T)`, shared), speech_input_ids (`(B, S)`) + speech_attention_mask,
        decoder_input_ids (`(B, L)`, BOS first) or labels (`(B, L)`, shifted right when no decoder ids).
        Returns `Seq2SeqLMOutput` with `logits` = log-probabilities `(B, L, V)`.
        """
        cfg = self.config
        if encoder_outputs is None:
            encoder_outputs = self.encode(
                video_features, audio_features, speech_input_ids, feature_attention_mask, speech_attention_mask
            )
        elif not isinstance(encoder_outputs, MDVCEncoderOutput):
            encoder_outputs = MDVCEncoderOutput(*encoder_outputs)
        labels, decoder_input_ids = self._caption_inputs(labels, decoder_input_ids)
        check_ids("decoder_input_ids", decoder_input_ids, cfg.vocab_size)
        cache = self._generation_cache(past_key_values, use_cache)  # grows to 3 x num_hidden_layers layers
        past = cache.get_seq_length() if cache is not None else 0
        length, device = decoder_input_ids.shape[1], decoder_input_ids.device
        if decoder_attention_mask is None:
            key_valid = decoder_input_ids != cfg.pad_token_id
            if past:
                key_valid = torch.cat(
                    [torch.ones(key_valid.shape[0], past, dtype=torch.bool, device=device), key_valid], 1
                )
        else:
            key_valid = decoder_attention_mask.bool()
            if key_valid.shape[1] != past + length:
                key_valid = key_valid[:, -(past + length) :]
        self_mask = causal_mask(length, past + length, device) & padding_mask_to_bool(key_valid)
        fm = encoder_outputs.feature_attention_mask[:, None, None]
        sm = encoder_outputs.speech_attention_mask[:, None, None]
        fused = torch.cat(
            [
                self.speech_stream.decode(
                    decoder_input_ids, encoder_outputs.speech_hidden_state, self_mask, sm, cache, past
                ),
                self.audio_stream.decode(
                    decoder_input_ids, encoder_outputs.audio_hidden_state, self_mask, fm, cache, past
                ),
                self.video_stream.decode(
                    decoder_input_ids, encoder_outputs.last_hidden_state, self_mask, fm, cache, past
                ),
            ],
            dim=-1,
        )
        log_probs = F.log_softmax(self.lm_head(self.fusion_dropout(F.relu(self.fusion_proj(fused)))), dim=-1)
        loss = (
            label_smoothed_kl(log_probs, labels, cfg.label_smoothing, cfg.pad_token_id) if labels is not None else None
        )
        return Seq2SeqLMOutput(
            loss=loss,
            logits=log_probs,
            past_key_values=cache,
            encoder_last_hidden_state=encoder_outputs.last_hidden_state,
        )


class _MDVCEncoderView(nn.Module):
    """What `get_encoder()` returns: calls the owner's three encoders (no parameters of its own)."""

    def __init__(self, owner: MDVCForConditionalGeneration):
        super().__init__()
        self.__dict__["owner"] = owner  # not registered as a submodule

    def forward(
        self,
        video_features=None,
        audio_features=None,
        speech_input_ids=None,
        feature_attention_mask=None,
        speech_attention_mask=None,
        **kwargs,
    ):
        return self.owner.encode(
            video_features, audio_features, speech_input_ids, feature_attention_mask, speech_attention_mask
        )


__all__ = ["MDVCPreTrainedModel", "MDVCForConditionalGeneration", "MDVCEncoderOutput"]
