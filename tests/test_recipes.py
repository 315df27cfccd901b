"""The family entry points (`scripts/run_<family>.py`, `videozoo/recipes.py`): every trained architecture has a
recipe its family's script runs, `--help` lists the model's arguments, and a wrong command, family, model type or
checkpoint is refused by name before anything is loaded."""

import ast
import dataclasses
import json
import subprocess
import sys

import pytest

from videozoo.auto import ARCHITECTURES, ARCHITECTURES_BY_TYPE
from videozoo.recipes import Recipe, load_recipe, resolve_architecture, run_family

from .conftest import REPO_ROOT

# trained and evaluated elsewhere: the feature extractors (scripts/extract_features.py) and SpecVQGAN's Melception,
# the classifier behind its metrics (docs/specvqgan_vocoder_and_metrics.md)
TRAINED = [arch for arch in ARCHITECTURES if arch.family != "feature_extraction" and arch.model_type != "melception"]
WITH_RECIPE = [arch for arch in TRAINED if arch.recipe]


@pytest.mark.parametrize("arch", TRAINED, ids=lambda arch: arch.model_type)
def test_every_trained_architecture_has_a_loadable_recipe(arch):
    assert arch.recipe, f"{arch.model_type}: no `recipe` on its registry row"
    recipe = load_recipe(arch)
    assert isinstance(recipe, Recipe) and callable(recipe.train) and recipe.train_arguments
    assert recipe.evaluate is not None or recipe.evaluate_note, f"{arch.model_type}: say where it is evaluated"
    for model_type in recipe.initializes_from:
        assert model_type in ARCHITECTURES_BY_TYPE, f"{arch.model_type}: initializes_from names {model_type}"


@pytest.mark.parametrize("family", sorted({arch.family for arch in WITH_RECIPE}))
def test_each_family_has_its_thin_entry_point(family):
    """`scripts/run_<family>.py` exists and only hands its command line to `run_family("<family>")`."""
    script = REPO_ROOT / "scripts" / f"run_{family}.py"
    assert script.is_file(), f"{script} is missing"
    calls = [node for node in ast.walk(ast.parse(script.read_text())) if isinstance(node, ast.Call)]
    assert [(ast.unparse(call.func), [ast.literal_eval(a) for a in call.args]) for call in calls] == [
        ("run_family", [family])
    ]


@pytest.mark.parametrize("arch", WITH_RECIPE, ids=lambda arch: arch.model_type)
def test_help_lists_the_arguments_of_the_model(arch, capsys):
    recipe = load_recipe(arch)
    commands = {"train": recipe.train_arguments}
    if recipe.evaluate is not None:
        commands["evaluate"] = recipe.evaluate_arguments
    for command, classes in commands.items():
        with pytest.raises(SystemExit) as done:
            run_family(arch.family, [command, "--model_type", arch.model_type, "--help"])
        assert done.value.code == 0
        usage = capsys.readouterr().out
        expected = [f"--{f.name}" for cls in classes for f in dataclasses.fields(cls)]
        if command == "train":
            expected += ["--output_dir", "--learning_rate", "--max_steps", "--resume_from_checkpoint"]
        missing = [flag for flag in expected if flag not in usage]
        assert not missing, f"{arch.family} {command} --model_type {arch.model_type} --help lacks {missing}"


def test_the_retrieval_script_runs_as_a_program():
    run = [sys.executable, str(REPO_ROOT / "scripts" / "run_retrieval.py"), "train", "--model_type", "avlnet"]
    listed = subprocess.run([*run, "--help"], capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0 and "--word_vectors" in listed.stdout and "--output_dir" in listed.stdout, (
        listed.stderr[-2000:]
    )


def test_the_usage_before_a_model_type(capsys):
    with pytest.raises(SystemExit) as done:
        run_family("retrieval", ["--help"])
    usage = " ".join(capsys.readouterr().out.split())  # argparse wraps the lines
    assert done.value.code == 0 and "one of ['avlnet', 'everything_at_once', 'mmt', 'mmt_modality_masking']" in usage
    with pytest.raises(SystemExit) as done:
        run_family("retrieval", [])
    assert done.value.code == 2
    with pytest.raises(SystemExit) as done:
        run_family("retrieval", ["fit", "--model_type", "mmt"])
    assert done.value.code == 2 and "the first argument is the command" in capsys.readouterr().err


def test_model_type_errors_are_clear():
    with pytest.raises(ValueError, match=r"--model_type is required \(one of \['avlnet', 'everything_at_once'"):
        run_family("retrieval", ["train", "--output_dir", "nowhere"])
    with pytest.raises(ValueError, match="'bmt' is not in the retrieval family .* belongs to the dense_captioning"):
        run_family("retrieval", ["train", "--model_type", "bmt"])
    with pytest.raises(ValueError, match="'nonsense' is not in the retrieval family"):
        run_family("retrieval", ["evaluate", "--model_type", "nonsense"])
    with pytest.raises(ValueError, match="unknown family 'ranking'"):
        run_family("ranking", ["train", "--model_type", "mmt"])


def test_a_recipe_that_is_not_a_recipe_is_named():
    with pytest.raises(TypeError, match="videozoo.auto:FAMILIES is a tuple, not a videozoo.recipes.Recipe"):
        load_recipe(dataclasses.replace(ARCHITECTURES_BY_TYPE["mmt"], recipe="videozoo.auto:FAMILIES"))
    with pytest.raises(ValueError, match="no training recipe"):
        load_recipe(dataclasses.replace(ARCHITECTURES_BY_TYPE["mmt"], recipe=None))


def checkpoint(folder, model_type):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    return str(folder)


def test_the_checkpoint_names_the_model_type(tmp_path, capsys):
    avlnet = checkpoint(tmp_path / "avlnet", "avlnet")
    assert resolve_architecture("retrieval", None, avlnet).model_type == "avlnet"
    with pytest.raises(SystemExit) as done:  # no --model_type: the checkpoint's own arguments are listed
        run_family("retrieval", ["evaluate", "--model_name_or_path", avlnet, "--help"])
    assert done.value.code == 0 and "--num_missing_clips" in capsys.readouterr().out
    with pytest.raises(ValueError, match=r"avlnet holds a 'avlnet' model, not 'mmt' \(--model_type mmt\)"):
        run_family("retrieval", ["evaluate", "--model_type", "mmt", "--model_name_or_path", avlnet])


def test_mmt_fine_tunes_a_modality_masking_checkpoint_and_nothing_else(tmp_path):
    masking = checkpoint(tmp_path / "masking", "mmt_modality_masking")
    assert resolve_architecture("retrieval", "mmt", masking, "train").model_type == "mmt"
    assert resolve_architecture("retrieval", None, masking, "train").model_type == "mmt_modality_masking"
    with pytest.raises(ValueError, match="holds a 'mmt_modality_masking' model, not 'mmt'"):
        resolve_architecture("retrieval", "mmt", masking, "evaluate")  # evaluation needs an MMT checkpoint
    bert = checkpoint(tmp_path / "bert", "bert")
    with pytest.raises(ValueError, match="holds a 'bert' model, not 'mmt' or 'mmt_modality_masking'"):
        resolve_architecture("retrieval", "mmt", bert, "train")
