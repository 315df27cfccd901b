"""Every script checks its arguments before it loads, computes or writes anything: an invalid combination fails at
once with a message naming the argument, and an output folder holding an earlier run stays byte-identical."""

import importlib
import json
import sys

import pytest
import torch
from safetensors.torch import save_file

from videozoo.auto import ARCHITECTURES_BY_TYPE
from videozoo.recipes import load_recipe, run_family
from videozoo.training import TrainerArguments


def earlier_run(folder):
    """An output folder as a finished training run leaves it (model, processor files, metrics, a checkpoint, logs)."""
    folder.mkdir(parents=True, exist_ok=True)
    save_file({"weight": torch.arange(6.0).reshape(2, 3)}, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_type": "mmt", "hidden_size": 4}))
    (folder / "tokenizer.json").write_text('{"earlier": true}')
    (folder / "training_args.json").write_text('{"seed": 0}')
    (folder / "eval_results.json").write_text('{"t2v_R1": 12.5}')
    (folder / "checkpoints" / "step_2").mkdir(parents=True)
    save_file({"weight": torch.zeros(2, 3)}, str(folder / "checkpoints" / "step_2" / "model.safetensors"))
    (folder / "checkpoints" / "step_2" / "trainer_state.json").write_text('{"completed_steps": 2}')
    (folder / "logs").mkdir()
    (folder / "logs" / "metrics.jsonl").write_text('{"step": 1, "train/loss": 1.0}\n')
    return folder


def snapshot(folder) -> dict[str, bytes | None]:
    """Every file (bytes) and folder (None) under `folder`."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def _forbid_work(monkeypatch, module):
    """Loading data or training after the checks would be a failure of this test, not only a slow one."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the script went past its argument checks")

    for name in ("fit", "load_splits", "load_dense_captioning_data", "build_datasets"):
        if hasattr(module, name):
            monkeypatch.setattr(module, name, forbidden)


TRAINER_MISTAKES = {
    "push without a repository": (["--push_to_hub"], "--push_to_hub needs --hub_model_id"),
    "negative epochs": (["--num_train_epochs", "-1"], "--num_train_epochs must be >= 0"),
    "keep no checkpoint": (["--save_total_limit", "0"], "--save_total_limit must be > 0"),
    "resume from nothing": (["--resume_from_checkpoint", "nowhere"], "--resume_from_checkpoint: no checkpoint folder"),
    "unknown tracker": (["--report_to", "jsonl,nonsense"], "--report_to: unknown tracker 'nonsense'"),
}


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(ValueError) as raised:
        run_family(
            "retrieval",
            ["train", "--model_type", "mmt", "--output_dir", str(tmp_path), "--push_to_hub", "--learning_rate", "-1"]
            + ["--dataset_name", "features"],
        )
    text = str(raised.value)
    assert "--push_to_hub" in text and "--learning_rate must be >= 0" in text and "--data_dir is required" in text


def test_output_dir_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("keep me")
    assert "--output_dir: " in " ".join(TrainerArguments(output_dir=str(tmp_path / "file")).problems())
    assert TrainerArguments(output_dir=str(tmp_path / "new" / "run")).problems() == []


def test_report_to(tmp_path):
    from accelerate.tracking import get_available_trackers

    def names(report_to):
        trackers = TrainerArguments(output_dir=str(tmp_path), report_to=report_to).trackers()
        return [t if isinstance(t, str) else t.name for t in trackers]

    installed = [str(getattr(t, "value", t)) for t in get_available_trackers()]
    assert names("none") == [] and names("jsonl") == ["jsonl"]
    assert names("all") == ["jsonl", *installed]  # 'all': JSONL and the installed trackers only
    if "tensorboard" not in installed:
        problems = TrainerArguments(output_dir=str(tmp_path), report_to="tensorboard").problems()
        assert problems == [f"--report_to: the 'tensorboard' tracker is not installed (installed: {['jsonl']})"]


EVALUATION_SCRIPTS = {
    "generate_specvqgan": ("specvqgan_sampler", ["--features", "a.pkl"], "--features: a.pkl not found"),
}


