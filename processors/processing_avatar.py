"""Processor for AVATAR: it composes the log-mel audio front end (`AvatarFeatureExtractor`), the frame processor
(`AvatarVideoProcessor`, a transformers video processor) and the BERT-uncased WordPiece tokenizer, with the
reference's text normalisation and detokenisation.

Media files are decoded by `processors/video_io.py` (the zoo's one decoder). Training-time augmentation (word
masking, SpecAugment, random frame windows, crops, flips, scale jitter, colour) is not the processor's business:
`videozoo.data.avatar_augmentation.AvatarAugmentation` applies it in the training collator, so inference never
sees it.
"""

import re
from pathlib import Path

import numpy as np
import torch
from transformers import AutoFeatureExtractor, BatchFeature, BertTokenizerFast, ProcessorMixin

from .feature_extraction_avatar import AvatarFeatureExtractor
from .validation import require_sampling_rate, require_text, waveform_list
from .video_io import load_audio, load_video
from .video_processing_avatar import AvatarVideoProcessor

# The reference's `custom_standardization`: lower-case, then delete these characters (the apostrophe is kept).
PUNCTUATION = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~'
_PUNCTUATION_RE = re.compile("[" + re.escape(PUNCTUATION) + "]")
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def normalize_text(text: str) -> str:
    """Reference normalisation of a transcript: lower-case, punctuation except the apostrophe removed, whitespace
    collapsed ("Don't stop, OK?" -> "don't stop ok")."""
    return " ".join(_PUNCTUATION_RE.sub("", text.lower()).split())


def detokenize(tokens: list[str]) -> str:
    """Reference detokenisation of wordpieces: join with spaces, glue `##` pieces, `" ' "` -> `"'"`, collapse
    spaces."""
    text = " ".join(tokens).replace(" ##", "")
    return " ".join(text.replace(" ' ", "'").split())


def write_vocab(words, path: str | Path) -> Path:
    """A WordPiece `vocab.txt` made of the BERT special tokens then `words` (whole words, for small offline
    vocabularies)."""
    path = Path(path)
    entries = list(SPECIAL_TOKENS) + [w for w in dict.fromkeys(words) if w not in SPECIAL_TOKENS]
    path.write_text("\n".join(entries) + "\n")
    return path


