"""Argument checks shared by the scripts: every problem is found before anything is loaded, computed or written.

A script parses its arguments, collects the problems of every combination it cannot run (`file_problem`,
`folder_problem`, its own rules, `TrainerArguments.problems` for training scripts) and hands them to
`raise_if_any`, which raises one `ValueError` naming each argument and what is wrong with it. Only then does the
script load a model or data, so a command that cannot succeed leaves its output folder as it was.
"""

from collections.abc import Iterable
from pathlib import Path


def raise_if_any(problems: Iterable[str | None]) -> None:
    """Raise a `ValueError` listing every problem (`None` entries are no problem)."""
    found = [p for p in problems if p]
    if found:
        raise ValueError("invalid arguments:\n  " + "\n  ".join(found))


def file_problem(flag: str, value: str | Path | None, required: bool = False) -> str | None:
    """The problem with `--flag value` as an input file, or None."""
    if value is None or value == "":
        return f"{flag} is required" if required else None
    return None if Path(value).is_file() else f"{flag}: no file at {value}"


def folder_problem(flag: str, value: str | Path | None, required: bool = False) -> str | None:
    """The problem with `--flag value` as an input folder, or None."""
    if value is None or value == "":
        return f"{flag} is required" if required else None
    return None if Path(value).is_dir() else f"{flag}: no folder at {value}"


def output_folder_problem(flag: str, value: str | Path | None) -> str | None:
    """The problem with `--flag value` as a folder to write to (it may exist, but not as a file), or None."""
    if value is None or str(value) == "":
        return f"{flag} is required"
    path = Path(value)
    if path.exists() and not path.is_dir():
        return f"{flag}: {value} is a file, not a folder"
    parent = next((p for p in path.absolute().parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        return f"{flag}: {parent} is a file, not a folder"
    return None


def positive_problem(flag: str, value: float | None, allow_zero: bool = False) -> str | None:
    """The problem with a number that must be > 0 (>= 0 with `allow_zero`), or None."""
    if value is None or value > 0 or (allow_zero and value == 0):
        return None
    return f"{flag} must be {'>= 0' if allow_zero else '> 0'} (got {value})"


def dataset_problem(flag: str, value: str, named: tuple[str, ...]) -> str | None:
    """The problem with a dataset argument that is one of `named` or a `save_to_disk` folder, or None."""
    if value in named or Path(value).is_dir():
        return None
    return f"{flag}: {value!r} is neither one of {list(named)} nor a folder written by save_to_disk"
