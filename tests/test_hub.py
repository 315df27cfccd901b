"""Push to a Hub-API-compatible server on 127.0.0.1 with the real huggingface_hub client, then load the checkpoint
in fresh processes: with videozoo, without it (remote code), and offline from the cache."""

import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch
from huggingface_hub import ModelCard

from videozoo.hub import HubExportError, model_card, push_checkpoint

from .conftest import REPO_ROOT
from .hub_server import FakeHub
from .test_remote_code import run_client, save_tiny_checkpoint

METRICS = {"t2v_R1": 12.5, "t2v_R5": 40.0, "t2v_MedR": 7.0, "v2t_R1": 10.0}


@pytest.fixture(scope="module")
def hub():
    with FakeHub() as server:
        yield server


def hub_env(hub: FakeHub, home) -> dict:
    env = {
        **os.environ,
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": "test-token",
        "HF_HOME": str(home),
        "HF_HUB_DISABLE_XET": "1",
    }
    env.pop("HF_HUB_OFFLINE", None)
    return env


def snapshot(folder) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def checkpoint(tmp_path):
    folder = tmp_path / "mmt-tiny"
    inputs = save_tiny_checkpoint("mmt", folder)
    (folder / "training_args.json").write_text(json.dumps({"dataset_name": "synthetic", "learning_rate": 5e-4}))
    (tmp_path / "metrics.json").write_text(json.dumps(METRICS))
    torch.save(inputs, tmp_path / "inputs.pt")
    return folder


def push(hub, home, *args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "push_to_hub.py"), *args],
        env=hub_env(hub, home),
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_push_then_load_installed_remote_and_offline(hub, checkpoint, tmp_path):
    before = snapshot(checkpoint)
    result = push(
        hub,
        tmp_path / "home-push",
        "--checkpoint",
        str(checkpoint),
        "--repo_id",
        "tester/mmt-tiny",
        "--eval_results",
        str(tmp_path / "metrics.json"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert snapshot(checkpoint) == before  # the local checkpoint is untouched
    files = hub.repos[("model", "tester/mmt-tiny")].files
    assert {"config.json", "model.safetensors", "README.md", "modeling_mmt.py", "processor_config.json"} <= set(files)

    inputs = tmp_path / "inputs.pt"
    env = hub_env(hub, tmp_path / "home-load")
    installed = run_client("installed", "tester/mmt-tiny", inputs, tmp_path / "installed.pt", env)
    remote = run_client("remote", "tester/mmt-tiny", inputs, tmp_path / "remote.pt", env)
    offline_env = {**env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens there
    offline = run_client("remote", "tester/mmt-tiny", inputs, tmp_path / "offline.pt", offline_env)
    assert installed["model_module"].startswith("videozoo.") and remote["model_module"].startswith(
        "transformers_modules."
    )
    for name, value in installed["outputs"].items():
        assert torch.equal(value, remote["outputs"][name]) and torch.equal(value, offline["outputs"][name]), name

    card_path = tmp_path / "README.md"
    card_path.write_bytes(files["README.md"])
    card = ModelCard.load(card_path)
    results = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert results == METRICS
    assert card.data.license == "apache-2.0" and "videozoo" in card.data.tags and card.data.datasets == ["synthetic"]
    assert "Multi-modal Transformer for Video Retrieval" in card.text and "@inproceedings" in card.text
    assert "trust_remote_code=True" in card.text and "renormalize_missing_modalities" in card.text  # decisions


@pytest.mark.parametrize(
    "setup, args, message",
    [
        (lambda f, t: (f / "model.safetensors").unlink(), [], "no weights"),
        (lambda f, t: (t / "bad.json").write_text("{not json"), ["--eval_results", "bad.json"], "not valid JSON"),
        (
            lambda f, t: (t / "bad.json").write_text('{"R1": "high"}'),
            ["--eval_results", "bad.json"],
            "must be numbers",
        ),
        (lambda f, t: None, ["--eval_results", "missing.json"], "not found"),
    ],
)
def test_bad_input_fails_before_any_upload(hub, checkpoint, tmp_path, setup, args, message):
    setup(checkpoint, tmp_path)
    args = [str(tmp_path / a) if a.endswith(".json") else a for a in args]
    requests = len(hub.requests)
    result = push(hub, tmp_path / "home", "--checkpoint", str(checkpoint), "--repo_id", "tester/bad", *args)
    assert result.returncode == 2 and message in result.stderr
    assert len(hub.requests) == requests and ("model", "tester/bad") not in hub.repos


@pytest.mark.parametrize("repo_id", ["no-namespace", "tester/bad name", "a/b/c"])
def test_invalid_repo_id(checkpoint, repo_id):
    with pytest.raises(HubExportError, match="repo id"):
        push_checkpoint(checkpoint, repo_id)


def test_failed_upload_leaves_the_checkpoint_untouched(hub, checkpoint, tmp_path):
    before = snapshot(checkpoint)
    dead = {**hub_env(hub, tmp_path / "home"), "HF_ENDPOINT": "http://127.0.0.1:9"}
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_ROOT / "scripts" / "push_to_hub.py"),
            "--checkpoint",
            str(checkpoint),
            "--repo_id",
            "tester/never",
        ],
        env=dead,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode != 0
    assert snapshot(checkpoint) == before


def test_model_card_without_results(checkpoint):
    card = model_card(checkpoint, "tester/mmt-tiny")
    assert not card.data.eval_results and "## Evaluation results" not in card.text


def test_training_pushes_with_its_evaluation_results(hub, tmp_path):
    from .test_training_mmt import SMALL

    command = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "train_mmt.py"),
        *SMALL,
        "--max_steps",
        "1",
        "--output_dir",
        str(tmp_path / "run"),
        "--push_to_hub",
        "--hub_model_id",
        "tester/mmt-trained",
    ]
    result = subprocess.run(command, env=hub_env(hub, tmp_path / "home"), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    files = hub.repos[("model", "tester/mmt-trained")].files
    assert "model.safetensors" in files and not any(p.startswith(("checkpoints/", "logs/")) for p in files)
    pushed = json.loads(files["eval_results.json"])
    assert pushed == pytest.approx(json.loads((tmp_path / "run" / "eval_results.json").read_text()))
    assert b"t2v_R1" in files["README.md"] and b"dataset_name" not in files["README.md"].split(b"---")[1]
