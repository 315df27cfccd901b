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
    return None if Path(value).is_file() else f"{flag}: {value} not found (no such file)"


def folder_problem(flag: str, value: str | Path | None, required: bool = False) -> str | None:
    """The problem with `--flag value` as an input folder, or None."""
    if value is None or value == "":
        return f"{flag} is required" if required else None
    return None if Path(value).is_dir() else f"{flag}: {value} not found (no such folder)"


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


def checkpoint_problem(
    flag: str, value: str | None, model_types: tuple[str, ...], required: bool = True
) -> str | None:
    """The problem with `--flag value` as a videozoo checkpoint of one of `model_types`, or None. A local folder
    is checked through its config.json (nothing else is read); a Hub id is left to `from_pretrained`."""
    if not value:
        return f"{flag} is required" if required else None
    path = Path(value)
    if not path.is_dir():
        if path.exists() or value.startswith((".", "/", "~")) or value.count("/") > 1:
            return f"{flag}: no checkpoint folder at {value}"
        return None  # a Hub repository id
    config = path / "config.json"
    if not config.is_file():
        return f"{flag}: {value} has no config.json (not a saved model)"
    import json

    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        return f"{flag}: {config} is not valid JSON ({error})"
    if model_type not in model_types:
        return f"{flag}: {value} holds a {model_type!r} model, not {' or '.join(repr(t) for t in model_types)}"
    return None


def exit_if_any(parser, problems: Iterable[str | None]) -> None:
    """For `argparse` scripts: report every problem through `parser.error` (usage, message, exit status 2)."""
    found = [p for p in problems if p]
    if found:
        parser.error("; ".join(found))
