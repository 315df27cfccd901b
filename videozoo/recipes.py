"""The family entry points: `scripts/run_<family>.py {train,evaluate} --model_type <type> ...`.

One script per task family (in the spirit of transformers' `examples/<task>/run_<task>.py`), not one per model:
each registered architecture (`videozoo/auto.py`) names its family and a `Recipe`, the model-specific part of
training and evaluation (its argument dataclasses, its data, its model and processor, its `Task`). Adding an
architecture to a family is its model files, a recipe beside its task (`videozoo/tasks/<model>.py`) and a registry
row; no new script. See docs/training.md.

    python scripts/run_retrieval.py train --model_type avlnet --dataset_name synthetic --output_dir runs/avlnet
    python scripts/run_retrieval.py evaluate --model_name_or_path runs/avlnet --dataset_name synthetic

`--model_type` may be left out where `--model_name_or_path` names a checkpoint: its `config.json` says the type.

What the recipes' `evaluate` share is here too: `EvaluationArguments` (`--output_dir`, `--batch_size`),
`checked_checkpoint` (every argument problem and the checkpoint's type checked before a weight is read),
`run_evaluation` (Accelerate + DataLoader + the task's `evaluate` + `metrics.json`) and `save_evaluation`.
"""

import argparse
import importlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from .arguments import checkpoint_problem, output_folder_problem, positive_problem, raise_if_any
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
        initializes_from: other model types whose checkpoints `train --model_name_or_path` starts from (MMT
            fine-tunes a modality-masking pre-training); a checkpoint of any other type is refused up front.
    """

    train_arguments: tuple[type, ...]
    train: Callable[..., dict]
    evaluate_arguments: tuple[type, ...] = ()
    evaluate: Callable[..., dict] | None = None
    evaluate_note: str = ""
    initializes_from: tuple[str, ...] = ()


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


def resolve_architecture(
    family: str, model_type: str | None, model_name_or_path: str | None, command: str = "evaluate"
) -> Architecture:
    """The family's architecture named by `--model_type`, or by the checkpoint's config; a clear error otherwise.

    For `train`, `--model_type T` may start from a checkpoint of another type that T's recipe lists in
    `initializes_from`."""
    members = sorted(arch.model_type for arch in family_architectures(family))
    from_checkpoint = _checkpoint_model_type(model_name_or_path)
    if model_type is None:
        model_type = from_checkpoint
    if model_type is None:
        raise ValueError(f"--model_type is required (one of {members}) unless --model_name_or_path is a checkpoint")
    if model_type not in members:
        where = ARCHITECTURES_BY_TYPE.get(model_type)
        hint = f" (it belongs to the {where.family} family)" if where is not None else ""
        raise ValueError(f"--model_type {model_type!r} is not in the {family} family {members}{hint}")
    arch = ARCHITECTURES_BY_TYPE[model_type]
    if from_checkpoint is not None and from_checkpoint != model_type:
        accepted = (model_type, *(load_recipe(arch).initializes_from if command == "train" else ()))
        if from_checkpoint not in accepted:
            raise ValueError(
                f"--model_name_or_path: {model_name_or_path} holds a {from_checkpoint!r} model, not "
                f"{' or '.join(repr(t) for t in accepted)} (--model_type {model_type})"
            )
    return arch


def _front_parser(family: str) -> argparse.ArgumentParser:
    """The usage of the entry point before a model type is known (only printed, never parsed with)."""
    members = sorted(arch.model_type for arch in family_architectures(family))
    front = argparse.ArgumentParser(
        prog=f"run_{family}.py",
        description=f"Train or evaluate a {family.replace('_', ' ')} model ({', '.join(members)}). "
        "Add --model_type T --help for the arguments of one model.",
        add_help=False,
    )
    front.add_argument("command", choices=COMMANDS)
    front.add_argument("--model_type", help=f"one of {members}")
    return front


def recipe_parser(family: str, argv: list[str]) -> tuple[HfArgumentParser, Callable[..., dict]]:
    """The parser of one `run_<family>.py` command line (its command, `--model_type` and the recipe's argument
    dataclasses) and the function that runs the parsed dataclasses. The command line is only scanned here (for
    the command, the model type and the checkpoint); the returned parser is the first to parse it."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; one of {FAMILIES}")
    front = _front_parser(family)
    wants_help = "-h" in argv or "--help" in argv
    if not argv or argv[0] in ("-h", "--help"):
        front.print_help()
        raise SystemExit(0 if argv else 2)
    if argv[0] not in COMMANDS:
        front.error(f"the first argument is the command, one of {list(COMMANDS)} (got {argv[0]!r})")
    command = argv[0]
    model_type = _first_value(argv, "--model_type")
    model_name = _first_value(argv, "--model_name_or_path")
    if wants_help and model_type is None and _checkpoint_model_type(model_name) is None:
        front.print_help()
        raise SystemExit(0)
    arch = resolve_architecture(family, model_type, model_name, command)
    recipe = load_recipe(arch)
    if command == "train":
        from .training import TrainerArguments

        classes, run = (*recipe.train_arguments, TrainerArguments), recipe.train
    else:
        if recipe.evaluate is None:
            raise ValueError(f"{arch.model_type} has no evaluate command here: {recipe.evaluate_note}")
        classes, run = recipe.evaluate_arguments, recipe.evaluate
    parser = HfArgumentParser(classes, prog=f"run_{family}.py {command} --model_type {arch.model_type}")
    parser.add_argument("command", choices=COMMANDS, help="train or evaluate")
    parser.add_argument("--model_type", default=arch.model_type, help=f"{arch.model_type} (of the {family} family)")
    return parser, run


