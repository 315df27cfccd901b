"""Decoding media files into synchronised frames and a mono waveform, with PyAV.

Decoder choice: PyAV (it bundles its own FFmpeg, so it needs no system libraries and imports fast; torchcodec
decodes identically on the clips checked, see ENVIRONMENT.md). The MP4 demuxer applies the AAC edit list, so the
encoder's priming samples are dropped and the first decoded audio sample sits at the first video frame's time;
`tests/test_processing_sparsesync.py` checks this on an encoded flash-and-click clip (flash frame and click onset
agree within one frame).

`load_clip(path, fps=25, sampling_rate=16000)` returns frames on an exact `fps` grid and audio at `sampling_rate`,
both starting at the same instant:
- the common start is the later of the two streams' first timestamps; the other stream is trimmed to it;
- frame-rate conversion picks, for output slot k, the last source frame whose timestamp rounded to the output grid
  is <= k (FFmpeg's `fps` filter, round to nearest), so a 25 fps source is returned unchanged;
- `shorter_side` resizes every frame so that min(H, W) = shorter_side (bicubic, FFmpeg's swscale, aspect kept)
  and crops to even sizes, as the reference's offline re-encoding;
- audio: every channel decoded as float, averaged to mono, resampled with torchaudio (band-limited sinc).
Errors name the file and the problem: missing file, unreadable or truncated container, no video or no audio
stream, no decodable frame.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch


class MediaDecodingError(ValueError):
    """A media file cannot give what was asked (no stream, unreadable, truncated, too short...)."""


@dataclass
class DecodedClip:
    """Decoded, synchronised streams of one file.

    frames: `(T, 3, H, W)` uint8 RGB on the `fps` grid; waveform: `(N,)` float32 mono at `sampling_rate`;
    source_*: what the file held; path: the file.
    """

    frames: torch.Tensor
    waveform: torch.Tensor
    fps: float
    sampling_rate: int
    path: str = ""
    source_fps: float = 0.0
    source_sampling_rate: int = 0
    source_channels: int = 0
    source_size: tuple[int, int] = (0, 0)
    metadata: dict = field(default_factory=dict)

    @property
    def duration(self) -> float:
        """Seconds both streams cover."""
        return min(len(self.frames) / self.fps, len(self.waveform) / self.sampling_rate)


def _import_av():
    try:
        import av
    except ImportError as error:  # pragma: no cover - av is a pinned dependency
        raise ImportError("decoding media files needs PyAV (`pip install av`)") from error
    return av


def open_media(path: Path):
    """The PyAV container of `path`; a missing or unreadable file is a `MediaDecodingError` naming it."""
    av = _import_av()
    if not path.is_file():
        raise MediaDecodingError(f"{path}: no such file")
    try:
        return av.open(str(path))
    except (av.error.FFmpegError, OSError) as error:
        raise MediaDecodingError(f"{path}: unreadable media file ({error})") from error


def _resized_size(height: int, width: int, shorter_side: int) -> tuple[int, int, int, int]:
    """(scaled height, scaled width, even height, even width) for min(H, W) -> shorter_side."""
    scale = shorter_side / min(height, width)
    new_h, new_w = max(2, round(height * scale)), max(2, round(width * scale))
    return new_h, new_w, new_h - new_h % 2, new_w - new_w % 2


def load_clip(
    path: str | Path,
    fps: float = 25.0,
    sampling_rate: int = 16000,
    shorter_side: int | None = None,
    max_duration_sec: float | None = None,
    truncation_tolerance_sec: float = 0.5,
) -> DecodedClip:
    """Decode `path` into frames at `fps` and mono audio at `sampling_rate`, starting at the same instant.

    Args:
        shorter_side: resize so that min(H, W) equals it (then even sizes); None keeps the decoded size.
        max_duration_sec: stop decoding after this many seconds of both streams.
        truncation_tolerance_sec: a stream that decodes this much shorter than the container declares is reported
            as truncated.
    """
    av = _import_av()
    path = Path(path)
    container = open_media(path)
    with container:
        if not container.streams.video:
            raise MediaDecodingError(f"{path}: the file has no video stream (SparseSync needs frames and audio)")
        if not container.streams.audio:
            raise MediaDecodingError(f"{path}: the file has no audio stream (SparseSync needs frames and audio)")
        video_stream, audio_stream = container.streams.video[0], container.streams.audio[0]
        declared = {
            "video": float(video_stream.duration * video_stream.time_base) if video_stream.duration else None,
            "audio": float(audio_stream.duration * audio_stream.time_base) if audio_stream.duration else None,
        }
        frames, times, audio_chunks = [], [], []
        audio_start = None
        size = None
        finished = set()  # streams decoded past max_duration_sec (+ 1 s of margin)
        try:
            for packet in container.demux(video_stream, audio_stream):
                if len(finished) == 2:
                    break
                for frame in packet.decode():
                    if frame.pts is None:
                        continue
                    time = float(frame.pts * frame.time_base)
                    if isinstance(frame, av.VideoFrame):
                        if max_duration_sec is not None and times and time - times[0] > max_duration_sec + 1.0:
                            finished.add("video")
                            continue
                        if size is None:
                            size = (frame.height, frame.width)
                        if shorter_side is not None:
                            new_h, new_w, even_h, even_w = _resized_size(frame.height, frame.width, shorter_side)
                            image = frame.reformat(
                                width=new_w, height=new_h, format="rgb24", interpolation="BICUBIC"
                            ).to_ndarray()
                            image = image[:even_h, :even_w]
                        else:
                            image = frame.to_ndarray(format="rgb24")
                        frames.append(image)
                        times.append(time)
                    else:
                        if audio_start is None:
                            audio_start = time
                        elif max_duration_sec is not None and time - audio_start > max_duration_sec + 1.0:
                            finished.add("audio")
                            continue
                        samples = frame.to_ndarray()
                        if not frame.format.is_planar:  # packed: (1, samples * channels)
                            samples = samples.reshape(-1, len(frame.layout.channels)).T
                        audio_chunks.append(samples.astype(np.float32))
        except av.error.FFmpegError as error:
            raise MediaDecodingError(f"{path}: decoding failed, the file is corrupt or truncated ({error})") from error
        source_fps = float(video_stream.average_rate) if video_stream.average_rate else 0.0
        source_rate = int(audio_stream.rate or 0)
        channels = len(audio_stream.layout.channels) if audio_stream.layout else 0

    if not frames:
        raise MediaDecodingError(f"{path}: no video frame could be decoded (empty or truncated video stream)")
    if not audio_chunks:
        raise MediaDecodingError(f"{path}: no audio could be decoded (empty or truncated audio stream)")
    audio = np.concatenate(audio_chunks, axis=1)
    order = np.argsort(times, kind="stable")  # decode order -> presentation order
    times = np.asarray(times)[order]
    frame_period = (
        1.0 / source_fps if source_fps > 0 else float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / fps
    )
    video_seconds = times[-1] - times[0] + frame_period
    audio_seconds = audio.shape[1] / source_rate
    for name, seconds in (("video", video_seconds), ("audio", audio_seconds)):
        expected = declared[name]
        limit = expected if max_duration_sec is None or expected is None else min(expected, max_duration_sec)
        if limit is not None and seconds < limit - truncation_tolerance_sec:
            raise MediaDecodingError(
                f"{path}: the {name} stream decodes to {seconds:.2f} s but the file declares {expected:.2f} s "
                f"(truncated or corrupt file)"
            )

    # common start: the later of the two first timestamps, relative to the first frame
    audio_offset = audio_start - times[0]  # > 0: the audio starts after the first frame
    start = max(0.0, audio_offset)
    skip_samples = int(round((start - audio_offset) * source_rate))
    audio = audio[:, skip_samples:]
    video_end = video_seconds - start
    count = int(np.floor(video_end * fps + 1e-6))
    if max_duration_sec is not None:
        count = min(count, int(np.floor(max_duration_sec * fps + 1e-6)))
    if count <= 0:
        raise MediaDecodingError(f"{path}: the video and audio streams do not overlap in time")
    slots = np.floor((times - times[0] - start) * fps + 0.5).astype(np.int64)  # source frames on the output grid
    chosen = np.clip(np.searchsorted(slots, np.arange(count), side="right") - 1, 0, len(times) - 1)
    stacked = np.stack(frames)[order][chosen]  # (T, H, W, 3)

    wave = torch.from_numpy(np.ascontiguousarray(audio.mean(axis=0)))
    if source_rate != sampling_rate:
        import torchaudio

        wave = torchaudio.functional.resample(wave, source_rate, sampling_rate)
    if max_duration_sec is not None:
        wave = wave[: int(max_duration_sec * sampling_rate)]
    return DecodedClip(
        frames=torch.from_numpy(np.ascontiguousarray(stacked)).permute(0, 3, 1, 2).contiguous(),
        waveform=wave.to(torch.float32).contiguous(),
        fps=float(fps),
        sampling_rate=int(sampling_rate),
        path=str(path),
        source_fps=source_fps,
        source_sampling_rate=source_rate,
        source_channels=channels,
        source_size=size or (0, 0),
        metadata={"declared_seconds": declared, "audio_offset_sec": float(audio_offset)},
    )


# ----------------------------------------------------------------------------- single streams (feature extractors)
@dataclass
class DecodedVideo:
    """Frames of one file: `frames` `(T, 3, H, W)` uint8 RGB on the `fps` grid (the file's own frames when no
    rate was asked), `timestamps_sec` of each returned frame from the first one, `source_fps` the file's rate."""

    frames: torch.Tensor
    fps: float
    timestamps_sec: np.ndarray
    path: str = ""
    source_fps: float = 0.0


