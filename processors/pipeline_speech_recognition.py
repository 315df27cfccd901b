"""`audio-visual-speech-recognition`: a transcript from a video's audio and, for audio-visual models, its frames
(AVATAR).

    from transformers import pipeline

    asr = pipeline("audio-visual-speech-recognition", model="<repo>", trust_remote_code=True)
    asr("talk.mp4")  # {"text": "...", "used_frames": True}

A file is decoded by `processors/video_io.py` through `AvatarProcessor` (its audio resampled to 16 kHz and turned
into log-mel features by the feature extractor; its frames sampled, resized and cropped as at evaluation by the video
processor). A model trained on both streams (`modalities` `("rgb",
"audio")`) needs the frames, so a file without a video stream is refused with a message; an audio-only model
(`("audio",)`) never decodes them. The transcript comes from `generate` (greedy by default; `num_beams` > 1 runs
the reference beam search, `length_penalty` 0.6 as the paper) and `AvatarProcessor.batch_decode`.
"""

from pathlib import Path

from ..modeling.generation_avatar import avatar_beam_search
from .pipeline_base import PipelineInputError, VideozooPipeline, media_path


class AudioVisualSpeechRecognitionPipeline(VideozooPipeline):
    """Speech to text from a media file, or from arrays.

    Inputs: a media file path (audio stream required; video stream required by audio-visual models); or a dict
    `{"audio": waveform (samples,) or (channels, samples), "sampling_rate": int, "video": uint8 frames (T, H, W, 3),
    "video_fps": float}` (`video` / `video_fps` only for audio-visual models).

    Parameters: `max_new_tokens` (defaults to the model's generation config), `num_beams` (1: greedy),
    `length_penalty` (beam search only, 0.6), `truncation` (cut audio longer than the model's window instead of
    refusing it).
    """

    supported_model_types = ("avatar",)
    preprocess_params = ("truncation",)
    forward_params = ("max_new_tokens", "num_beams", "length_penalty")

    @property
    def uses_frames(self) -> bool:
        return "rgb" in tuple(self.model.config.modalities)

    def check_input(self, item, name: str):
        if isinstance(item, dict):
            needed = ["audio", "sampling_rate"] + (["video", "video_fps"] if self.uses_frames else [])
            missing = [key for key in needed if item.get(key) is None]
            if missing:
                raise PipelineInputError(
                    f"{name}: a dict input needs {missing}"
                    + (" (this AVATAR model reads the frames as well as the audio)" if self.uses_frames else "")
                )
            return item
        if isinstance(item, (str, bytes)) or hasattr(item, "__fspath__"):
            return media_path(item, name)
        raise PipelineInputError(
            f"{name}: give a media file path or a dict of audio / sampling_rate (/ video / video_fps), "
            f"not {type(item).__name__}"
        )

    def preprocess(self, item, name="input", truncation=False):
        try:
            if isinstance(item, Path):
                inputs = self.processor(
                    audio=[item], video=[item] if self.uses_frames else None, truncation=truncation
                )
            else:
                inputs = self.processor(
                    audio=[item["audio"]],
                    sampling_rate=item["sampling_rate"],
                    video=[item["video"]] if self.uses_frames else None,
                    video_fps=item.get("video_fps"),
                    truncation=truncation,
                )
        except ValueError as error:
            hint = ""
            if self.uses_frames and "no video stream" in str(error):
                hint = " (this AVATAR model reads lip frames; an audio-only checkpoint transcribes audio alone)"
            raise PipelineInputError(f"{name}: {error}{hint}") from error
        return [{key: value[0] for key, value in inputs.items()}], {"used_frames": self.uses_frames}

    def _forward(self, batch, max_new_tokens=None, num_beams=1, length_penalty=0.6):
        kwargs = {} if max_new_tokens is None else {"max_new_tokens": int(max_new_tokens)}
        if num_beams > 1:
            kwargs.update(num_beams=int(num_beams), length_penalty=length_penalty, custom_generate=avatar_beam_search)
        sequences = self.model.generate(
            input_features=batch["input_features"], pixel_values=batch.get("pixel_values"), **kwargs
        )
        return {"sequences": sequences}

    def postprocess(self, outputs, context=None):
        (output,) = outputs
        # generate returns the decoder start token ([PAD]) first; batch_decode takes the ids after it (and cuts at
        # the first [PAD] or [SEP]), as the AVATAR task's evaluation decodes `ids[:, 1:]` (videozoo/tasks/avatar.py)
        return {"text": self.processor.batch_decode(output["sequences"][None, 1:])[0], **context}


__all__ = ["AudioVisualSpeechRecognitionPipeline"]
