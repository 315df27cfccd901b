"""The authors' feature files: BMT's per-video `.npy` layout (`NpyFeatures`) and MDVC's two HDF5 files
(`HDF5Features`), and copying a reader's arrays into a video table (`materialize_features`)."""

from pathlib import Path

import datasets
import numpy as np

from ..files import check_feature_array, open_hdf5, read_hdf5_dataset, read_npy
from .schema import video_table_features


def _check_array(array: np.ndarray, width: int, where: str) -> np.ndarray:
    return check_feature_array(array, where, width)


class NpyFeatures:
    """BMT's layout: `<video_dir>/<id>_rgb.npy`, `<id>_flow.npy` (I3D, (T_v, 1024) each) and `<audio_dir>/<id>.npy`
    (VGGish, (T_a, 128)). The name patterns can be changed (the shipped sample uses `<id>_vggish.npy`).
    `load` returns None when a file of the video is missing (the reference then feeds a zero vector to the
    captioner and leaves the video out of proposal training)."""

    def __init__(
        self,
        audio_dir,
        video_dir,
        audio_pattern: str = "{video_id}.npy",
        rgb_pattern: str = "{video_id}_rgb.npy",
        flow_pattern: str = "{video_id}_flow.npy",
        audio_feature_size: int = 128,
        video_feature_size: int = 1024,
    ):
        self.audio_dir, self.video_dir = Path(audio_dir), Path(video_dir)
        for name, folder in (("audio_dir", self.audio_dir), ("video_dir", self.video_dir)):
            if not folder.is_dir():
                raise FileNotFoundError(f"{name} {folder} is not a folder")
        self.patterns = {"audio": audio_pattern, "rgb": rgb_pattern, "flow": flow_pattern}
        self.sizes = {"audio": audio_feature_size, "rgb": video_feature_size, "flow": video_feature_size}

    def _path(self, video_id: str, stream: str) -> Path:
        return (self.audio_dir if stream == "audio" else self.video_dir) / self.patterns[stream].format(
            video_id=video_id
        )

    def exists(self, video_id: str) -> bool:
        return all(self._path(video_id, s).is_file() for s in self.patterns)

    def load(self, video_id: str) -> dict[str, np.ndarray] | None:
        if not self.exists(video_id):
            return None
        out = {}
        for stream in self.patterns:
            path = self._path(video_id, stream)
            out[stream] = _check_array(read_npy(path, f"{stream} feature file"), self.sizes[stream], str(path))
        if out["rgb"].shape != out["flow"].shape:
            raise ValueError(
                f"{video_id}: rgb {out['rgb'].shape} and flow {out['flow'].shape} must have the same shape"
            )
        return out


class HDF5Features:
    """MDVC's layout: one HDF5 file with `<id>/i3d_features/rgb` and `.../flow` (I3D on 24-frame stacks, 0.96 s),
    one with `<id>/vggish_features`. Files are opened lazily (once per process)."""

    def __init__(self, video_hdf5, audio_hdf5, audio_feature_size: int = 128, video_feature_size: int = 1024):
        self.paths = {"video": Path(video_hdf5), "audio": Path(audio_hdf5)}
        for path in self.paths.values():
            if not path.is_file():
                raise FileNotFoundError(f"HDF5 feature file not found: {path}")
        self.sizes = {"audio": audio_feature_size, "rgb": video_feature_size, "flow": video_feature_size}
        self._files = None

    def __getstate__(self):
        return {**self.__dict__, "_files": None}

    def _open(self):
        if self._files is None:
            self._files = {k: open_hdf5(p, f"{k} HDF5 feature file") for k, p in self.paths.items()}
        return self._files

    def exists(self, video_id: str) -> bool:
        files = self._open()
        return f"{video_id}/i3d_features/rgb" in files["video"] and f"{video_id}/vggish_features" in files["audio"]

    def load(self, video_id: str) -> dict[str, np.ndarray] | None:
        if not self.exists(video_id):
            return None
        files = self._open()
        out = {
            "rgb": read_hdf5_dataset(files["video"], f"{video_id}/i3d_features/rgb", self.paths["video"]),
            "flow": read_hdf5_dataset(files["video"], f"{video_id}/i3d_features/flow", self.paths["video"]),
            "audio": read_hdf5_dataset(files["audio"], f"{video_id}/vggish_features", self.paths["audio"]),
        }
        out = {
            k: _check_array(v, self.sizes[k], f"{self.paths['audio' if k == 'audio' else 'video']}:{video_id}/{k}")
            for k, v in out.items()
        }
        if out["rgb"].shape != out["flow"].shape:
            raise ValueError(
                f"{video_id}: rgb {out['rgb'].shape} and flow {out['flow'].shape} must have the same shape"
            )
        return out


def materialize_features(rows: list[dict], features) -> datasets.Dataset:
    """Video rows + a feature reader -> a video table with the arrays inline (videos without features dropped)."""
    schema = video_table_features(features.sizes["audio"], features.sizes["rgb"])

    def generate(rows):
        for row in rows:
            arrays = features.load(row["video_id"])
            if arrays is not None:
                yield {**row, **arrays}

    return datasets.Dataset.from_generator(generate, gen_kwargs={"rows": rows}, features=schema)
