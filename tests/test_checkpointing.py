"""Crash safety of the training loop: checkpoints are complete or ignored, and a failed run keeps the earlier model.

The runs are tiny MMT trainings through `scripts/run_retrieval.py train --model_type mmt`, in this process (the
vocabulary trained from the captions is then the same in every run, and a resumed run takes the checkpoint's
processor anyway)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator
from safetensors.torch import load_file

from videozoo.modeling import MMTModel
from videozoo.outputs import FINAL_PREVIOUS, FINAL_STAGING, move_in
from videozoo.training import TrainerArguments, checkpoint_to_resume, complete_checkpoints

from .conftest import REPO_ROOT
from .test_scripts_arguments import earlier_run, snapshot
from .test_training_mmt import SMALL, train_mmt

RUN = SMALL + ["--lr_scheduler_type", "step", "--lr_step_size", "2", "--lr_gamma", "0.5"]


def final_files(folder) -> dict[str, bytes | None]:
    """What a run's final save owns in its output folder (checkpoints and logs are the run's own record)."""
    return {k: v for k, v in snapshot(folder).items() if not k.startswith(("checkpoints", "logs"))}


def assert_same_weights(a, b):
    first, second = load_file(a / "model.safetensors"), load_file(b / "model.safetensors")
    assert first.keys() == second.keys()
    for name in first:
        assert torch.equal(first[name], second[name]), f"{name} differs"


def test_crash_inside_save_state_resumes_from_the_newest_complete_checkpoint(tmp_path, monkeypatch):
    args = RUN + ["--max_steps", "8", "--checkpointing_steps", "3"]
    train_mmt(args + ["--output_dir", str(tmp_path / "straight")])

    crashed = earlier_run(tmp_path / "crashed")  # an earlier run's model must survive the crashed one
    shutil.rmtree(crashed / "checkpoints" / "step_2")  # (its checkpoints are not this test's subject)
    earlier = final_files(crashed)
    # what the loop once left behind when killed while writing in place: weights with a torn header, no state
    torn = crashed / "checkpoints" / "step_7"
    torn.mkdir(parents=True)
    (torn / "model.safetensors").write_bytes(b"\x40\x00\x00\x00\x00\x00\x00\x00{")
    save_state = Accelerator.save_state

    def killed_at_step_6(self, output_dir=None, **kwargs):
        result = save_state(self, output_dir, **kwargs)
        if "step_6" in str(output_dir):  # the process dies with the weights half written
            weights = next(p for p in sorted(Path(output_dir).glob("*.safetensors")))
            weights.write_bytes(weights.read_bytes()[:100])
            raise KeyboardInterrupt("killed while saving step 6")
        return result

    monkeypatch.setattr(Accelerator, "save_state", killed_at_step_6)
    with pytest.raises(KeyboardInterrupt):
        train_mmt(args + ["--output_dir", str(crashed)])
    monkeypatch.setattr(Accelerator, "save_state", save_state)

    assert final_files(crashed) == earlier  # no model of the failed run, the earlier one as it was
    assert sorted(p.name for p in (crashed / "checkpoints").iterdir()) == [".step_6.partial", "step_3", "step_7"]
    assert complete_checkpoints(crashed) == [crashed / "checkpoints" / "step_3"]
    latest = TrainerArguments(output_dir=str(crashed), resume_from_checkpoint="latest")
    assert checkpoint_to_resume(latest) == crashed / "checkpoints" / "step_3"

    train_mmt(args + ["--output_dir", str(crashed), "--resume_from_checkpoint", "latest"])
    assert_same_weights(tmp_path / "straight", crashed)
    assert json.loads((crashed / "eval_results.json").read_text()) == json.loads(
        (tmp_path / "straight" / "eval_results.json").read_text()
    )
    names = sorted(p.name for p in (crashed / "checkpoints").iterdir())
    assert names == ["step_3", "step_6", "step_7"]  # step 6 written anew, complete
    assert not (crashed / FINAL_STAGING).exists() and not (crashed / FINAL_PREVIOUS).exists()


KILLED_MID_SAVE = """
import os, signal, sys
from pathlib import Path
from accelerate import Accelerator
from videozoo.recipes import run_family

