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


__all__ = ["SpecVQGANClip", "list_clips", "load_example", "load_feature_pickle"]