def run_family(family: str, argv: list[str] | None = None) -> dict:
    """Parse `{train,evaluate} [--model_type T] <recipe arguments>` and run the recipe; returns its metrics."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser, run = recipe_parser(family, argv)
    *parsed, _command_and_model_type = parser.parse_args_into_dataclasses(argv)  # the namespace left over
    return run(*parsed)


# ----------------------------------------------------------------------------------------------- evaluation
@dataclass
class EvaluationArguments:
    """What every `evaluate` command takes besides its model's data arguments (recipes subclass it)."""

    output_dir: str = field(default="", metadata={"help": "Where metrics.json goes (default: <model>/eval)."})
    batch_size: int = 64

    def problems(self) -> list[str | None]:
        return [
            output_folder_problem("--output_dir", self.output_dir) if self.output_dir else None,
            positive_problem("--batch_size", self.batch_size),
        ]


def load_checkpoint(model_name_or_path: str, model_types: tuple[str, ...], with_processor: bool = True):
    """`(model, processor or None)` of a videozoo checkpoint through the Auto classes; a checkpoint of
    another type (a Hub id, which `checkpoint_problem` cannot read beforehand) is refused by name."""
    from transformers import AutoModel, AutoProcessor

    model = AutoModel.from_pretrained(model_name_or_path)
    if model.config.model_type not in model_types:
        raise ValueError(
            f"--model_name_or_path: {model_name_or_path} holds a {model.config.model_type!r} model, "
            f"not {' or '.join(repr(t) for t in model_types)}"
        )
    return model, AutoProcessor.from_pretrained(model_name_or_path) if with_processor else None


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


def checked_checkpoint(
    model_name_or_path: str | None, model_types: tuple[str, ...], problems, with_processor: bool = True
):
    """For `evaluate`: every problem of its arguments (`problems`) and of `--model_name_or_path` (read through its
    config.json only) raised at once, before any weight is read; then `load_checkpoint`."""
    raise_if_any([checkpoint_problem("--model_name_or_path", model_name_or_path, model_types), *problems])
    return load_checkpoint(model_name_or_path, model_types, with_processor)


def run_evaluation(
    model,
    task,
    dataset,
    collate_fn: Callable,
    args: EvaluationArguments,
    model_name_or_path: str,
    report: Callable[[dict, Path], None] | None = None,
) -> dict[str, float]:
    """Evaluate `model` with `task.evaluate` (the same code `videozoo.training.fit` evaluates with) on `dataset`
    under Accelerate (every process takes its share; the task gathers), then, on the main process, write
    `metrics.json` to `--output_dir` (default `<model>/eval`) and call `report(metrics, output_dir)` (prints,
    plots). Returns the metrics."""
    import torch
    from accelerate import Accelerator
    from torch.utils.data import DataLoader

    accelerator = Accelerator()
    loader = DataLoader(dataset, batch_size=args.batch_size, collate_fn=collate_fn)
    model, loader = accelerator.prepare(model.eval(), loader)
    with torch.no_grad():
        metrics = task.evaluate(model, loader, accelerator)
    if accelerator.is_main_process:
        output_dir = save_evaluation(metrics, args.output_dir, model_name_or_path)
        if report is not None:
            report(metrics, output_dir)
        print(f"wrote {output_dir / 'metrics.json'}")
    return metrics


def print_recalls(
    metrics: dict[str, float], directions: list[str], keys: tuple[str, ...] = ("R1", "R5", "R10", "MedR")
):
    """One line per retrieval direction (`t2v`, `a2v`, ...) with the named metrics."""
    for direction in directions:
        values = "  ".join(
            f"{key} {metrics[f'{direction}_{key}']:.1f}" for key in keys if f"{direction}_{key}" in metrics
        )
        print(f"{direction:6s} {values}")
