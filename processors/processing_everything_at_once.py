"""Processor for Everything at Once: word vectors, padded video features and log-mel audio, each with its mask."""

import re
from pathlib import Path

import numpy as np
import torch
from transformers import BatchFeature, ProcessorMixin

from .feature_extraction_avlnet import AVLnetFeatureExtractor
from .validation import check_finite, require_text
from .word_vectors import embed_words, load_word_vectors


class EverythingAtOnceProcessor(ProcessorMixin):
    r"""
    Inputs of [`EverythingAtOnceModel`] for any combination of modalities.

    The audio front end is AVLnet's ([`AVLnetFeatureExtractor`]), padded with 0 dB to `max_frames`, which
    must be a multiple of 64 (one audio token per 64 frames; the reference lengths are 768 for 8-s training clips,
    3072 for MSR-VTT and 4608 for YouCook2: padding is not neutral for the CNN, so keep them to reproduce numbers).
    Video features `(steps, dim)` are padded with zero rows; text goes through local word vectors
    (`load_word_vectors`) or, for the CLIP variant, through a frozen local CLIP text model (`load_clip_text_model`,
    as the reference's `trainer/clip_utils.py`): the caption's words, joined by spaces, are tokenised by CLIP
    (truncated to its context), every output position of the final LayerNorm is multiplied by the text projection, the
    start token is dropped, the next `max_words` positions are kept, and the mask marks those before the end-of-text
    token. Neither the word vectors nor the CLIP model are saved with the processor.

    Args:
        feature_extractor ([`AVLnetFeatureExtractor`]): the log-mel front end.
        max_words (`int`, defaults to 20), max_video_steps (`int`, defaults to 12), word_embedding_size (300).
    """

    def __init__(
        self,
        feature_extractor=None,
        max_words: int = 20,
        max_video_steps: int = 12,
        word_embedding_size: int = 300,
        **kwargs,
    ):
        self.max_words = max_words
        self.max_video_steps = max_video_steps
        self.word_embedding_size = word_embedding_size
        self.word_vectors = None
        self.clip_text = None  # (tokenizer, CLIPTextModelWithProjection) once load_clip_text_model is called
        super().__init__(feature_extractor, **kwargs)
        if self.feature_extractor.max_frames % 64:
            raise ValueError(
                "max_frames must be a multiple of 64 (one audio token per 64 frames), "
                f"got {self.feature_extractor.max_frames}"
            )

    @classmethod
    def default(cls, max_frames: int = 768, **kwargs) -> "EverythingAtOnceProcessor":
        return cls(AVLnetFeatureExtractor(max_frames=max_frames), **kwargs)

    def to_dict(self, *args, **kwargs):
        output = super().to_dict(*args, **kwargs)
        output.pop("word_vectors", None)
        output.pop("clip_text", None)
        return output

    def load_clip_text_model(self, path: str | Path) -> "EverythingAtOnceProcessor":
        """Text tokens from a local CLIP text model folder (tokenizer + `CLIPTextModelWithProjection` or `CLIPModel`
        weights, e.g. a saved openai/clip-vit-base-patch32); nothing is downloaded."""
        from transformers import AutoTokenizer, CLIPTextModelWithProjection

        path = Path(path)
        if not path.is_dir():
            raise FileNotFoundError(f"no local CLIP text model folder at {path}")
        model = CLIPTextModelWithProjection.from_pretrained(path, local_files_only=True).eval()
        if model.config.projection_dim != self.word_embedding_size:
            raise ValueError(
                f"the CLIP text projection is {model.config.projection_dim}-d but the processor's word_embedding_size "
                f"is {self.word_embedding_size} (the CLIP variant uses 512)"
            )
        self.clip_text = (AutoTokenizer.from_pretrained(path, local_files_only=True), model)
        return self

    @torch.no_grad()
    def clip_text_tokens(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """`(batch, max_words, 512)` CLIP text tokens and their mask (see the class docstring)."""
        if self.clip_text is None:
            raise ValueError("no CLIP text model loaded: call processor.load_clip_text_model(<local folder>)")
        tokenizer, model = self.clip_text
        words = [" ".join(re.findall(r"[\w']+", text.lower())) for text in require_text("text", texts)]
        context = model.config.max_position_embeddings
        encoded = tokenizer(words, padding="max_length", truncation=True, max_length=context, return_tensors="pt")
        hidden = model.text_model(
            input_ids=encoded["input_ids"], attention_mask=encoded["attention_mask"]
        ).last_hidden_state
        tokens = model.text_projection(hidden)[:, 1 : self.max_words + 1]
        ids = encoded["input_ids"][:, 1 : self.max_words + 1]
        before_end = torch.cumsum(ids == tokenizer.eos_token_id, dim=1) == 0
        mask = (before_end & encoded["attention_mask"][:, 1 : self.max_words + 1].bool()).long()
        if tokens.shape[1] < self.max_words:  # a CLIP context shorter than max_words + 1
            missing = self.max_words - tokens.shape[1]
            tokens = torch.nn.functional.pad(tokens, (0, 0, 0, missing))
            mask = torch.nn.functional.pad(mask, (0, missing))
        return tokens.float(), mask

    def load_word_vectors(self, path: str | Path) -> "EverythingAtOnceProcessor":
        self.word_vectors = load_word_vectors(path)
        return self

    def __call__(self, text=None, video=None, audio=None, sampling_rate: int | None = None, **kwargs) -> BatchFeature:
        if text is None and video is None and audio is None:
            raise ValueError("give text, video or audio")
        data = {}
        if text is not None:
            texts = require_text("text", text)
            if self.clip_text is not None:
                data["text_features"], data["text_attention_mask"] = self.clip_text_tokens(texts)
            else:
                data["text_features"], data["text_attention_mask"] = embed_words(
                    texts, self.word_vectors, self.max_words, self.word_embedding_size
                )
        if video is not None:
            if isinstance(video, (np.ndarray, torch.Tensor)) and video.ndim == 2:
                video = [video]
            arrays = []
            for index, item in enumerate(video):
                if item is None:
                    raise ValueError(f"video[{index}] is None; omit `video` for text/audio-only inputs")
                array = torch.as_tensor(np.asarray(item), dtype=torch.float32)
                check_finite(f"video[{index}]", array)
                arrays.append(array)
            if any(a.dim() != 2 for a in arrays) or len({a.shape[1] for a in arrays}) != 1:
                shapes = [tuple(a.shape) for a in arrays]
                raise ValueError(f"video features must be (steps, dim) arrays of one width, got shapes {shapes}")
            features = torch.zeros(len(arrays), self.max_video_steps, arrays[0].shape[1])
            mask = torch.zeros(len(arrays), self.max_video_steps, dtype=torch.long)
            for row, array in enumerate(arrays):
                steps = min(len(array), self.max_video_steps)
                features[row, :steps], mask[row, :steps] = array[:steps], 1
            data["video_features"], data["video_attention_mask"] = features, mask
        if audio is not None:
            out = self.feature_extractor(audio, sampling_rate=sampling_rate, **kwargs)
            frames = out["input_features"].shape[2]
            data["input_features"] = out["input_features"]
            data["audio_attention_mask"] = (torch.arange(frames)[None] < out["audio_lengths"][:, None]).long()
        return BatchFeature(data)


__all__ = ["EverythingAtOnceProcessor"]
