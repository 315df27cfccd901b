"""Data for SparseSync: clip folders with split files (LRS3 and VGGSound-Sparse layouts), fixed evaluation offsets,
the re-encoding of the reference's dataset preparation, and an embedded "flash and click" task written as real
H.264 / AAC mp4 files.

A dataset is one row per clip:

    id            string    the reference's unique id (LRS3: `pretrain/<video>/<clip>`, VGGSound: the file stem)
    path          string    the mp4 file
    offset_sec    float32   fixed evaluation offset (NaN: none, the sampler draws one)
    vstart_sec    float32   fixed visual start of that crop (NaN: none)
    label         string    the VGGSound class ("" elsewhere)

Files are decoded when a batch is made (`SparseSyncCollator`, through `SparseSyncProcessor.load_clip`), and the
offset sampler draws from each row's `sample_seed` (`videozoo.training.fit`), so epochs are reproducible. The
sampler (`sample_crop`) and the fixed crops (`fixed_crop`) live with the processor and are re-exported here.
"""

import csv
import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..processors.processing_sparsesync import (
    ClipTooShortError,
    CropPlan,
    SparseSyncProcessor,
    equalize_lengths,
    fixed_crop,
    nearest_class,
    sample_crop,
)
from ..processors.video_io import DecodedClip, MediaDecodingError, load_clip
from .sparsesync_augmentation import SparseSyncAugmentation


