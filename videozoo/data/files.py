"""Reading annotation, feature, prediction and weight files with errors that name the file and what is wrong.

json, numpy, h5py, safetensors and pickle report a corrupt or truncated file in their own words ("Expecting value:
line 1 column 1", "cannot reshape array of size 10", "header too small", "file signature not found"), usually
without the path. Every loader of videozoo reads through these helpers, which raise `CorruptFileError` (a
`ValueError`) with the path, the format and the problem, and `FileNotFoundError` for a missing file.
Feature arrays are checked against the expected layout (`check_feature_array`): never reshaped or transposed to fit.
"""

import json
from pathlib import Path

import numpy as np


class CorruptFileError(ValueError):
    """A file exists but cannot be read as the format it should have (corrupt, truncated, wrong format)."""


def _existing(path, what: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    return path


def read_json(path, what: str = "JSON file"):
    """The parsed content of a JSON file; a syntax error (or a truncated file) names the file, line and column."""
    path = _existing(path, what)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise CorruptFileError(f"{path}: {what} is not UTF-8 text ({error.reason} at byte {error.start})") from error
    if not text.strip():
        raise CorruptFileError(f"{path}: {what} is empty")
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise CorruptFileError(
            f"{path}: {what} is not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}; "
            "truncated or corrupt?)"
        ) from error


def read_npy(path, what: str = "feature file") -> np.ndarray:
    """A `.npy` array (pickled object arrays are refused: they could run code)."""
    path = _existing(path, what)
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as error:
        problem = "it holds pickled objects, which are never loaded" if "pickle" in str(error) else str(error)
        raise CorruptFileError(
            f"{path}: {what} is not a readable .npy array ({problem}; truncated or corrupt?)"
        ) from error
    except (EOFError, OSError) as error:
        raise CorruptFileError(f"{path}: {what} is not a readable .npy array ({error or 'empty file'})") from error
    if isinstance(array, np.lib.npyio.NpzFile):
        array.close()
        raise CorruptFileError(f"{path}: {what} is an .npz archive, a single .npy array is expected")
    return array


def read_npz(path, key: str | None = None, what: str = "feature file") -> np.ndarray:
    """One array of an `.npz` archive: `key`, or, when the archive has no such key, its only array."""
    path = _existing(path, what)
    try:
        with np.load(path, allow_pickle=False) as archive:
            if not isinstance(archive, np.lib.npyio.NpzFile):
                raise CorruptFileError(f"{path}: {what} is a single .npy array, an .npz archive is expected")
            keys = list(archive.keys())
            if key not in keys:
                if len(keys) != 1:
                    wanted = f"no array {key!r}" if key is not None else "several arrays"
                    raise CorruptFileError(f"{path}: {what} has {wanted} (it holds {keys})")
                key = keys[0]
            return archive[key]
    except CorruptFileError:
        raise
    except (ValueError, EOFError, OSError, KeyError) as error:
        raise CorruptFileError(
            f"{path}: {what} is not a readable .npz archive ({error}; truncated or corrupt?)"
        ) from error


def open_hdf5(path, what: str = "HDF5 feature file"):
    """An open read-only `h5py.File`; a file that is not HDF5 (or is truncated) names the file."""
    import h5py

    path = _existing(path, what)
    try:
        return h5py.File(path, "r")
    except OSError as error:
        raise CorruptFileError(
            f"{path}: {what} is not a readable HDF5 file ({error}; truncated or corrupt?)"
        ) from error


def read_hdf5_dataset(handle, key: str, path=None) -> np.ndarray:
    """The array at `key` of an open HDF5 file; missing keys and unreadable data name the file and the key."""
    where = f"{path or handle.filename}:{key}"
    try:
        node = handle[key]
    except KeyError as error:
        raise CorruptFileError(f"{where}: no such dataset in the HDF5 file") from error
    try:
        return node[()]
    except (OSError, ValueError, TypeError) as error:
        raise CorruptFileError(f"{where}: the dataset cannot be read ({error}; truncated or corrupt?)") from error


def read_safetensors(path, what: str = "weights file") -> dict:
    """`{name: tensor}` of a safetensors file; a truncated or foreign file names the file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = _existing(path, what)
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as error:
        raise CorruptFileError(f"{path}: {what} is not a readable safetensors file ({error})") from error


def check_feature_array(array, where: str, width: int | None = None, dims: int = 2) -> np.ndarray:
    """A feature array as stored: float32 of rank `dims` whose last axis is `width`, all finite. Arrays in another
    layout are an error, never reshaped or transposed to fit (a transposed (width, time) array would otherwise be
    read as `width` steps of garbage)."""
    array = np.asarray(array)
    if array.dtype == object or not (
        np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)
    ):
        raise ValueError(f"{where}: expected a numeric feature array, got dtype {array.dtype}")
    shape = "(" + ", ".join(["time"] * (dims - 1) + [str(width) if width else "features"]) + ")"
    if array.ndim != dims or (width is not None and array.shape[-1] != width):
        hint = " (stored transposed?)" if width is not None and array.ndim == dims and array.shape[0] == width else ""
        raise ValueError(f"{where}: expected features of shape {shape}, got {array.shape}{hint}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        bad = int((~np.isfinite(array)).sum())
        raise ValueError(f"{where}: {bad} non-finite value(s) (NaN or ±inf) in the features")
    return array


__all__ = [
    "CorruptFileError",
    "check_feature_array",
    "open_hdf5",
    "read_hdf5_dataset",
    "read_json",
    "read_npy",
    "read_npz",
    "read_safetensors",
]
