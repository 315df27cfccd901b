"""The family entry points: `scripts/run_<family>.py {train,evaluate} --model_type <type> ...`.

One script per task family (in the spirit of transformers' `examples/<task>/run_<task>.py`), not one per model:
each registered architecture (`videozoo/auto.py`) names its family and a `Recipe`, the model-specific part of
training and evaluation (its argument dataclasses, its data, its model and processor, its `Task`). Adding an
architecture to a family is its model files, a recipe beside its task (`videozoo/tasks/<model>.py`) and a registry
row; no new script. See docs/training.md.

    python scripts/run_retrieval.py train --model_type avlnet --dataset_name synthetic --output_dir runs/avlnet
    python scripts/run_retrieval.py evaluate --model_name_or_path runs/avlnet --dataset_name synthetic

`--model_type` may be left out where `--model_name_or_path` names a checkpoint: its `config.json` says the type.
"""

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from transformers import HfArgumentParser

from .auto import ARCHITECTURES, ARCHITECTURES_BY_TYPE, FAMILIES, Architecture

COMMANDS = ("train", "evaluate")


@dataclass(frozen=True)
class Recipe:
    """What a family entry point needs to train and evaluate one architecture.

    Args:
        train_arguments: the architecture's argument dataclasses for `train`; the entry point adds
            `videozoo.training.TrainerArguments` after them and calls `train(*parsed)` with the parsed instances in
            that order (so `train` receives the TrainerArguments last).
        train: runs training (validating every argument before anything is loaded or written) and returns metrics.
        evaluate_arguments / evaluate: the same for evaluation (no arguments are added; `evaluate(*parsed)`).
            `None` where the architecture is evaluated elsewhere (say where in `evaluate_note`).
        evaluate_note: shown when `evaluate` is asked of a recipe without one.
    """

    train_arguments: tuple[type, ...]
    train: Callable[..., dict]
    evaluate_arguments: tuple[type, ...] = ()
    evaluate: Callable[..., dict] | None = None
    evaluate_note: str = ""


def family_architectures(family: str) -> list[Architecture]:
    """The registered architectures of `family` that have a recipe."""
    return [arch for arch in ARCHITECTURES if arch.family == family and arch.recipe]


def load_recipe(arch: Architecture) -> Recipe:
    """Import the recipe a registry row names (`"module:attribute"`)."""
    module_name, _, attribute = (arch.recipe or "").partition(":")
    if not module_name or not attribute:
        raise ValueError(f"{arch.model_type}: no training recipe is registered (registry field `recipe`)")
    recipe = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(recipe, Recipe):
        raise TypeError(f"{arch.recipe} is a {type(recipe).__name__}, not a videozoo.recipes.Recipe")
    return recipe


def _checkpoint_model_type(path: str | None) -> str | None:
    """`model_type` from a local checkpoint's config.json; None when `path` is not a local folder with one."""
    if not path:
        return None
    config = Path(path) / "config.json"
    if not config.is_file():
        return None
    try:
        return json.loads(config.read_text()).get("model_type")
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"--model_name_or_path {path}: config.json cannot be read ({error})") from error


def _first_value(argv: list[str], option: str) -> str | None:
    """The value of `option` in `argv` (`--opt value` or `--opt=value`), without parsing the rest."""
    for index, item in enumerate(argv):
        if item == option and index + 1 < len(argv):
            return argv[index + 1]
        if item.startswith(option + "="):
            return item.split("=", 1)[1]
    return None


def resolve_architecture(family: str, model_type: str | None, model_name_or_path: str | None) -> Architecture:
    """The family's architecture named by `--model_type`, or by the checkpoint's config; a clear error otherwise."""
    members = sorted(arch.model_type for arch in family_architectures(family))
    from_checkpoint = _checkpoint_model_type(model_name_or_path)
    if model_type is None:
        model_type = from_checkpoint
    if model_type is None:
        raise ValueError(f"--model_type is required (one of {members}) unless --model_name_or_path is a checkpoint")
    if from_checkpoint is not None and from_checkpoint != model_type:
        raise ValueError(
            f"--model_type {model_type} does not match --model_name_or_path {model_name_or_path} "
            f"(its config.json says {from_checkpoint!r})"
        )
    if model_type not in members:
        where = ARCHITECTURES_BY_TYPE.get(model_type)
        hint = f" (it belongs to the {where.family} family)" if where is not None else ""
        raise ValueError(f"--model_type {model_type!r} is not in the {family} family {members}{hint}")
    return ARCHITECTURES_BY_TYPE[model_type]


def run_family(family: str, argv: list[str] | None = None) -> dict:
    """Parse `{train,evaluate} [--model_type T] <recipe arguments>` and run the recipe; returns its metrics."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; one of {FAMILIES}")
    argv = list(sys.argv[1:] if argv is None else argv)
    members = sorted(arch.model_type for arch in family_architectures(family))
    front = argparse.ArgumentParser(
        prog=f"run_{family}.py",
        description=f"Train or evaluate a {family.replace('_', ' ')} model ({', '.join(members)}). "
        "Add --model_type T --help for the arguments of one model.",
        add_help=False,
        allow_abbrev=False,  # else `--mode` (dense captioning's evaluation) would be read as --model_type
    )
    front.add_argument("command", choices=COMMANDS)
    front.add_argument("--model_type", help=f"one of {members}")
    if not argv or argv[0] in ("-h", "--help"):
        front.print_help()
        raise SystemExit(0 if argv else 2)
    known, rest = front.parse_known_args(argv)
    wants_help = "-h" in rest or "--help" in rest
    model_name = _first_value(rest, "--model_name_or_path")
    if wants_help and known.model_type is None and _checkpoint_model_type(model_name) is None:
        front.print_help()
        raise SystemExit(0)
    arch = resolve_architecture(family, known.model_type, model_name)
    recipe = load_recipe(arch)
    if known.command == "train":
        from .training import TrainerArguments

        classes, run = (*recipe.train_arguments, TrainerArguments), recipe.train
    else:
        if recipe.evaluate is None:
            raise ValueError(f"{arch.model_type} has no evaluate command here: {recipe.evaluate_note}")
        classes, run = recipe.evaluate_arguments, recipe.evaluate
    parser = HfArgumentParser(classes, prog=f"run_{family}.py {known.command} --model_type {arch.model_type}")
    return run(*parser.parse_args_into_dataclasses(rest))


def save_evaluation(metrics: dict, output_dir: str | Path | None, model_name_or_path: str | Path) -> Path:
    """Write an evaluation's `metrics.json` into `output_dir` (by default `<model_name_or_path>/eval`, the
    evaluation commands' convention), created if needed; returns the folder, for the command's other files.
    The file is written beside its final name and renamed over it, so a failure leaves the earlier one whole, and
    nothing else in the folder is touched (it may be the model's own folder). Call it on the main process only."""
    folder = Path(output_dir or Path(model_name_or_path) / "eval")
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / ".metrics.json.partial"
    partial.write_text(json.dumps(metrics, indent=2, default=str))
    os.replace(partial, folder / "metrics.json")
    return folder
