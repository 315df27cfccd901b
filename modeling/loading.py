"""Loading checkpoints with errors that name the broken file.

A truncated or foreign `model.safetensors` makes `from_pretrained` fail inside the safetensors reader with
"Error while deserializing header: incomplete metadata", which names no file. `CheckedLoadingMixin`, placed before
`PreTrainedModel` in every videozoo model base class, re-raises it as `CorruptCheckpointError` (a `ValueError`)
naming the weights file and the problem.
"""

from pathlib import Path


class CorruptCheckpointError(ValueError):
    """A checkpoint's weights file is corrupt, truncated or not a safetensors file."""


def _broken_weight_files(folder: Path) -> list[str]:
    from safetensors import safe_open

    broken = []
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt") as handle:
                handle.keys()
        except Exception as error:  # the reader raises SafetensorError, OSError, ... depending on the damage
            broken.append(f"{path} ({error})")
    return broken


class CheckedLoadingMixin:
    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except Exception as error:
            if type(error).__name__ != "SafetensorError":
                raise
            folder = Path(str(pretrained_model_name_or_path))
            broken = _broken_weight_files(folder) if folder.is_dir() else []
            where = "; ".join(broken) if broken else f"a weights file of {pretrained_model_name_or_path} ({error})"
            raise CorruptCheckpointError(
                f"cannot load {cls.__name__}: corrupt or truncated safetensors weights: {where}"
            ) from error


__all__ = ["CheckedLoadingMixin", "CorruptCheckpointError"]
