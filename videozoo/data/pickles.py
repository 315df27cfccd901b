"""The reference datasets ship as Python pickles of lists of dicts of arrays (and torch tensors). They are read with
an allow-list: arrays, tensors and plain containers load; any other class in the file is refused, so no code from a
data file ever runs."""

import io
import pickle
from pathlib import Path

import torch

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch.storage", "_load_from_bytes"),
    ("collections", "OrderedDict"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    """Loads lists of dicts of arrays and tensors; any other class in the file is refused (no code runs)."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED_GLOBALS:
            if (module, name) == ("torch.storage", "_load_from_bytes"):
                return lambda data: torch.load(io.BytesIO(data), weights_only=True)
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data pickle")


def load_data_pickle(path: str | Path):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no data pickle at {path}")
    with path.open("rb") as handle:
        try:
            return _RestrictedUnpickler(handle).load()
        except (
            pickle.UnpicklingError,
            EOFError,
            AttributeError,
            ValueError,
            TypeError,
            IndexError,
            KeyError,
        ) as error:
            raise ValueError(f"{path} is not a readable data pickle: {error}") from error


__all__ = ["load_data_pickle"]