@pytest.mark.parametrize("script", sorted(EVALUATION_SCRIPTS))
def test_invalid_evaluation_arguments_fail_before_loading(tmp_path, monkeypatch, script):
    module = importlib.import_module(f"videozoo.scripts.{script}")
    _forbid_work(monkeypatch, module)
    model_type, args, message = EVALUATION_SCRIPTS[script]
    checkpoint = earlier_run(tmp_path / "model")
    (checkpoint / "config.json").write_text(json.dumps({"model_type": model_type}))
    (checkpoint / "eval").mkdir()
    (checkpoint / "eval" / "metrics.json").write_text('{"earlier": 1}')
    before = snapshot(checkpoint)
    with pytest.raises(ValueError, match="invalid arguments") as raised:
        module.main(["--model_name_or_path", str(checkpoint), *args])
    assert message in str(raised.value)
    # a checkpoint of another architecture is named as such, before its weights are read
    (checkpoint / "config.json").write_text(json.dumps({"model_type": "elsewhere"}))
    with pytest.raises(ValueError, match="holds a 'elsewhere' model"):
        module.main(["--model_name_or_path", str(checkpoint)])
    (checkpoint / "config.json").write_text(json.dumps({"model_type": model_type}))
    assert snapshot(checkpoint) == before


# The family entry points (`scripts/run_<family>.py`): (family, model_type) -> a mistake of the recipe's own and its
# message; the trainer's mistakes (TRAINER_MISTAKES) are checked for every recipe too.
FAMILY_TRAINING = {
    ("generation", "melgan"): (["--generator_width", "0"], "--generator_width must be > 0"),
    ("generation", "specvqgan"): (["--first_stage", "runs/codebook"], "--first_stage is for the sampler"),
    ("generation", "specvqgan_sampler"): (["--adversarial"], "--first_stage is required"),
    ("dense_captioning", "bmt"): (["--dataset_name", "activitynet"], "--annotations_dir is required"),
    ("dense_captioning", "mdvc"): (["--eval_tious", "1.5"], "--eval_tious: '1.5' needs values in (0, 1]"),
    ("speech_recognition", "avatar"): (
        ["--model_size", "paper"],
        "--vocab_file (a local BERT-uncased vocab.txt) is required",
    ),
    ("synchronisation", "sparsesync"): (
        ["--dataset_name", "lrs3", "--crop_policy", "event_aware"],
        "--crop_policy event_aware needs the synthetic task",
    ),
    ("retrieval", "mmt"): (["--dataset_name", "features"], "--data_dir is required"),
    ("retrieval", "mmt_modality_masking"): (["--mask_fraction", "2"], "--mask_fraction must be in [0, 1]"),
    ("retrieval", "avlnet"): (["--variant", "text_tri"], "--variant text_tri needs --word_vectors"),
    ("retrieval", "everything_at_once"): (["--dataset_name", "howto100m"], "--eval_pickle is required"),
}
FAMILY_EVALUATION = {
    ("generation", "specvqgan_sampler"): (["--dataset_name", "vas"], "--data_dir is required"),
    ("dense_captioning", "bmt"): (["--mode", "proposals"], "--mode proposals needs --proposal_model_name_or_path"),
    ("dense_captioning", "mdvc"): (["--tious", "0,5"], "--tious: '0,5' needs values in (0, 1]"),
    ("speech_recognition", "avatar"): (["--conditions", "clean,loud"], "unknown condition 'loud'"),
    ("synchronisation", "sparsesync"): (["--dataset_name", "vggsound", "--data_dir", "nowhere"], "--data_dir"),
    ("retrieval", "mmt"): (["--dataset_name", "features"], "--data_dir is required"),
    ("retrieval", "mmt_modality_masking"): (["--max_asr_tokens", "0"], "--max_asr_tokens must be > 0"),
    ("retrieval", "avlnet"): (["--dataset_name", "pickle"], "--train_pickle is required"),
    ("retrieval", "everything_at_once"): (["--dataset_name", "pickle"], "--eval_pickle is required"),
}


def _recipe_module(model_type: str, command: str):
    recipe = load_recipe(ARCHITECTURES_BY_TYPE[model_type])
    return sys.modules[(recipe.train if command == "train" else recipe.evaluate).__module__]


@pytest.mark.parametrize("family, model_type", sorted(FAMILY_TRAINING))
@pytest.mark.parametrize("mistake", [*sorted(TRAINER_MISTAKES), "recipe's own"])
def test_invalid_family_training_arguments_leave_the_earlier_run_untouched(
    tmp_path, monkeypatch, family, model_type, mistake
):
    _forbid_work(monkeypatch, _recipe_module(model_type, "train"))
    out = earlier_run(tmp_path / "run")
    before = snapshot(out)
    args, message = TRAINER_MISTAKES.get(mistake, FAMILY_TRAINING[family, model_type])
    argv = ["train", "--model_type", model_type, "--output_dir", str(out), "--disable_tqdm", *args]
    with pytest.raises(ValueError, match="invalid arguments") as raised:
        run_family(family, argv)
    assert message in str(raised.value)
    assert snapshot(out) == before