save_state = Accelerator.save_state


def save_then_die(self, output_dir=None, **kwargs):
    save_state(self, output_dir, **kwargs)
    if "step_4" in str(output_dir):  # SIGKILL with the weights half written: no handler, no cleanup runs
        weights = sorted(Path(output_dir).glob("*.safetensors"))[0]
        weights.write_bytes(weights.read_bytes()[:100])
        os.kill(os.getpid(), signal.SIGKILL)


Accelerator.save_state = save_then_die
run_family("retrieval", ["train", "--model_type", "mmt", *sys.argv[1:]])
"""


def test_sigkill_mid_save_leaves_the_earlier_checkpoints_and_model_usable(tmp_path):
    out = earlier_run(tmp_path / "run")
    shutil.rmtree(out / "checkpoints" / "step_2")
    earlier = final_files(out)
    args = RUN + ["--max_steps", "5", "--checkpointing_steps", "2", "--output_dir", str(out)]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_MID_SAVE, *args],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert final_files(out) == earlier
    assert complete_checkpoints(out) == [out / "checkpoints" / "step_2"]
    train_mmt(args + ["--resume_from_checkpoint", "latest"])
    logged = [json.loads(line) for line in (out / "logs" / "metrics.jsonl").read_text().splitlines()]
    # the killed run logged steps 1-4; the resumed one starts after step 2 and runs to 5
    assert [r["step"] for r in logged if "train/loss" in r][-3:] == [3, 4, 5]
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_2", "step_4"]
    assert type(MMTModel.from_pretrained(out)).__name__ == "MMTModel"


def test_save_total_limit_keeps_the_newest(tmp_path):
    out = tmp_path / "run"
    train_mmt(
        RUN
        + ["--output_dir", str(out), "--max_steps", "4", "--checkpointing_steps", "1"]
        + ["--save_total_limit", "2"]
    )
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_3", "step_4"]
    assert all((p / "trainer_state.json").is_file() for p in (out / "checkpoints").iterdir())


def test_a_failed_final_save_keeps_the_earlier_model(tmp_path, monkeypatch):
    out = earlier_run(tmp_path / "run")
    earlier = final_files(out)

    def disk_full(self, save_directory, **kwargs):
        (Path(save_directory) / "model.safetensors").write_bytes(b"\x00" * 10)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(MMTModel, "save_pretrained", disk_full)
    with pytest.raises(OSError, match="No space left"):
        train_mmt(RUN + ["--output_dir", str(out), "--max_steps", "1"])
    assert final_files(out) == earlier
    monkeypatch.undo()

    train_mmt(RUN + ["--output_dir", str(out), "--max_steps", "1"])  # a successful run replaces it
    assert type(MMTModel.from_pretrained(out)).__name__ == "MMTModel"
    assert (out / "tokenizer.json").read_bytes() != earlier["tokenizer.json"]
    assert (out / "checkpoints" / "step_2" / "trainer_state.json").is_file()  # not the final save's to remove
    assert not (out / FINAL_STAGING).exists() and not (out / FINAL_PREVIOUS).exists()


def test_move_in_replaces_the_earlier_model_and_its_stale_shards(tmp_path):
    out, staging = tmp_path / "out", tmp_path / "out" / FINAL_STAGING
    staging.mkdir(parents=True)
    for name in ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"):
        (out / name).write_text("earlier shard")
    (out / "model.safetensors.index.json").write_text("{}")
    (out / "eval_results.json").write_text("{}")  # the new model has no metrics: the earlier ones must go
    (out / "config.json").write_text("earlier")
    (out / "notes.txt").write_text("the user's")
    (out / "checkpoints").mkdir()
    (staging / "model.safetensors").write_text("new")
    (staging / "config.json").write_text("new")
    move_in(staging, out)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoints", "config.json", "model.safetensors", "notes.txt"]
    assert (out / "config.json").read_text() == "new" and (out / "notes.txt").read_text() == "the user's"
