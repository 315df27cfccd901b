"""Data for SpecVQGAN in the authors' layout (v-iashin/SpecVQGAN `data/vas/`, `specvqgan/data/vas.py`):

    <root>/videos/<class>/<video>.mp4
    <root>/features/<class>/melspec_10s_22050hz/<video>_mel.npy                 (80, 860) float32 in [0, 1]
    <root>/features/<class>/feature_resnet50_dim2048_21.5fps/<video>.pkl        (215, 2048) float32 pickles
    <root>/../vas_{train,valid}.txt                                             "<class>/<video>" per line

The feature files are pickles of numpy arrays: they are read with the project's restricted unpickler
(`videozoo.data.pickles`), which loads arrays and refuses every other class, so no code from a data file runs.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..processors.processing_specvqgan import SpecVQGANProcessor
from .pickles import load_data_pickle

SPECTROGRAM_FOLDER = "melspec_10s_22050hz"
RESNET50_FOLDER = "feature_resnet50_dim2048_21.5fps"


def load_feature_pickle(path: str | Path) -> np.ndarray:
    """An authors' feature file -> float32 `(frames, depth)` array (restricted unpickling)."""
    value = load_data_pickle(path)
    if not isinstance(value, np.ndarray) or value.ndim != 2:
        raise ValueError(f"{path}: expected a (frames, depth) array, got {type(value).__name__}")
    return value.astype(np.float32)


@dataclass
class SpecVQGANClip:
    clip_id: str  # "<class>/<video>"
    label: str
    video: Path
    spectrogram: Path
    features: Path


def list_clips(root: str | Path, split_file: str | Path | None = None, feature_folder: str = RESNET50_FOLDER):
    """The clips of `root` that have a video, the authors' spectrogram and features (in `split_file`'s order when
    given; listed clips that are absent are skipped)."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"no SpecVQGAN data folder at {root}")
    if split_file is not None:
        ids = [line.strip() for line in Path(split_file).read_text().splitlines() if line.strip()]
    else:
        ids = sorted(f"{p.parent.name}/{p.stem}" for p in root.glob("videos/*/*.mp4"))
    clips = []
    for clip_id in ids:
        label, video = clip_id.split("/")
        clip = SpecVQGANClip(
            clip_id,
            label,
            root / "videos" / label / f"{video}.mp4",
            root / "features" / label / SPECTROGRAM_FOLDER / f"{video}_mel.npy",
            root / "features" / label / feature_folder / f"{video}.pkl",
        )
        if clip.video.is_file() and clip.spectrogram.is_file() and clip.features.is_file():
            clips.append(clip)
    return clips


def load_example(clip: SpecVQGANClip, processor: SpecVQGANProcessor, labels: list[str] | None = None) -> dict:
    """One training example from the authors' precomputed files: `input_features` `(80, crop)` in [-1, 1] (their
    spectrogram centre-cropped, 2x - 1), `visual_features` `(N, depth)`, `class_ids` when `labels` are given."""
    spectrogram = torch.from_numpy(np.load(clip.spectrogram).astype(np.float32))
    example = {
        "input_features": processor.feature_extractor.model_input(spectrogram),
        "visual_features": processor.prepare_visual_features(load_feature_pickle(clip.features), str(clip.features)),
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
    "load_example",
    "load_feature_pickle",
    "make_synthetic_dataset",
    "synthetic_tone",
    "synthetic_visual_features",
]