@pytest.mark.parametrize("family, model_type", sorted(FAMILY_EVALUATION))
def test_invalid_family_evaluation_arguments_fail_before_loading(tmp_path, monkeypatch, family, model_type):
    _forbid_work(monkeypatch, _recipe_module(model_type, "evaluate"))
    args, message = FAMILY_EVALUATION[family, model_type]
    checkpoint = earlier_run(tmp_path / "model")
    (checkpoint / "config.json").write_text(json.dumps({"model_type": model_type}))
    (checkpoint / "eval").mkdir()
    (checkpoint / "eval" / "metrics.json").write_text('{"earlier": 1}')
    before = snapshot(checkpoint)
    with pytest.raises(ValueError, match="invalid arguments") as raised:
        run_family(family, ["evaluate", "--model_name_or_path", str(checkpoint), *args])
    assert message in str(raised.value)
    # a checkpoint of another architecture is named as such, before its weights are read
    (checkpoint / "config.json").write_text(json.dumps({"model_type": "elsewhere"}))
    with pytest.raises(ValueError, match="'elsewhere'"):
        run_family(family, ["evaluate", "--model_name_or_path", str(checkpoint)])
    (checkpoint / "config.json").write_text(json.dumps({"model_type": model_type}))
    assert snapshot(checkpoint) == before


def test_every_recipe_of_these_families_is_checked():
    """Every recipe of these families has its argument checks tested above (train, and evaluate where it has one)."""
    from videozoo.recipes import family_architectures

    families = ("retrieval", "dense_captioning", "speech_recognition", "synchronisation", "generation")
    rows = {(family, arch.model_type) for family in families for arch in family_architectures(family)}
    assert rows == {key for key in FAMILY_TRAINING if key[0] in families}
    with_evaluation = {key for key in rows if load_recipe(ARCHITECTURES_BY_TYPE[key[1]]).evaluate is not None}
    assert with_evaluation == {key for key in FAMILY_EVALUATION if key[0] in families}


@pytest.mark.parametrize("model_type", ["melgan", "specvqgan"])
def test_evaluate_of_a_recipe_without_one_says_where_to_look(model_type):
    with pytest.raises(ValueError, match=f"{model_type} has no evaluate command here: ") as raised:
        run_family("generation", ["evaluate", "--model_type", model_type])
    assert "evaluation" in str(raised.value)


CONVERSION_SCRIPTS = [
    "avatar",
    "avlnet",
    "bmt",
    "everything_at_once",
    "mdvc",
    "melception",
    "melgan",
    "mmt",
    "sparsesync",
]
CONVERSION_SCRIPTS += ["specvqgan"]


@pytest.mark.parametrize("name", CONVERSION_SCRIPTS)
def test_invalid_conversion_arguments_leave_the_output_untouched(tmp_path, capsys, name):
    module = importlib.import_module(f"videozoo.scripts.convert_{name}_original_checkpoint")
    out = earlier_run(tmp_path / "converted")
    before = snapshot(out)
    with pytest.raises(SystemExit) as raised:
        module.main(["--checkpoint", str(tmp_path / "missing.pt"), "--output_dir", str(out)])
    assert raised.value.code == 2 and f"--checkpoint: {tmp_path / 'missing.pt'} not found" in capsys.readouterr().err
    assert snapshot(out) == before


@pytest.mark.parametrize(
    "script, args, message",
    [
        ("pretrain_sparsesync_extractors", ["--data_dir", "{tmp}/clips", "--max_steps", "0"], "--max_steps must be"),
        ("prepare_sparsesync_dataset", ["--source_dir", "{tmp}/run", "--target_dir", "{tmp}/run"], "must differ"),
        ("prepare_sparsesync_dataset", ["--source_dir", "{tmp}/none", "--target_dir", "{tmp}/run"], "--source_dir"),
        ("benchmark", ["--model_type", "melgan", "--steps", "0"], "--steps must be"),
        ("benchmark", ["--model_type", "s3d"], "--model_type 's3d' has no benchmark"),
    ],
)
def test_invalid_arguments_of_the_other_scripts(tmp_path, capsys, script, args, message):
    module = importlib.import_module(f"videozoo.scripts.{script}")
    out = earlier_run(tmp_path / "run")
    before = snapshot(out)
    args = [a.format(tmp=tmp_path) for a in args]
    if "--output_dir" not in args and script.startswith("pretrain"):
        args += ["--output_dir", str(out)]
    with pytest.raises(SystemExit) as raised:
        module.main(args)
    assert raised.value.code == 2 and message in capsys.readouterr().err
    assert snapshot(out) == before