# ----------------------------------------------------------------------------- writing clips
def write_clip(
    path: str | Path,
    frames,
    waveform,
    fps: float = 25.0,
    sampling_rate: int = 16000,
    crf: int = 10,
    video_codec: str = "libx264",
    audio_codec: str = "aac",
    pixel_format: str = "yuv420p",
) -> Path:
    """Write RGB frames (`(T, H, W, 3)` or `(T, 3, H, W)` uint8, even sizes) and a mono float waveform to an mp4:
    H.264 (`crf`, yuv420p) and AAC mono at `sampling_rate`, as the reference's re-encoding (`reencode_videos.py`:
    libx264, crf 10, yuv420p, aac, 16 kHz, mono)."""
    from fractions import Fraction

    import av

    frames = np.asarray(frames.numpy() if isinstance(frames, torch.Tensor) else frames)
    if frames.ndim == 4 and frames.shape[1] == 3 and frames.shape[-1] != 3:
        frames = frames.transpose(0, 2, 3, 1)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(f"H.264 with yuv420p needs even sizes, got {frames.shape[1]}x{frames.shape[2]}")
    wave = np.asarray(waveform.numpy() if isinstance(waveform, torch.Tensor) else waveform, dtype=np.float32)
    if wave.ndim != 1:
        raise ValueError(f"the waveform must be mono (samples,), got {wave.shape}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), "w") as container:
        video = container.add_stream(video_codec, rate=rate)
        video.width, video.height, video.pix_fmt = frames.shape[2], frames.shape[1], pixel_format
        video.options = {"crf": str(crf)}
        audio = container.add_stream(audio_codec, rate=sampling_rate)
        audio.layout = "mono"
        for image in frames:
            for packet in video.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in video.encode():
            container.mux(packet)
        chunk = 1024
        for start in range(0, len(wave), chunk):
            frame = av.AudioFrame.from_ndarray(
                np.clip(wave[None, start : start + chunk], -1, 1), format="fltp", layout="mono"
            )
            frame.sample_rate, frame.pts = sampling_rate, start
            for packet in audio.encode(frame):
                container.mux(packet)
        for packet in audio.encode():
            container.mux(packet)
    return path


def reencode_clip(
    source: str | Path,
    target: str | Path,
    fps: float = 25.0,
    sampling_rate: int = 16000,
    shorter_side: int = 256,
    crf: int = 10,
    max_duration_sec: float | None = None,
) -> DecodedClip:
    """The reference's offline preparation of one clip: 25 fps, shorter side 256 (even sizes), H.264 crf 10
    yuv420p, AAC 16 kHz mono. Raises `MediaDecodingError` for a file that cannot be used."""
    clip = load_clip(
        source, fps=fps, sampling_rate=sampling_rate, shorter_side=shorter_side, max_duration_sec=max_duration_sec
    )
    write_clip(target, clip.frames, clip.waveform, fps, sampling_rate, crf)
    return clip


@dataclass
class PreparationReport:
    written: list[str]
    bad: list[tuple[str, str]]  # (file, reason)


def prepare_clips(
    sources: Iterable[str | Path],
    source_root: str | Path,
    target_root: str | Path,
    min_duration_sec: float = 0.0,
    **kwargs,
) -> PreparationReport:
    """Re-encode every source (keeping its path relative to `source_root`); files that cannot be decoded, lack a
    stream or are shorter than `min_duration_sec` are skipped and listed with the reason, never abort the run."""
    source_root, target_root = Path(source_root), Path(target_root)
    report = PreparationReport([], [])
    for source in sources:
        source = Path(source)
        target = (target_root / source.relative_to(source_root)).with_suffix(".mp4")
        try:
            clip = reencode_clip(source, target, **kwargs)
        except (MediaDecodingError, ValueError, OSError) as error:
            report.bad.append((str(source), str(error).removeprefix(f"{source}: ")))
            target.unlink(missing_ok=True)
            continue
        if clip.duration < min_duration_sec:
            report.bad.append((str(source), f"{clip.duration:.2f} s is shorter than {min_duration_sec:g} s"))
            target.unlink(missing_ok=True)
            continue
        report.written.append(str(target))
    return report


# ----------------------------------------------------------------------------- the synthetic flash-and-click task
def flash_and_click_source(
    rng: np.random.Generator,
    duration_sec: float,
    size: int = 32,
    fps: float = 25.0,
    sampling_rate: int = 16000,
    events_per_sec: float = 1.5,
    min_gap_sec: float = 0.3,
    flash_frames: int = 2,
    click_sec: float = 0.02,
    square_fraction: float = 0.25,
    period_sec: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One source clip of the flash-and-click task: dark noisy frames (uniform in [0, 0.1]) where a bright square
    (side `square_fraction` of the frame, random position) is shown for `flash_frames` frames at each event, and
    background noise N(0, 0.01^2) where a `click_sec` burst of N(0, 0.5^2) starts at each event, at the flash's
    first frame. Returns frames `(T, size, size, 3)` uint8, the waveform and the event times (seconds, on the
    frame grid).

    Event times are a stationary process over the whole source, so a crop's position says nothing about the
    offset: by default a renewal process (gaps `min_gap_sec` + exponential, `events_per_sec` on average);
    with `period_sec`, one event every `period_sec` from a uniform random phase. With the period equal to
    the crop length every crop holds exactly one flash (and the audio crop one click), and the offset is their
    time difference modulo the period, which is unique when the period exceeds the range of offsets."""
    num_frames, num_samples = int(round(duration_sec * fps)), int(round(duration_sec * sampling_rate))
    times = []
    if period_sec is not None:
        t = float(rng.uniform(0, period_sec))
        while t < duration_sec:
            times.append(t)
            t += period_sec
    else:
        mean_gap = max(1.0 / events_per_sec - min_gap_sec, 1e-3)
        t = float(rng.uniform(0, 1.0 / events_per_sec))
        while t < duration_sec:
            times.append(t)
            t += min_gap_sec + float(rng.exponential(mean_gap))
    frames = (rng.uniform(0, 0.1, (num_frames, size, size, 3)) * 255).astype(np.uint8)
    wave = rng.normal(0, 0.01, num_samples).astype(np.float32)
    side = max(2, int(round(size * square_fraction)))
    click = int(round(click_sec * sampling_rate))
    events = []
    for t in times:
        index = int(np.floor(t * fps))
        if index + flash_frames > num_frames:
            break
        top, left = rng.integers(0, size - side + 1, 2)
        frames[index : index + flash_frames, top : top + side, left : left + side] = 255
        start = int(round(index / fps * sampling_rate))
        wave[start : start + click] += rng.normal(0, 0.5, len(wave[start : start + click])).astype(np.float32)
        events.append(index / fps)
    return frames, np.clip(wave, -1, 1), np.asarray(events)


def event_aware_crop(
    num_frames: int,
    num_samples: int,
    grid: list[float],
    crop_sec: float,
    fps: float,
    sampling_rate: int,
    event_times,
    rng: np.random.Generator,
    margin_sec: float = 0.12,
) -> tuple[float, float]:
    """A warm-up crop for the synthetic task: an offset uniform over the grid and a visual start chosen so that one
    known event lies inside both crops (at least `margin_sec` from their edges). **This leaks the offset** (the
    event's position in either crop alone depends on it, the "first generator" tried while designing this task): it
    gives the model a first-order signal to leave the initial plateau, and is only for a warm-up stage; the model is
    then trained and evaluated with the leak-free sampler. Returns (offset, visual start) for `fixed_crop`."""
    start_max = (num_frames - int(crop_sec * fps)) / fps
    events = list(event_times)
    for _ in range(100):
        offset = round(float(grid[int(rng.integers(len(grid)))]), 2)
        event = float(events[int(rng.integers(len(events)))])
        low = max(0.0, -offset, event - crop_sec + margin_sec, event - offset - crop_sec + margin_sec)
        high = min(start_max, start_max - offset, event - margin_sec, event - offset - margin_sec)
        if low <= high:
            start = int(rng.uniform(low, high) * fps) / fps
            return offset, start
    raise ClipTooShortError(
        "no event of this clip fits both crops at any offset (clip too short for the warm-up crops)"
    )


def write_flash_and_click_dataset(
    root: str | Path,
    num_clips: dict[str, int] | None = None,
    duration_sec: float = 7.4,
    size: int = 32,
    num_offset_classes: int = 21,
    max_offset_sec: float = 2.0,
    crop_sec: float = 3.0,
    seed: int = 0,
    events_file: str = "events.csv",
    **source_kwargs,
) -> dict[str, int]:
    """Write the flash-and-click task as H.264 / AAC mp4 files in the LRS3 layout (`root/pretrain/<source>/
    00000.mp4`, split files `root/lrs3_{split}.txt`) with fixed offset tables for valid and test
    (`root/fixed_offsets_lrs3/`, the reference's format), drawn by the training sampler from the clip lengths.
    Each split uses its own random stream, so held-out clips share nothing with training clips. The event times
    of every clip go to `root/events.csv` (`path, event_times`), for the warm-up crops (`event_aware_crop`)."""
    root = Path(root)
    num_clips = num_clips or {"train": 1000, "valid": 200, "test": 200}
    grid_processor = SparseSyncProcessor(
        clip_length_sec=crop_sec, num_offset_classes=num_offset_classes, max_offset_sec=max_offset_sec, crop_size=size
    )
    counts, event_rows = {}, []
    for split_index, (split, count) in enumerate(num_clips.items()):
        rng = np.random.default_rng([seed, split_index])
        ids = []
        for index in range(count):
            frames, wave, events = flash_and_click_source(rng, duration_sec, size, **source_kwargs)
            clip_id = f"pretrain/{split}{index:05d}/00000"
            write_clip(root / f"{clip_id}.mp4", frames, wave)
            ids.append(clip_id)
            event_rows.append([clip_id, " ".join(f"{t:.2f}" for t in events)])
        (root / f"lrs3_{split}.txt").write_text("".join(f"{i}\n" for i in ids))
        if split != "train":
            lengths = {i: (int(round(duration_sec * 25)), int(round(duration_sec * 16000))) for i in ids}
            write_fixed_offsets(
                root / "fixed_offsets_lrs3" / fixed_offsets_name(split, grid_processor),
                make_fixed_offsets(lengths, grid_processor, seed=seed + 1 + split_index),
            )
        counts[split] = count
    with (root / events_file).open("w", newline="") as handle:
        csv.writer(handle).writerows([["path", "event_times"], *event_rows])
    return counts


# ----------------------------------------------------------------------------- fixed evaluation offsets (A4.2)
def fixed_offsets_name(split: str, processor: SparseSyncProcessor) -> str:
    """The reference's table name, e.g. `test_size21_crop5.0_min-2.00_max2.00.csv`."""
    grid = processor.offset_grid()
    return f"{split}_size{len(grid)}_crop{processor.clip_length_sec}_min{min(grid):.2f}_max{max(grid):.2f}.csv"


def make_fixed_offsets(
    lengths: dict[str, tuple[int, int]], processor: SparseSyncProcessor, seed: int = 1338
) -> dict[str, tuple[float, float]]:
    """One (offset, visual start) per clip, drawn by the training sampler without jitter from the clip's
    (frames, samples) after equalisation; rounded to 2 decimals as the reference's tables."""
    rng = np.random.default_rng(seed)
    table = {}
    rate = processor.feature_extractor.sampling_rate
    for clip_id, (frames, samples) in sorted(lengths.items()):
        frames, samples = equalize_lengths(frames, samples, processor.video_fps, rate, processor.clip_max_length_sec)
        plan = sample_crop(
            frames,
            samples,
            processor.offset_grid(),
            processor.clip_length_sec,
            processor.video_fps,
            rate,
            rng,
            0.0,
            clip_id,
        )
        table[clip_id] = (round(plan.offset_sec, 2), round(plan.video_start_sec, 2))
    return table


def write_fixed_offsets(path: str | Path, table: dict[str, tuple[float, float]]) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "offset_sec", "vstart_sec"])
        for clip_id, (offset, start) in table.items():
            writer.writerow([clip_id, offset, start])
    return path


def read_fixed_offsets(path: str | Path) -> dict[str, tuple[float, float]]:
    """A reference table (`path, offset_sec, vstart_sec`) -> {id: (offset, visual start)}."""
    table = {}
    with Path(path).open(newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or [h.strip() for h in header] != ["path", "offset_sec", "vstart_sec"]:
            raise ValueError(f"{path}: not a fixed-offset table (header `path,offset_sec,vstart_sec`, got {header})")
        for row in reader:
            if row[0] in table:
                raise ValueError(f"{path}: clip {row[0]} appears twice")
            table[row[0]] = (float(row[1]), float(row[2]))
    return table


# ----------------------------------------------------------------------------- clip folders with split files (A4.7)
def sparsesync_clip_dataset(
    videos_dir: str | Path,
    split: str,
    layout: str = "lrs3",
    splits_dir: str | Path | None = None,
    fixed_offsets: str | Path | None = None,
    vggsound_meta: str | Path | None = None,
    sparse_classes: str | Path | None = None,
    bad_files: Sequence[str | Path] = (),
    events: str | Path | None = None,
):
    """One row per clip of a split, in the reference's layouts.

    - `layout="lrs3"`: clips `videos_dir/<id>.mp4` with ids `pretrain/<video>/<clip>` listed in
      `splits_dir/lrs3_{split}.txt`.
    - `layout="vggsound"`: clips `videos_dir/<ytid>_<start ms>_<end ms>.mp4` listed (by stem) in
      `splits_dir/vggsound_{split}.txt`; `vggsound_meta` (the VGGSound CSV: ytid, start s, label, split) gives the
      class, and `sparse_classes` (tab-separated `label<TAB>y|n`, the reference's picked classes) keeps the
      VGGSound-Sparse classes only.
    `fixed_offsets`: a reference table for valid / test (`read_fixed_offsets`); every clip must be in it.
    `bad_files`: lists of ids (one per line) to leave out, as the reference's filtered-example lists.
    `events`: a table of known event times (`path, event_times`, the synthetic task's) added as `event_times`.
    Missing files are an error naming them (build the dataset from what exists, or list them as bad).
    """
    import datasets

    videos_dir = Path(videos_dir)
    splits_dir = Path(splits_dir) if splits_dir is not None else videos_dir
    split_file = splits_dir / f"{'lrs3' if layout == 'lrs3' else 'vggsound'}_{split}.txt"
    if layout not in ("lrs3", "vggsound"):
        raise ValueError(f"unknown layout {layout!r} (use 'lrs3' or 'vggsound')")
    if not split_file.is_file():
        raise FileNotFoundError(f"no split file {split_file}")
    ids = [line.strip() for line in split_file.read_text().splitlines() if line.strip()]
    excluded = set()
    for listing in bad_files:
        excluded.update(line.strip() for line in Path(listing).read_text().splitlines() if line.strip())
    ids = sorted(i for i in ids if i not in excluded)
    labels = {}
    if layout == "vggsound":
        if vggsound_meta is None:
            raise ValueError("the VGGSound layout needs vggsound_meta (the VGGSound CSV) for the classes")
        with Path(vggsound_meta).open(newline="") as handle:
            for row in csv.reader(handle, quotechar='"'):
                labels[row[0]] = row[2]
        if sparse_classes is not None:
            with Path(sparse_classes).open(newline="") as handle:
                keep = {row[0] for row in csv.reader(handle, delimiter="\t") if len(row) > 1 and row[1] == "y"}
            ids = [i for i in ids if labels.get(i[:11]) in keep]
    table = read_fixed_offsets(fixed_offsets) if fixed_offsets is not None else {}
    event_table = {}
    if events is not None:
        with Path(events).open(newline="") as handle:
            event_table = {
                row["path"]: [float(t) for t in row["event_times"].split()] for row in csv.DictReader(handle)
            }
    rows = {"id": [], "path": [], "offset_sec": [], "vstart_sec": [], "label": [], "event_times": []}
    missing = []
    for clip_id in ids:
        path = videos_dir / f"{clip_id}.mp4"
        if not path.is_file():
            missing.append(str(path))
            continue
        if table and clip_id not in table:
            raise ValueError(f"{fixed_offsets}: no fixed offset for clip {clip_id}")
        offset, start = table.get(clip_id, (math.nan, math.nan))
        rows["id"].append(clip_id)
        rows["path"].append(str(path))
        rows["offset_sec"].append(offset)
        rows["vstart_sec"].append(start)
        rows["label"].append(labels.get(clip_id[:11], "") if layout == "vggsound" else "")
        rows["event_times"].append(event_table.get(clip_id, []))
    if missing:
        raise FileNotFoundError(f"{len(missing)} clips of {split_file} are missing, e.g. {missing[:3]}")
    if not rows["id"]:
        raise ValueError(f"{split_file} lists no usable clip")
    features = datasets.Features(
        {
            "id": datasets.Value("string"),
            "path": datasets.Value("string"),
            "offset_sec": datasets.Value("float32"),
            "vstart_sec": datasets.Value("float32"),
            "label": datasets.Value("string"),
            "event_times": datasets.List(datasets.Value("float32")),
        }
    )
    return datasets.Dataset.from_dict(rows, features=features)


def make_lrs3_split_files(
    ids: Sequence[str], splits_dir: str | Path, seed: int = 1337, hold_out: float = 0.1
) -> dict[str, int]:
    """The reference's LRS3 split: by YouTube video (the id's middle part), shuffled with `seed`, 8:1:1."""
    videos = sorted({clip_id.split("/")[-2] for clip_id in ids})
    import random

    random.Random(seed).shuffle(videos)
    size = int(len(videos) * hold_out)
    groups = {"test": set(videos[:size]), "valid": set(videos[size : 2 * size]), "train": set(videos[2 * size :])}
    counts = {}
    for split, members in groups.items():
        chosen = [i for i in sorted(ids) if i.split("/")[-2] in members]
        Path(splits_dir, f"lrs3_{split}.txt").write_text("".join(f"{i}\n" for i in chosen))
        counts[split] = len(chosen)
    return counts


# ------------------------------------------------------------------ decoded-clip cache (docs/data_throughput.md)
def clip_decoder(processor: SparseSyncProcessor, decoder: str = "pyav"):
    """path -> DecodedClip with the decoder `select_decoder` picks."""
    library, device = select_decoder(decoder)
    if library == "pyav":
        return processor.load_clip
    return lambda path: load_clip_torchcodec(path, processor, device)


def select_decoder(decoder: str = "pyav") -> tuple[str, str]:
    """(library, device) that decodes clips: "pyav" -> PyAV on the CPU (`SparseSyncProcessor.load_clip`, the
    reference's decoding); "torchcodec-cuda" -> torchcodec on the GPU (`load_clip_torchcodec`); "auto" -> the GPU
    one where CUDA and torchcodec are present, else PyAV. The GPU path is untested on a GPU (none was available) and
    resizes with PyTorch's bicubic instead of FFmpeg's, so its frames may differ by a few levels from PyAV's
    (docs/data_throughput.md)."""
    if decoder not in ("pyav", "torchcodec-cuda", "auto"):
        raise ValueError(f"decoder must be 'pyav', 'torchcodec-cuda' or 'auto', got {decoder!r}")
    if decoder == "pyav":
        return "pyav", "cpu"
    try:
        import torchcodec  # noqa: F401
    except ImportError:
        available = False
    else:
        available = torch.cuda.is_available()
    if decoder == "torchcodec-cuda" and not available:
        raise ValueError("decoder='torchcodec-cuda' needs CUDA and torchcodec; use 'auto' to fall back to PyAV")
    return ("torchcodec", "cuda") if available else ("pyav", "cpu")


def load_clip_torchcodec(path: str | Path, processor: SparseSyncProcessor, device: str = "cuda") -> DecodedClip:
    """`SparseSyncProcessor.load_clip` with torchcodec, frames decoded (and resized) on `device`: the same grid
    (`video_fps` slots from the later of the two streams' starts, each slot the last frame whose time rounds to it),
    the same mono 16 kHz audio (channels averaged, torchaudio's resampling), frames returned on the CPU."""
    import torchaudio
    from torchcodec.decoders import AudioDecoder, VideoDecoder

    from ..processors.video_io import _resized_size

    path = Path(path)
    if not path.is_file():
        raise MediaDecodingError(f"{path}: no such file")
    fps, rate = processor.video_fps, processor.feature_extractor.sampling_rate
    max_sec = processor.clip_max_length_sec + 1.0
    try:
        video, audio = VideoDecoder(str(path), device=device), AudioDecoder(str(path))
        video_start = float(video.metadata.begin_stream_seconds or 0.0)
        samples = audio.get_samples_played_in_range(start_seconds=max(video_start, 0.0))
    except (RuntimeError, ValueError) as error:
        raise MediaDecodingError(f"{path}: torchcodec could not decode it ({error})") from error
    start = max(video_start, float(samples.pts_seconds))
    video_end = float(video.metadata.end_stream_seconds)
    count = min(int(np.floor((video_end - start) * fps + 1e-6)), int(np.floor(max_sec * fps + 1e-6)))
    if count <= 0:
        raise MediaDecodingError(f"{path}: the video and audio streams do not overlap in time")
    # slot k shows the last frame whose time rounds to <= k on the output grid: played at (k + 1/2) / fps
    times = [min(start + (k + 0.5) / fps - 1e-6, video_end - 1e-6) for k in range(count)]
    frames = video.get_frames_played_at(seconds=times).data  # (T, 3, H, W) uint8 on `device`
    height, width = frames.shape[-2:]
    if processor.resize_shorter_side:
        new_h, new_w, even_h, even_w = _resized_size(height, width, processor.resize_shorter_side)
        resized = torch.nn.functional.interpolate(
            frames.float(), size=(new_h, new_w), mode="bicubic", antialias=True, align_corners=False
        )
        frames = resized.round_().clamp_(0, 255).to(torch.uint8)[..., :even_h, :even_w]
    skip = int(round((start - float(samples.pts_seconds)) * samples.sample_rate))
    wave = samples.data[:, skip:].mean(0)
    if samples.sample_rate != rate:
        wave = torchaudio.functional.resample(wave, samples.sample_rate, rate)
    return DecodedClip(
        frames=frames.cpu().contiguous(),
        waveform=wave[: int(max_sec * rate)].to(torch.float32).contiguous(),
        fps=float(fps),
        sampling_rate=int(rate),
        path=str(path),
        source_fps=float(video.metadata.average_fps or 0.0),
        source_sampling_rate=int(samples.sample_rate),
        source_channels=int(samples.data.shape[0]),
        source_size=(int(height), int(width)),
    )


class DecodedClipCache:
    """Decoded and resized clips kept on disk, so that epochs after the first do not decode again.

    `root/<decoding>/<clip>.frames.npy` (uint8 `(T, 3, H, W)`, the frames `SparseSyncProcessor.load_clip` returns),
    `<clip>.waveform.npy` (float32 mono) and `<clip>.json` (rates, the source's size and modification time).
    `<decoding>` names the decoding parameters (fps, sampling rate, shorter side, duration cap), so processors that
    decode differently never share entries. Each file is written under a temporary name and renamed into place,
    the json last: an entry exists once its json does, so a crashed or concurrent writer (DataLoader workers) never
    leaves a partial clip that is read. Reads are memory-mapped (copy-on-write: the file is never changed), so a
    crop touches only its own frames. An entry whose source changed since (size or modification time) is decoded
    again. The clips are what decoding gives, so batches are the same with or without the cache
    (`tests/test_data_sparsesync_cache.py`)."""

    def __init__(self, root: str | Path, processor: SparseSyncProcessor, decoder: str = "pyav"):
        self.processor = processor
        self.decode = clip_decoder(processor, decoder)
        rate = processor.feature_extractor.sampling_rate
        side = processor.resize_shorter_side or 0
        library = select_decoder(decoder)[0]  # the decoders' frames differ once resized: separate entries
        cap = processor.clip_max_length_sec + 1.0
        self.root = Path(root) / f"{library}_fps{processor.video_fps:g}_sr{rate}_side{side}_max{cap:g}"

    def _entry(self, path: str | Path) -> Path:
        resolved = Path(path).resolve()
        digest = zlib.crc32(str(resolved).encode()) & 0xFFFFFFFF
        return self.root / f"{resolved.stem}-{digest:08x}"

    @staticmethod
    def _stamp(path: str | Path) -> dict:
        stat = Path(path).stat()
        return {"source": str(Path(path).resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}

    def cached(self, path: str | Path) -> DecodedClip | None:
        """The cached clip of `path`, or None (not cached, or its source changed)."""
        import json

        entry = self._entry(path)
        try:
            meta = json.loads(entry.with_suffix(".json").read_text())
        except (FileNotFoundError, ValueError):
            return None
        if meta.get("stamp") != self._stamp(path):
            return None
        frames = np.load(f"{entry}.frames.npy", mmap_mode="c")
        waveform = np.load(f"{entry}.waveform.npy", mmap_mode="c")
        return DecodedClip(
            torch.from_numpy(frames),
            torch.from_numpy(waveform),
            meta["fps"],
            meta["sampling_rate"],
            path=str(path),
            source_fps=meta["source_fps"],
            source_sampling_rate=meta["source_sampling_rate"],
            source_channels=meta["source_channels"],
            source_size=tuple(meta["source_size"]),
        )

    def write(self, path: str | Path, clip: DecodedClip) -> None:
        import json
        import os
        import uuid

        entry = self._entry(path)
        entry.parent.mkdir(parents=True, exist_ok=True)
        token = f".tmp-{os.getpid()}-{uuid.uuid4().hex}"
        meta = {
            "stamp": self._stamp(path),
            "fps": clip.fps,
            "sampling_rate": clip.sampling_rate,
            "source_fps": clip.source_fps,
            "source_sampling_rate": clip.source_sampling_rate,
            "source_channels": clip.source_channels,
            "source_size": list(clip.source_size),
        }
        for suffix, array in (
            (".frames.npy", clip.frames.numpy()),
            (".waveform.npy", clip.waveform.numpy()),
            (".json", None),
        ):
            temporary = Path(f"{entry}{suffix}{token}")
            try:
                with temporary.open("wb") as handle:
                    if array is None:
                        handle.write(json.dumps(meta).encode())
                    else:
                        np.save(handle, np.ascontiguousarray(array))
                os.replace(temporary, f"{entry}{suffix}")
            finally:
                temporary.unlink(missing_ok=True)

    def load(self, path: str | Path) -> DecodedClip:
        """The cached clip, or decode it (`SparseSyncProcessor.load_clip`) and cache it."""
        clip = self.cached(path)
        if clip is None:
            clip = self.decode(path)
            self.write(path, clip)
        return clip


# ----------------------------------------------------------------------------- batching
class SparseSyncCollator:
    """Rows -> model inputs: decode each clip, crop it (the row's fixed offset if it has one, else the sampler with
    the row's `sample_seed`), and run the processor. An `augmentation` ([`SparseSyncAugmentation`]) makes this a
    training collator: the sampler's crops (with the audio jitter) go through the augmentation's frame, waveform and
    spectrogram transforms instead of the processor's evaluation chain. `cache_decoded=True` keeps every decoded clip
    in memory (small sets, one loader process); `decoded_cache_dir` keeps them on disk (`DecodedClipCache`: any set
    size, shared by DataLoader workers and later runs); `decoder` picks PyAV on the CPU or torchcodec on the GPU
    (`select_decoder`; GPU decoding belongs in the main process, `num_workers=0`)."""

    def __init__(
        self,
        processor: SparseSyncProcessor,
        augmentation: SparseSyncAugmentation | None = None,
        seed: int = 0,
        event_aware: bool = False,
        cache_decoded: bool = False,
        decoded_cache_dir: str | Path | None = None,
        decoder: str = "pyav",
    ):
        self.processor = processor
        self.augmentation = augmentation
        self.training = augmentation is not None
        self.seed = seed
        if augmentation is not None:
            processor.check_audio_jitter(augmentation.audio_jitter_sec)
        self.event_aware = event_aware  # warm-up crops around known events (leaky, see `event_aware_crop`)
        self.cache = (
            {} if cache_decoded else None
        )  # path -> DecodedClip, for sets small enough to keep decoded in memory
        self.disk_cache = DecodedClipCache(decoded_cache_dir, processor, decoder) if decoded_cache_dir else None
        self.decoder = decoder

    def _decode(self, path: str) -> DecodedClip:
        if self.disk_cache is not None:
            return self.disk_cache.load(path)
        return clip_decoder(self.processor, self.decoder)(path)

    def _load(self, path: str) -> DecodedClip:
        if self.cache is None:
            return self._decode(path)
        if path not in self.cache:
            self.cache[path] = self._decode(path)
        return self.cache[path]

    def __call__(self, rows: list[dict]) -> dict:
        clips, offsets, starts, seeds = [], [], [], []
        for row in rows:
            clip = self._load(row["path"])
            clips.append(clip)
            offsets.append(row.get("offset_sec", math.nan))
            starts.append(row.get("vstart_sec", math.nan))
            # training rows carry `sample_seed` (fit); evaluation rows draw from their id, the same at every pass
            seeds.append(
                int(row["sample_seed"]) if "sample_seed" in row else zlib.crc32(f"{self.seed}:{row['id']}".encode())
            )
        if self.event_aware:
            processor, rate = self.processor, self.processor.feature_extractor.sampling_rate
            for index, (row, clip) in enumerate(zip(rows, clips)):
                if not len(row.get("event_times", [])):
                    raise ValueError(f"{row['path']}: event-aware crops need the clip's event_times")
                frames, samples = equalize_lengths(
                    len(clip.frames), len(clip.waveform), processor.video_fps, rate, processor.clip_max_length_sec
                )
                offsets[index], starts[index] = event_aware_crop(
                    frames,
                    samples,
                    processor.offset_grid(),
                    processor.clip_length_sec,
                    processor.video_fps,
                    rate,
                    row["event_times"],
                    np.random.default_rng(seeds[index]),
                )
        fixed = [not (math.isnan(float(o)) or math.isnan(float(s))) for o, s in zip(offsets, starts)]
        if any(fixed) and not all(fixed):
            raise ValueError("a batch mixes clips with and without fixed offsets")
        crops = {
            "offsets": [float(o) for o in offsets] if all(fixed) else None,
            "video_starts": [float(s) for s in starts] if all(fixed) else None,
            "names": [row["path"] for row in rows],
        }
        if self.training:
            out = self.augmentation.batch(self.processor, clips, seeds, **crops)
        else:
            out = self.processor(videos=clips, random_offsets=not all(fixed), seeds=seeds, **crops)
        return {key: out[key] for key in ("pixel_values", "input_features", "labels")}


__all__ = [
    "ClipTooShortError",
    "CropPlan",
    "DecodedClipCache",
    "PreparationReport",
    "SparseSyncAugmentation",
    "SparseSyncCollator",
    "equalize_lengths",
    "event_aware_crop",
    "fixed_crop",
    "clip_decoder",
    "fixed_offsets_name",
    "flash_and_click_source",
    "load_clip_torchcodec",
    "make_fixed_offsets",
    "make_lrs3_split_files",
    "nearest_class",
    "prepare_clips",
    "read_fixed_offsets",
    "reencode_clip",
    "sample_crop",
    "select_decoder",
    "sparsesync_clip_dataset",
    "write_clip",
    "write_fixed_offsets",
    "write_flash_and_click_dataset",
]