class AvatarProcessor(ProcessorMixin):
    r"""
    Inputs and targets of [`AvatarForConditionalGeneration`].

    - audio -> `input_features` `(batch, max_frames, 80)` through [`AvatarFeatureExtractor`] (waveforms with their
      `sampling_rate`, or media file paths);
    - video -> `pixel_values` `(batch, 3, num_frames, crop_h, crop_w)` in [-1, 1] through [`AvatarVideoProcessor`]
      (`(T, H, W, 3)` arrays with `video_fps`, or media file paths);
    - text -> `labels` `(batch, L)`: `normalize_text`, BERT-uncased WordPiece, `[SEP]` appended, then cut to
      `max_target_tokens` (so an over-long transcript loses its `[SEP]`, as in the reference), right-padded with 0.
    `batch_decode` turns generated ids (without the decoder start token) back into text the reference's way.

    When a clip has both audio and video of known duration, they must agree within `max_duration_mismatch` seconds
    (the reference takes audio from the clip start and video around the centre, so very different durations mean
    mismatched inputs): otherwise a `ValueError` names both durations.

    Args:
        feature_extractor ([`AvatarFeatureExtractor`]), video_processor ([`AvatarVideoProcessor`]), tokenizer
        ([`BertTokenizerFast`], uncased, from a local vocabulary), max_target_tokens (128: the evaluation length;
        training uses 64), max_duration_mismatch (1.0).
    """

    def __init__(
        self,
        feature_extractor=None,
        video_processor=None,
        tokenizer=None,
        max_target_tokens: int = 128,
        max_duration_mismatch: float = 1.0,
        **kwargs,
    ):
        self.max_target_tokens = max_target_tokens
        self.max_duration_mismatch = max_duration_mismatch
        super().__init__(feature_extractor, video_processor, tokenizer, **kwargs)

    @classmethod
    def from_vocab_file(
        cls,
        vocab_file: str | Path,
        feature_extractor: AvatarFeatureExtractor | None = None,
        video_processor: AvatarVideoProcessor | None = None,
        **kwargs,
    ) -> "AvatarProcessor":
        """Build from a local BERT-uncased `vocab.txt` (no download)."""
        path = Path(vocab_file)
        if not path.is_file():
            raise FileNotFoundError(f"no WordPiece vocabulary at {path}")
        tokenizer = BertTokenizerFast(vocab=str(path), do_lower_case=True, strip_accents=None)
        return cls(
            feature_extractor or AvatarFeatureExtractor(),
            video_processor or AvatarVideoProcessor(),
            tokenizer,
            **kwargs,
        )

    @classmethod
    def _get_arguments_from_pretrained(cls, pretrained_model_name_or_path, processor_dict=None, **kwargs):
        """Also loads a processor saved before the video processor existed (frame settings `num_frames`,
        `frames_per_second`, `shortest_edge`, `crop_size` at the top level of `processor_config.json`); its old
        training-augmentation keys are ignored (augmentation is `videozoo.data.avatar_augmentation` now)."""
        legacy = processor_dict or {}
        if "video_processor" in legacy or "frames_per_second" not in legacy:
            return super()._get_arguments_from_pretrained(pretrained_model_name_or_path, processor_dict, **kwargs)
        kwargs.pop("subfolder", None)
        video_processor = AvatarVideoProcessor(
            num_frames=legacy.get("num_frames", 2),
            fps=legacy["frames_per_second"],
            size={"shortest_edge": legacy.get("shortest_edge", 256)},
            crop_size=legacy.get("crop_size", 224),
        )
        return [
            AutoFeatureExtractor.from_pretrained(pretrained_model_name_or_path, **kwargs),
            video_processor,
            cls._load_tokenizer_from_pretrained("tokenizer", pretrained_model_name_or_path, **kwargs),
        ]

    # ------------------------------------------------------------------ text
    normalize_text = staticmethod(normalize_text)

    def encode_targets(
        self, texts, max_target_tokens: int | None = None, pad_to_max_length: bool = False
    ) -> torch.Tensor:
        """Transcripts -> `labels` `(batch, L)` (PAD = 0; `[SEP]` after the last wordpiece, cut with the caption)."""
        limit = max_target_tokens or self.max_target_tokens
        tokenizer = self.tokenizer
        if tokenizer.pad_token_id != 0:
            raise ValueError(
                f"the vocabulary must have [PAD] at id 0 (the model's start and pad id), got {tokenizer.pad_token_id}"
            )
        texts = require_text("text", texts)
        ids = [
            (tokenizer(normalize_text(t), add_special_tokens=False)["input_ids"] + [tokenizer.sep_token_id])[:limit]
            for t in texts
        ]
        width = limit if pad_to_max_length else max(len(i) for i in ids)
        labels = torch.zeros(len(ids), width, dtype=torch.long)
        for row, values in enumerate(ids):
            labels[row, : len(values)] = torch.tensor(values)
        return labels

    def batch_decode(self, sequences, **kwargs) -> list[str]:
        """Generated ids (start token removed) -> transcripts: cut at the first `[SEP]` or `[PAD]`, wordpieces joined
        the reference's way (`play ##ing` -> "playing", `don ' t` -> "don't")."""
        stop = {self.tokenizer.sep_token_id, self.tokenizer.pad_token_id}
        texts = []
        for row in sequences.tolist() if isinstance(sequences, torch.Tensor) else sequences:
            row = list(row)
            cut = next((i for i, t in enumerate(row) if t in stop), len(row))
            texts.append(detokenize(self.tokenizer.convert_ids_to_tokens(row[:cut])))
        return texts

    def decode(self, sequence, **kwargs) -> str:
        return self.batch_decode([sequence])[0]

    def check_durations(self, audio_seconds, video_seconds) -> None:
        """Raise when a clip's audio and video durations (seconds, None: unknown) differ by more than
        `max_duration_mismatch`."""
        for i, (heard, seen) in enumerate(zip(audio_seconds, video_seconds)):
            if heard is not None and seen is not None and abs(heard - seen) > self.max_duration_mismatch:
                raise ValueError(
                    f"clip {i}: the audio lasts {heard:.2f} s but the video {seen:.2f} s "
                    f"(more than max_duration_mismatch = {self.max_duration_mismatch} s apart)"
                )

    # ------------------------------------------------------------------ everything
    def __call__(
        self,
        audio=None,
        video=None,
        text=None,
        sampling_rate: int | None = None,
        video_fps=None,
        truncation: bool = False,
        allow_silent: bool = False,
        max_target_tokens: int | None = None,
        return_tensors: str = "pt",
        **kwargs,
    ) -> BatchFeature:
        """
        Args:
            audio: waveforms (with `sampling_rate`) or media file paths, one per clip (a 2-D array is a batch of
                mono clips; give `(channels, samples)` clips inside a list).
            video: `(T, H, W, 3)` arrays (with `video_fps`, a number or one per clip) or media file paths.
            text: transcripts -> `labels` (`max_target_tokens` overrides the processor's length).
            truncation / allow_silent: see [`AvatarFeatureExtractor`].
        """
        if kwargs:
            raise TypeError(
                f"AvatarProcessor got unexpected arguments {sorted(kwargs)}; training augmentation is "
                "videozoo.data.avatar_augmentation.AvatarAugmentation and clip windows are decoded by "
                "processors/video_io.py (load_audio / load_video with start_sec, end_sec)"
            )
        if audio is None and video is None and text is None:
            raise ValueError("give audio, video or text")

        def single(x) -> bool:  # one clip (a path, a waveform or a (T, H, W, C) video) rather than a list
            return isinstance(x, (str, Path)) or (isinstance(x, (np.ndarray, torch.Tensor)) and x.ndim in (1, 4))

        if isinstance(audio, (np.ndarray, torch.Tensor)) and audio.ndim != 1:
            audio = waveform_list("audio", audio)  # refuses the (samples, channels) layout
        audio = [audio] if audio is not None and single(audio) else audio
        video = [video] if video is not None and single(video) else video
        text = require_text("text", text) if text is not None else None
        count = len(audio if audio is not None else video if video is not None else text)
        for name, items in (("audio", audio), ("video", video), ("text", text)):
            if items is not None and len(items) != count:
                raise ValueError(f"{name} has {len(items)} clips, the other inputs {count}")
        data, audio_seconds, video_seconds = {}, [None] * count, [None] * count
        if audio is not None:
            audio = [load_audio(item) if isinstance(item, (str, Path)) else item for item in audio]
            waves = []
            for i, item in enumerate(audio):
                wave, rate = item if isinstance(item, tuple) else (item, sampling_rate)
                rate = require_sampling_rate("sampling_rate", rate, self.feature_extractor.sampling_rate)
                audio_seconds[i] = np.shape(wave)[-1] / rate
                try:
                    waves.append(self.feature_extractor.to_mono_16k(wave, rate))
                except ValueError as error:
                    raise ValueError(f"clip {i}: {error}") from error
            data.update(
                self.feature_extractor(
                    waves,
                    sampling_rate=self.feature_extractor.sampling_rate,
                    truncation=truncation,
                    allow_silent=allow_silent,
                )
            )
        if video is not None:
            rates = list(video_fps) if isinstance(video_fps, (list, tuple, np.ndarray)) else [video_fps] * count
            if len(rates) != count:
                raise ValueError(f"video_fps has {len(rates)} rates for {count} clips")
            frames = []
            for i, item in enumerate(video):
                if isinstance(item, (str, Path)):
                    decoded = load_video(item)  # (T, 3, H, W) -> the (T, H, W, 3) layout of array inputs
                    item, rates[i] = decoded.frames.permute(0, 2, 3, 1), decoded.fps
                frames.append(item)
                video_seconds[i] = np.shape(item)[0] / rates[i] if rates[i] else None
            self.check_durations(audio_seconds, video_seconds)
            metadata = [{"fps": rate} for rate in rates]
            data.update(self.video_processor(frames, video_metadata=metadata))
        if text is not None:
            data["labels"] = self.encode_targets(text, max_target_tokens)
        return BatchFeature(data, tensor_type=return_tensors)


__all__ = ["AvatarProcessor", "detokenize", "normalize_text", "write_vocab"]