def load_video(
    path: str | Path,
    fps: float | None = None,
    max_duration_sec: float | None = None,
    start_sec: float | None = None,
    end_sec: float | None = None,
) -> DecodedVideo:
    """Decode the video stream of `path` (audio is not needed), optionally brought to `fps` with the same rule as
    `load_clip` (FFmpeg's `fps` filter: output slot k takes the last source frame whose time, rounded to the output
    grid, is <= k; slots run to the end of the last source frame). `start_sec` / `end_sec` keep the frames whose
    timestamp in the file lies in `[start_sec, end_sec)` (a segment of a longer video; timestamps then count from the
    first kept frame). Errors name the file and the problem."""
    av = _import_av()
    path = Path(path)
    _check_window(path, start_sec, end_sec)
    container = open_media(path)
    frames, times = [], []
    with container:
        if not container.streams.video:
            raise MediaDecodingError(f"{path}: the file has no video stream")
        stream = container.streams.video[0]
        try:
            for frame in container.decode(stream):
                if frame.pts is None:
                    continue
                time = float(frame.pts * frame.time_base)
                if start_sec is not None and time < start_sec:
                    continue
                if end_sec is not None and time >= end_sec:
                    break
                if max_duration_sec is not None and times and time - min(times) > max_duration_sec + 1.0:
                    break
                frames.append(frame.to_ndarray(format="rgb24"))
                times.append(time)
        except av.error.FFmpegError as error:
            raise MediaDecodingError(f"{path}: decoding failed, the file is corrupt or truncated ({error})") from error
        source_fps = float(stream.average_rate) if stream.average_rate else 0.0
    if not frames:
        if start_sec is not None or end_sec is not None:
            raise MediaDecodingError(f"{path}: no video frame in the requested window [{start_sec}, {end_sec}) s")
        raise MediaDecodingError(f"{path}: no video frame could be decoded (empty or truncated video stream)")
    order = np.argsort(times, kind="stable")
    times = np.asarray(times)[order] - min(times)
    stacked = np.stack(frames)[order]
    if fps is None:
        rate = source_fps if source_fps > 0 else (1.0 / float(np.median(np.diff(times))) if len(times) > 1 else 1.0)
        chosen = np.arange(len(times))
        if max_duration_sec is not None:
            chosen = chosen[times < max_duration_sec - 1e-9]
        grid = times[chosen]
    else:
        period = 1.0 / source_fps if source_fps > 0 else float(np.median(np.diff(times))) if len(times) > 1 else 1.0
        count = int(np.floor((times[-1] + period) * fps + 1e-6))
        if max_duration_sec is not None:
            count = min(count, int(np.floor(max_duration_sec * fps + 1e-6)))
        slots = np.floor(times * fps + 0.5).astype(np.int64)
        chosen = np.clip(np.searchsorted(slots, np.arange(count), side="right") - 1, 0, len(times) - 1)
        rate, grid = float(fps), np.arange(count) / float(fps)
    return DecodedVideo(
        frames=torch.from_numpy(np.ascontiguousarray(stacked[chosen])).permute(0, 3, 1, 2).contiguous(),
        fps=float(rate),
        timestamps_sec=np.asarray(grid, dtype=np.float64),
        path=str(path),
        source_fps=source_fps,
    )


