"""Every command shown in README.md and docs/*.md still works, so the documentation cannot drift from the code.

Each shell command in a ```bash block is checked:
- `python scripts/X.py ...` and `accelerate launch [launcher flags] scripts/X.py ...`: the script is run up to the
  point where it builds its argument parser, which is captured before it parses anything; every `--flag` shown must
  be one the parser knows, and a command shown in full (no `...` or `<placeholder>`) must parse. Commands that read
  only the parity fixtures or released files in ../shared (`--fixture`, `--predictions_file`) are quick: they run.
- `make TARGET`: the target exists in the Makefile; `bash scripts/X.sh`: the script exists.
"""

import argparse
import re
import runpy
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO_ROOT, SHARED

DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
ACCELERATE_FLAGS_WITH_VALUE = {"--num_processes", "--num_machines", "--mixed_precision", "--dynamo_backend"}


def _commands(path: Path) -> list[str]:
    """The shell commands of a document's ```bash blocks, continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", path.read_text(), flags=re.S):
        for command in block.replace("\\\n", " ").splitlines():
            command = re.sub(r"<[^>]*>", "<placeholder>", command)  # placeholders may hold quotes or spaces
            tokens = shlex.split(command, comments=True)
            if tokens:
                commands.append(" ".join(shlex.quote(t) for t in tokens))
    return commands


CASES = [(path.relative_to(REPO_ROOT).as_posix(), command) for path in DOCUMENTS for command in _commands(path)]


def test_the_documents_show_commands():
    assert len(CASES) > 20, "the README and docs/ lost their commands (or this test its way of finding them)"


class _Captured(Exception):
    def __init__(self, parser):
        self.parser = parser


def _capture_parser(script: Path, monkeypatch) -> argparse.ArgumentParser:
    """Runs `script` as __main__ until it first parses arguments, and returns that parser."""

    def capture(self, args=None, namespace=None):
        raise _Captured(self)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", capture)
    monkeypatch.setattr(sys, "argv", [str(script)])
    try:
        runpy.run_path(str(script), run_name="__main__")
    except _Captured as captured:
        return captured.parser
    raise AssertionError(f"{script.name} finished without parsing any argument")


def _script_and_arguments(tokens: list[str]) -> tuple[str, list[str]]:
    if tokens[:2] == ["accelerate", "launch"]:
        rest = tokens[2:]
        while rest and rest[0].startswith("--"):
            flag = rest.pop(0)
            if flag in ACCELERATE_FLAGS_WITH_VALUE:
                rest.pop(0)
        return rest[0], rest[1:]
    assert tokens[0] == "python", tokens
    return tokens[1], tokens[2:]


def _case_id(case: tuple[str, str]) -> str:
    words = [w for w in shlex.split(case[1]) if w.endswith((".py", ".sh")) or w in ("make", "demo", "test")]
    return f"{case[0]}:{'-'.join(Path(w).stem for w in words[:2])}"


def _family_parsers(family: str, arguments: list[str], document: str):
    """`run_<family>.py {train,evaluate} [--model_type T] ...`: the argument parsers of T's recipe for the command,
    or of every recipe of the family with that command when T is read from a checkpoint at run time; and the
    arguments after the command and --model_type."""
    from transformers import HfArgumentParser

    from videozoo.auto import ARCHITECTURES_BY_TYPE
    from videozoo.recipes import COMMANDS, family_architectures, load_recipe
    from videozoo.training import TrainerArguments

    command, rest = arguments[0], arguments[1:]
    assert command in COMMANDS, f"{document}: run_{family}.py needs a command ({COMMANDS}), got {command!r}"
    model_type = None
    if "--model_type" in rest:
        index = rest.index("--model_type")
        model_type, rest = rest[index + 1], rest[:index] + rest[index + 2 :]
    members = family_architectures(family) if model_type is None else [ARCHITECTURES_BY_TYPE[model_type]]
    parsers = []
    for arch in members:
        recipe = load_recipe(arch)
        if command == "train":
            parsers.append(HfArgumentParser((*recipe.train_arguments, TrainerArguments)))
        elif recipe.evaluate is not None:
            parsers.append(HfArgumentParser(recipe.evaluate_arguments))
    assert parsers, f"{document}: no recipe of the {family} family has the command {command!r}"
    return parsers, rest


def _parses(parser: argparse.ArgumentParser, arguments: list[str]) -> bool:
    try:
        parser.parse_args(arguments)
    except SystemExit:
        return False
    return True


@pytest.mark.parametrize(("document", "command"), CASES, ids=[_case_id(case) for case in CASES])
def test_documented_command(document, command, monkeypatch):
    tokens = shlex.split(command)
    while tokens and re.fullmatch(r"[A-Z_]+=.*", tokens[0]):  # environment assignments
        tokens.pop(0)
    if tokens[0] == "make":
        targets = re.findall(r"^([a-z-]+):", (REPO_ROOT / "Makefile").read_text(), flags=re.M)
        assert tokens[1] in targets, f"{document}: `make {tokens[1]}` is not a Makefile target"
        return
    if tokens[0] == "bash":
        assert (REPO_ROOT / tokens[1]).is_file(), f"{document}: {tokens[1]} does not exist"
        return
    script, arguments = _script_and_arguments(tokens)
    path = REPO_ROOT / script
    assert path.is_file(), f"{document}: {script} does not exist"

    command_line = list(arguments)
    family = re.fullmatch(r"run_(\w+)\.py", path.name)
    if family:  # a family entry point: the parsers of the recipes the command can reach
        parsers, arguments = _family_parsers(family[1], arguments, document)
    else:
        parsers = [_capture_parser(path, monkeypatch)]
        monkeypatch.undo()
    known = set().union(*[parser._option_string_actions for parser in parsers])
    for token in arguments:
        flag = token.split("=", 1)[0]
        if flag.startswith("--"):
            assert flag in known, f"{document}: {script} has no option {flag}"
    complete = "..." not in arguments and not any("<" in a for a in arguments)
    if complete and not any(_parses(parser, arguments) for parser in parsers):
        raise AssertionError(f"{document}: `{command}` does not parse")

    reads_shared_only = any(flag in arguments for flag in ("--fixture", "--predictions_file"))
    if complete and reads_shared_only:
        if not SHARED.is_dir():
            pytest.skip("../shared is absent")
        result = subprocess.run(
            [sys.executable, str(path), *command_line], cwd=REPO_ROOT, capture_output=True, text=True, timeout=600
        )
        assert result.returncode == 0, (
            f"{document}: `{command}` failed:\n{result.stdout[-2000:]}{result.stderr[-3000:]}"
        )
