"""`audio-visual-synchronisation`: how far a video's audio is shifted from its frames (SparseSync).

    from transformers import pipeline

    sync = pipeline("audio-visual-synchronisation", model="<repo>", trust_remote_code=True)
    sync("clip.mp4")  # {"offset_sec": 0.2, "probability": 0.71, "distribution": [...], "windows": [...]}

A file is decoded once (`video_io.load_clip`, the processor's frame rate, audio rate and resize) and cut into
windows of the processor's `clip_length_sec` (5 s for the paper's models), `window_stride_sec` apart (defaults to
the window length: non-overlapping), so a long video is scanned whole; `max_duration_sec` bounds how much of it is
decoded. Each window is one model input, processed as the authors' evaluation does a test crop (centre crop, offset
0 at the window start: the offset the model finds is the file's own). Offsets are in seconds, positive when the
audio is early (see `SparseSyncConfig`).

The answer for the file averages the windows' class probabilities (each window's softmax over the offset grid)
and reports the most probable offset of the average, its probability and the whole averaged distribution, plus
every window's own answer. Averaging probabilities is this pipeline's choice: the paper scores single 5 s crops.
"""

import numpy as np
import torch

from .pipeline_base import PipelineInputError, VideozooPipeline, media_path
from .video_io import DecodedClip, MediaDecodingError, load_clip


class AudioVisualSynchronisationPipeline(VideozooPipeline):
    """Offset of the audio against the frames, from a media file (or decoded arrays), scanned in windows.

    Inputs: a path to a media file with a video and an audio stream; a `DecodedClip`; or a dict
    `{"video": uint8 frames (T, H, W, 3) or (T, 3, H, W), "video_fps": float, "audio": mono waveform, "sampling_rate":
    int}` at the processor's rates (25 fps, 16 kHz for the paper's models).

    Parameters: `window_stride_sec` (defaults to the window length), `max_duration_sec` (decode at most this much of
    a file; defaults to all of it), `max_windows` (refuse inputs that would need more windows; defaults to no limit).
    """

    supported_model_types = ("sparsesync",)
    preprocess_params = ("window_stride_sec", "max_duration_sec", "max_windows")

    def check_input(self, item, name: str):
        if isinstance(item, DecodedClip):
            return item
        if isinstance(item, dict):
            missing = [key for key in ("video", "video_fps", "audio", "sampling_rate") if key not in item]
            if missing:
                raise PipelineInputError(f"{name}: a dict input needs the keys {missing}")
            return item
        if isinstance(item, (str, bytes)) or hasattr(item, "__fspath__"):
            return media_path(item, name)
        raise PipelineInputError(
            f"{name}: give a media file path, a DecodedClip or a dict of video / video_fps / audio / sampling_rate, "
            f"not {type(item).__name__}"
        )

    def _decode(self, item, name: str, max_duration_sec: float | None) -> tuple[torch.Tensor, torch.Tensor]:
        processor = self.processor
        rate, fps = processor.feature_extractor.sampling_rate, processor.video_fps
        if isinstance(item, dict):
            if abs(float(item["video_fps"]) - fps) > 1e-6 or int(item["sampling_rate"]) != rate:
                raise PipelineInputError(
                    f"{name}: frames at {float(item['video_fps']):g} fps and audio at {item['sampling_rate']} Hz; "
                    f"this model needs {fps:g} fps and {rate} Hz (give a file path to have it decoded and resampled)"
                )
            item = DecodedClip(
                frames=torch.as_tensor(np.asarray(item["video"])),
                waveform=torch.as_tensor(np.asarray(item["audio"], dtype=np.float32)),
                fps=fps,
                sampling_rate=rate,
                path=name,
            )
        elif not isinstance(item, DecodedClip):
            try:
                item = load_clip(
                    item,
                    fps=fps,
                    sampling_rate=rate,
                    shorter_side=processor.resize_shorter_side or None,
                    max_duration_sec=max_duration_sec,
                )
            except MediaDecodingError as error:
                raise PipelineInputError(str(error)) from error
        frames, wave = item.frames, item.waveform
        if wave.dim() == 2:
            wave = wave.mean(dim=0)
        if frames.dim() == 4 and frames.shape[1] != 3 and frames.shape[-1] == 3:
            frames = frames.permute(0, 3, 1, 2)
        if max_duration_sec is not None:
            frames = frames[: int(max_duration_sec * fps)]
            wave = wave[: int(max_duration_sec * rate)]
        return frames, wave

    def window_starts(self, duration: float, stride: float, name: str) -> list[float]:
        length = self.processor.clip_length_sec
        if duration + 1e-6 < length:
            raise PipelineInputError(
                f"{name}: {duration:.2f} s of synchronised audio and video; this model needs clips of at least "
                f"{length:g} s"
            )
        count = int(np.floor((duration - length) / stride + 1e-6)) + 1
        return [round(i * stride, 6) for i in range(count)]

    def preprocess(self, item, name="input", window_stride_sec=None, max_duration_sec=None, max_windows=None):
        processor = self.processor
        length = processor.clip_length_sec
        stride = float(window_stride_sec) if window_stride_sec is not None else length
        if stride <= 0:
            raise PipelineInputError(f"window_stride_sec must be positive, got {stride}")
        frames, wave = self._decode(item, name, max_duration_sec)
        rate, fps = processor.feature_extractor.sampling_rate, processor.video_fps
        duration = min(len(frames) / fps, len(wave) / rate)
        starts = self.window_starts(duration, stride, name)
        if max_windows is not None and len(starts) > max_windows:
            raise PipelineInputError(
                f"{name}: {duration:.1f} s would need {len(starts)} windows, more than max_windows={max_windows} "
                "(raise it, lengthen window_stride_sec or set max_duration_sec)"
            )
        units = []
        for start in starts:
            first_frame, first_sample = int(round(start * fps)), int(round(start * rate))
            window = processor(
                videos=[frames[first_frame : first_frame + processor.crop_frames]],
                audios=[wave[first_sample : first_sample + processor.crop_samples]],
                sampling_rate=rate,
                video_fps=fps,
                offsets=[0.0],
                video_starts=[0.0],
                names=[f"{name} [{start:g} s]"],
            )
            units.append({"pixel_values": window["pixel_values"][0], "input_features": window["input_features"][0]})
        return units, {"starts": starts, "length": length}

    def _forward(self, batch):
        logits = self.model(pixel_values=batch["pixel_values"], input_features=batch["input_features"]).logits
        return {"probabilities": logits.float().softmax(dim=-1)}

    def _answer(self, probabilities: torch.Tensor, grid: list[float]) -> dict:
        best = int(probabilities.argmax())
        return {
            "offset_sec": grid[best],
            "label": self.model.config.id2label.get(best, str(best)),
            "probability": float(probabilities[best]),
            "distribution": [{"offset_sec": g, "probability": float(p)} for g, p in zip(grid, probabilities)],
        }

    def postprocess(self, outputs, context=None):
        grid = self.processor.offset_grid()
        probabilities = torch.stack([output["probabilities"] for output in outputs]).double()
        answer = self._answer(probabilities.mean(dim=0), grid)
        answer["windows"] = [
            {
                "start_sec": start,
                "end_sec": round(start + context["length"], 6),
                **{k: v for k, v in self._answer(p, grid).items() if k != "distribution"},
            }
            for start, p in zip(context["starts"], probabilities)
        ]
        return answer


__all__ = ["AudioVisualSynchronisationPipeline"]
