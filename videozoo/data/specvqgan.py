"""Data for SpecVQGAN in the authors' layouts (v-iashin/SpecVQGAN `specvqgan/data/vas.py`, `.../vggsound.py`).

VAS (`layout="vas"`, `data/vas/`):

    <root>/videos/<class>/<video>.mp4
    <root>/features/<class>/melspec_10s_22050hz/<video>_mel.npy                 (80, 860) float32 in [0, 1]
    <root>/features/<class>/feature_resnet50_dim2048_21.5fps/<video>.pkl        (215, 2048) float32 pickles
    <root>/../vas_{train,valid}.txt                                             "<class>/<video>" per line

VGGSound (`layout="vggsound"`, `data/vggsound/`; no video is needed, the class comes from the metadata table):

    <root>/melspec_10s_22050hz/<clip>_mel.npy                                   <clip> = "<youtube id>_<start>_<end>"
    <root>/feature_rgb_bninception_dim1024_21.5fps/<clip>.pkl                   (T, 1024) RGB features
    <root>/feature_flow_bninception_dim1024_21.5fps/<clip>.pkl                  (T, 1024) optical-flow features
    <root>/../vggsound_{train,valid,test}.txt                                   "<clip>" per line
    <root>/../vggsound.csv                                                      youtube id, start, label, split

Either layout takes either feature kind: `feature_folder` names the features (ResNet-50 2048-d or BN-Inception RGB),
`flow_folder` the BN-Inception flow features that are concatenated after them along the depth, as the reference's
`VGGSoundFeats` does ((T, 1024) + (T, 1024) -> (T, 2048)).

The feature files are pickles of numpy arrays: they are read with the project's restricted unpickler
(`videozoo.data.pickles`), which loads arrays and refuses every other class, so no code from a data file runs.
"""

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ..processors.processing_specvqgan import SpecVQGANProcessor
from .pickles import load_data_pickle

SPECTROGRAM_FOLDER = "melspec_10s_22050hz"
RESNET50_FOLDER = "feature_resnet50_dim2048_21.5fps"
BNINCEPTION_RGB_FOLDER = "feature_rgb_bninception_dim1024_21.5fps"
BNINCEPTION_FLOW_FOLDER = "feature_flow_bninception_dim1024_21.5fps"


def load_feature_pickle(path: str | Path) -> np.ndarray:
    """An authors' feature file -> float32 `(frames, depth)` array (restricted unpickling)."""
    value = load_data_pickle(path)
    if not isinstance(value, np.ndarray) or value.ndim != 2:
        raise ValueError(f"{path}: expected a (frames, depth) array, got {type(value).__name__}")
    return value.astype(np.float32)


@dataclass
class SpecVQGANClip:
    clip_id: str  # VAS "<class>/<video>", VGGSound "<youtube id>_<start>_<end>"
    label: str | None  # None for VGGSound without a metadata table
    video: Path | None  # None for VGGSound (the reference reads only precomputed files there)
    spectrogram: Path
    features: Path
    flow_features: Path | None = None


def load_clip_features(clip: SpecVQGANClip) -> np.ndarray:
    """The clip's `(frames, depth)` features; with flow features, RGB and flow side by side `(frames, 2 * depth)`
    (reference `VGGSoundFeats.__getitem__`)."""
    features = load_feature_pickle(clip.features)
    if clip.flow_features is None:
        return features
    flow = load_feature_pickle(clip.flow_features)
    if len(flow) != len(features):
        raise ValueError(f"{clip.flow_features}: {len(flow)} frames, but {clip.features} has {len(features)}")
    return np.concatenate([features, flow], axis=1)


def read_vggsound_labels(meta_file: str | Path) -> dict[str, str]:
    """The VGGSound metadata table (`vggsound.csv`: youtube id, start second, label, split) -> {youtube id: label}."""
    path = Path(meta_file)
    if not path.is_file():
        raise FileNotFoundError(f"meta_file: no VGGSound metadata table at {path}")
    with path.open(newline="") as handle:
        rows = [row for row in csv.reader(handle, quotechar='"') if row]
    if any(len(row) < 3 for row in rows):
        raise ValueError(f"meta_file: {path} needs at least 3 columns (youtube id, start, label) on every row")
    return {row[0]: row[2] for row in rows}