def _check_window(path: Path, start_sec: float | None, end_sec: float | None) -> None:
    for name, value in (("start_sec", start_sec), ("end_sec", end_sec)):
        if value is not None and not (np.isfinite(value) and value >= 0):
            raise MediaDecodingError(f"{path}: {name} must be a finite number of seconds >= 0, got {value}")
    if start_sec is not None and end_sec is not None and end_sec <= start_sec:
        raise MediaDecodingError(f"{path}: the window [{start_sec}, {end_sec}) s is empty")


def load_audio(
    path: str | Path, start_sec: float | None = None, end_sec: float | None = None
) -> tuple[torch.Tensor, int]:
    """Decode every channel of the audio stream of `path` as float in [-1, 1] (integer PCM scaled by its maximum),
    at the file's own rate: `((C, N), rate)`; `start_sec` / `end_sec` keep the samples from `round(start_sec * rate)`
    to `round(end_sec * rate)`, counted from the first decoded sample (a segment of a longer recording).
    Errors name the file and the problem (no such file, unreadable, no audio stream, no decodable audio)."""
    av = _import_av()
    path = Path(path)
    _check_window(path, start_sec, end_sec)
    container = open_media(path)
    chunks = []
    with container:
        if not container.streams.audio:
            raise MediaDecodingError(f"{path}: the file has no audio stream")
        stream = container.streams.audio[0]
        try:
            for frame in container.decode(stream):
                samples = frame.to_ndarray()
                if not frame.format.is_planar:
                    samples = samples.reshape(-1, len(frame.layout.channels)).T
                if np.issubdtype(samples.dtype, np.integer):  # s16 / s32 PCM -> [-1, 1]
                    samples = samples / float(np.iinfo(samples.dtype).max)
                chunks.append(samples.astype(np.float32))
        except av.error.FFmpegError as error:
            raise MediaDecodingError(f"{path}: decoding failed, the file is corrupt or truncated ({error})") from error
        rate = int(stream.rate or 0)
    if not chunks or rate <= 0:
        raise MediaDecodingError(f"{path}: no audio could be decoded (empty or truncated audio stream)")
    samples = np.concatenate(chunks, axis=1)
    first = 0 if start_sec is None else int(round(start_sec * rate))
    last = samples.shape[1] if end_sec is None else int(round(end_sec * rate))
    samples = samples[:, first:last]
    if samples.shape[1] == 0:
        raise MediaDecodingError(f"{path}: no audio in the requested window [{start_sec}, {end_sec}) s")
    return torch.from_numpy(np.ascontiguousarray(samples)), rate


__all__ = ["DecodedClip", "DecodedVideo", "MediaDecodingError", "load_audio", "load_clip", "load_video", "open_media"]