def list_clips(
    root: str | Path,
    split_file: str | Path | None = None,
    feature_folder: str | None = None,
    flow_folder: str | None = None,
    layout: Literal["vas", "vggsound"] = "vas",
    meta_file: str | Path | None = None,
):
    """The clips of `root` (one of the authors' layouts, see the module docstring) whose files are all there: the
    spectrogram, the features (and flow features when `flow_folder` is given) and, for VAS, the video. Clips come in
    `split_file`'s order when it is given (listed clips that are absent are skipped), otherwise sorted by id.
    `feature_folder` defaults to ResNet-50 for VAS and BN-Inception RGB for VGGSound (whose flow folder is then
    BN-Inception flow, as the reference's VGGSound configs); `meta_file` (VGGSound) gives the class labels."""
    root = Path(root)
    if layout not in ("vas", "vggsound"):
        raise ValueError(f"layout must be 'vas' or 'vggsound', got {layout!r}")
    if not root.is_dir():
        raise FileNotFoundError(f"no SpecVQGAN data folder at {root}")
    if layout == "vggsound" and feature_folder is None:
        feature_folder, flow_folder = BNINCEPTION_RGB_FOLDER, flow_folder or BNINCEPTION_FLOW_FOLDER
    feature_folder = feature_folder or RESNET50_FOLDER
    labels = read_vggsound_labels(meta_file) if meta_file is not None else None
    if split_file is not None:
        ids = [line.strip() for line in Path(split_file).read_text().splitlines() if line.strip()]
    elif layout == "vas":
        ids = sorted(f"{p.parent.name}/{p.stem}" for p in root.glob("videos/*/*.mp4"))
    else:
        ids = sorted(p.name[: -len("_mel.npy")] for p in root.glob(f"{SPECTROGRAM_FOLDER}/*_mel.npy"))
    clips = []
    for clip_id in ids:
        if layout == "vas":
            label, name = clip_id.split("/")
            folder, video = root / "features" / label, root / "videos" / label / f"{name}.mp4"
        else:  # the reference's clip ids start with the 11-character YouTube id, the metadata table's key
            name, folder, video = clip_id, root, None
            label = None if labels is None else labels.get(clip_id[:11])
        clip = SpecVQGANClip(
            clip_id,
            label,
            video,
            folder / SPECTROGRAM_FOLDER / f"{name}_mel.npy",
            folder / feature_folder / f"{name}.pkl",
            None if flow_folder is None else folder / flow_folder / f"{name}.pkl",
        )
        paths = [clip.video, clip.spectrogram, clip.features, clip.flow_features]
        if all(path.is_file() for path in paths if path is not None):
            clips.append(clip)
    return clips


def load_example(clip: SpecVQGANClip, processor: SpecVQGANProcessor, labels: list[str] | None = None) -> dict:
    """One training example from the authors' precomputed files: `input_features` `(80, crop)` in [-1, 1] (their
    spectrogram centre-cropped, 2x - 1), `visual_features` `(N, depth)`, `class_ids` when `labels` are given."""
    if labels is not None and clip.label not in labels:
        raise ValueError(f"labels: clip {clip.clip_id} has label {clip.label!r}, not among the {len(labels)} given")
    spectrogram = torch.from_numpy(np.load(clip.spectrogram).astype(np.float32))
    example = {
        "input_features": processor.feature_extractor.model_input(spectrogram),
        "visual_features": processor.prepare_visual_features(load_clip_features(clip), str(clip.features)),
    }
    if labels is not None:
        example["class_ids"] = torch.tensor(labels.index(clip.label))
    return example


# ----------------------------------------------------------------------------- synthetic task
SYNTHETIC_PITCHES_HZ = (330.0, 1320.0)  # two octaves apart: different mel rows
SYNTHETIC_BEATS_HZ = (2.0, 8.0)  # slow and fast rhythm


def synthetic_tone(class_id: int, seconds: float, sampling_rate: int = 22050, phase: float = 0.0) -> torch.Tensor:
    """The synthetic task's sound: class `c` decides the pitch (`SYNTHETIC_PITCHES_HZ[c % 2]`) and the rhythm
    (`SYNTHETIC_BEATS_HZ[c // 2]`: the tone is on for the first half of every beat)."""
    if not 0 <= class_id < len(SYNTHETIC_PITCHES_HZ) * len(SYNTHETIC_BEATS_HZ):
        raise ValueError(f"class_id must be in [0, 4), got {class_id}")
    time = torch.arange(round(seconds * sampling_rate), dtype=torch.float64) / sampling_rate
    pitch, beat = SYNTHETIC_PITCHES_HZ[class_id % 2], SYNTHETIC_BEATS_HZ[class_id // 2]
    gate = ((time * beat) % 1.0 < 0.5).double()
    return (0.5 * gate * torch.sin(2 * torch.pi * pitch * time + phase)).float()


def synthetic_visual_features(
    class_id: int, num_frames: int, feature_size: int, generator: torch.Generator, noise: float = 0.1
) -> torch.Tensor:
    """The "video" of the synthetic task: `num_frames` vectors whose first four channels one-hot the class, plus
    Gaussian noise on every channel."""
    features = torch.randn(num_frames, feature_size, generator=generator) * noise
    features[:, class_id] += 1.0
    return features


def make_synthetic_dataset(
    processor: SpecVQGANProcessor, num_examples: int, seconds: float, seed: int = 0
) -> list[dict]:
    """Rows {"input_features", "visual_features", "class_ids"} of the synthetic task: the visual condition decides
    the pitch and the rhythm of a tone (classes cycle 0, 1, 2, 3, ...; random tone phase and feature noise)."""
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for index in range(num_examples):
        class_id = index % 4
        phase = float(torch.rand((), generator=generator)) * 2 * torch.pi
        wave = synthetic_tone(class_id, seconds, processor.feature_extractor.sampling_rate, phase)
        audio = processor.feature_extractor(wave, sampling_rate=processor.feature_extractor.sampling_rate)
        features = synthetic_visual_features(class_id, processor.feature_length, processor.feature_size, generator)
        rows.append(
            {
                "input_features": audio["input_features"][0],
                "visual_features": processor.prepare_visual_features(features),
                "class_ids": torch.tensor(class_id),
            }
        )
    return rows


def collate(rows: list[dict]) -> dict:
    """Stack the tensor fields of rows (extra fields such as `sample_seed` are dropped)."""
    keys = ("input_features", "visual_features", "class_ids")
    return {key: torch.stack([row[key] for row in rows]) for key in keys if key in rows[0]}


class SyntheticToneClassifier:
    """The synthetic task's own classifier, standing in for Melception in FID / MKL (the paper's protocol, Iashin and
    Rahtu 2021, section 4.2): a nearest-centroid classifier fitted on training spectrograms of the four classes.

    A [0, 1] spectrogram `(bands, frames)` is summarised by its band profile (mean over time: the pitch) and its
    frame envelope (mean over bands: the rhythm); `outputs` gives these `bands + frames` features (the FID space) and
    logits = -|features - centroid_c|^2 / (2 var), var the mean within-class variance of the training features (the
    MKL distributions). `pitch_of` says which of the two pitches a spectrogram carries: the nearer of the two pitch
    centroids of the band profile."""

    def __init__(self, spectrograms01: torch.Tensor, class_ids: torch.Tensor):
        features = self.features(spectrograms01).double()
        class_ids = torch.as_tensor(class_ids)
        if set(class_ids.tolist()) != {0, 1, 2, 3}:
            raise ValueError("the classifier needs training spectrograms of all four classes")
        self.bands = spectrograms01.shape[-2]
        self.centroids = torch.stack([features[class_ids == c].mean(0) for c in range(4)])
        residual = features - self.centroids[class_ids]
        self.variance = float(residual.pow(2).sum(1).mean().clamp_min(1e-6))
        profiles = features[:, : self.bands]
        self.pitch_centroids = torch.stack([profiles[class_ids % 2 == p].mean(0) for p in range(2)])

    @staticmethod
    def features(spectrograms01: torch.Tensor) -> torch.Tensor:
        if spectrograms01.dim() != 3:
            raise ValueError(f"spectrograms must be (N, bands, frames), got {tuple(spectrograms01.shape)}")
        return torch.cat([spectrograms01.mean(2), spectrograms01.mean(1)], dim=1)

    def outputs(self, spectrograms01: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """(features `(N, bands + frames)`, logits `(N, 4)`) as float32 arrays, like `melception_outputs`."""
        features = self.features(spectrograms01).double()
        logits = -torch.cdist(features, self.centroids).pow(2) / (2 * self.variance)
        return features.float().numpy(), logits.float().numpy()

    def pitch_of(self, spectrograms01: torch.Tensor) -> torch.Tensor:
        """0 for the low pitch, 1 for the high one (`class_id % 2` of the class that asks for it)."""
        profiles = self.features(spectrograms01).double()[:, : self.bands]
        return torch.cdist(profiles, self.pitch_centroids).argmin(1)


__all__ = [
    "SpecVQGANClip",
    "SyntheticToneClassifier",
    "collate",
    "list_clips",
    "load_clip_features",
    "read_vggsound_labels",
    "load_example",
    "load_feature_pickle",
    "make_synthetic_dataset",
    "synthetic_tone",
    "synthetic_visual_features",
]
