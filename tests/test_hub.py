"""Push to a Hub-API-compatible server on 127.0.0.1 with the real huggingface_hub client, then load the checkpoint
in fresh processes: with videozoo, without it (remote code), and offline from the cache. For every registered
architecture: offline reloads (from the cache of a normal load and after `snapshot_download`) give what the online
load gave, and the generated model card's snippets run."""

import ast
import hashlib
import importlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from huggingface_hub import ModelCard

from videozoo.auto import ARCHITECTURES
from videozoo.hub import HubExportError, model_card, push_checkpoint, stage_checkpoint, training_script
from videozoo.recipes import run_family

from .conftest import REPO_ROOT
from .hub_server import FakeHub
from .test_remote_code import CLIENT, run_client, save_tiny_checkpoint

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
    from .test_training_mmt import SMALL, TRAIN

    command = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "run_retrieval.py"),
        *TRAIN,
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


# ----------------------------------------------------------------------------- every architecture
@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> dict:
    """`{model_type: (staged folder with remote code and card, saved model inputs)}` for every architecture."""
    root = tmp_path_factory.mktemp("staged")
    result = {}
    for arch in ARCHITECTURES:
        folder = root / f"{arch.model_type}-saved"
        inputs = save_tiny_checkpoint(arch.model_type, folder)
        torch.save(inputs, root / f"{arch.model_type}-inputs.pt")
        staging = stage_checkpoint(folder, f"tester/{arch.model_type}-tiny")
        shutil.copytree(staging, root / arch.model_type)
        shutil.rmtree(staging)
        result[arch.model_type] = (root / arch.model_type, root / f"{arch.model_type}-inputs.pt")
    return result


def python_blocks(card_text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", card_text, flags=re.S)


def test_every_card_has_a_pipeline_tag_and_runnable_snippets(staged, capsys):
    """The card's installed-path snippet runs here (videozoo is imported) against the exported folder; the
    fine-tuning command names a script that exists and accepts every option it passes."""
    for arch in ARCHITECTURES:
        folder, _ = staged[arch.model_type]
        repo_id = f"tester/{arch.model_type}-tiny"
        card = ModelCard.load(folder / "README.md")
        assert card.data.pipeline_tag == arch.paper["pipeline_tag"], arch.model_type
        blocks = [b for b in python_blocks(card.text) if "from transformers import pipeline" not in b]  # loading
        assert len(blocks) == 2 and all(f'"{repo_id}"' in block for block in blocks), arch.model_type
        # the preprocessing class the checkpoint ships: processor, feature extractor alone (extractors), or none
        shipped = arch.processor_class or arch.feature_extractor_class
        loader = "AutoProcessor" if arch.processor_class else "AutoFeatureExtractor" if shipped else None
        imports = "from transformers import AutoModel" + (f", {loader}" if loader else "") + "\n"
        assert all(imports in block for block in blocks), arch.model_type
        namespace = {}
        exec(blocks[0].replace(f'"{repo_id}"', repr(str(folder))), namespace)  # noqa: S102
        assert type(namespace["model"]).__module__.startswith("videozoo."), arch.model_type
        if shipped is not None:
            assert type(namespace["processor"]).__name__ == shipped.__name__, arch.model_type
        else:
            assert "processor" not in namespace, arch.model_type

        commands = re.findall(r"```bash\n(.*?)```", card.text, flags=re.S)
        if training_script(arch) is None:  # no fine-tuning section for an architecture without a training script
            assert not commands, arch.model_type
            continue
        assert len(commands) == 1, arch.model_type
        words = shlex.split(commands[0])
        script = words[words.index("accelerate") + 2]
        assert (REPO_ROOT / script).is_file(), f"{arch.model_type}: the card names {script}, which does not exist"
        with pytest.raises(SystemExit) as done:
            if Path(script).stem.startswith("run_"):  # a family entry point: its command and model type come next
                leading = words[words.index(script) + 1 : words.index("--model_name_or_path")]
                run_family(Path(script).stem.removeprefix("run_"), [*leading, "--help"])
            else:
                importlib.import_module(f"videozoo.scripts.{Path(script).stem}").main(["--help"])
        assert done.value.code == 0
        usage = capsys.readouterr().out
        for option in (word for word in words if word.startswith("--")):
            assert option in usage, f"{arch.model_type}: {script} has no {option}"


@pytest.mark.slow
def test_every_card_remote_snippet_runs_without_videozoo(staged, tmp_path):
    """The cards' "without videozoo" snippets, in one fresh process where videozoo cannot be imported."""
    runner = [
        "import sys",
        "sys.modules['videozoo'] = None",
        "sys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in repr(f).lower()]",
        "loaded = {}",
    ]
    for arch in ARCHITECTURES:
        folder, _ = staged[arch.model_type]
        block = python_blocks(ModelCard.load(folder / "README.md").text)[1]
        code = block.replace(f'"tester/{arch.model_type}-tiny"', repr(str(folder)))
        runner += ["namespace = {}", f"exec({code!r}, namespace)"]
        modules = "[type(namespace[k]).__module__ for k in ('model', 'processor') if k in namespace]"
        runner += [f"loaded[{arch.model_type!r}] = {modules}"]
    runner += ["print(repr(loaded))"]
    (tmp_path / "runner.py").write_text("\n".join(runner) + "\n")
    env = {**os.environ, "HF_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    done = subprocess.run(
        [sys.executable, str(tmp_path / "runner.py")], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = ast.literal_eval(done.stdout.strip().splitlines()[-1])
    assert sorted(loaded) == sorted(a.model_type for a in ARCHITECTURES)
    for model_type, modules in loaded.items():
        assert all(m.startswith("transformers_modules.") for m in modules), (model_type, modules)


def run_jobs(mode: str, jobs: list[dict], env: dict, folder: Path) -> None:
    (folder / f"jobs-{mode}.json").write_text(json.dumps(jobs))
    done = subprocess.run(
        [sys.executable, str(CLIENT), mode, str(folder / f"jobs-{mode}.json")],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
def test_offline_reloads_of_every_architecture(hub, staged, tmp_path):
    """Each architecture's repository loads offline exactly as online (same outputs, same processor settings and
    vocabularies): from the cache of a normal load, and after `snapshot_download` (with and without videozoo)."""
    for arch in ARCHITECTURES:
        hub.add_folder(f"tester/{arch.model_type}-tiny", staged[arch.model_type][0])

    def jobs(tag: str) -> list[dict]:
        return [
            {
                "source": f"tester/{a.model_type}-tiny",
                "inputs": str(staged[a.model_type][1]),
                "outputs": str(tmp_path / f"{a.model_type}-{tag}.pt"),
                "processor": a.processor_class is not None,
            }
            for a in ARCHITECTURES
        ]

    online = hub_env(hub, tmp_path / "home-normal")
    offline = {**online, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens there
    run_jobs("installed", jobs("online"), online, tmp_path)
    run_jobs("installed", jobs("cache"), offline, tmp_path)

    snapshot_env = hub_env(hub, tmp_path / "home-snapshot")
    download = "\n".join(
        ["from huggingface_hub import snapshot_download"]
        + [f"snapshot_download('tester/{a.model_type}-tiny')" for a in ARCHITECTURES]
    )
    done = subprocess.run([sys.executable, "-c", download], env=snapshot_env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    snapshot_offline = {**snapshot_env, "HF_HUB_OFFLINE": "1", "HF_ENDPOINT": "http://127.0.0.1:9"}
    run_jobs("installed", jobs("snapshot"), snapshot_offline, tmp_path)
    run_jobs("remote", jobs("snapshot-remote"), snapshot_offline, tmp_path)

    drop = lambda d: {k: v for k, v in d.items() if k != "auto_map"} if d else d  # noqa: E731
    for arch in ARCHITECTURES:
        reference = torch.load(tmp_path / f"{arch.model_type}-online.pt", weights_only=True)
        assert reference["model_module"].startswith("videozoo.")
        for tag in ("cache", "snapshot", "snapshot-remote"):
            other = torch.load(tmp_path / f"{arch.model_type}-{tag}.pt", weights_only=True)
            where = f"{arch.model_type}, {tag}"
            assert other["outputs"].keys() == reference["outputs"].keys(), where
            for name, value in reference["outputs"].items():
                assert torch.equal(value, other["outputs"][name]), f"{where}: {name}"
            assert drop(other["processor"]) == drop(reference["processor"]), where
            assert other["tokenizers"] == reference["tokenizers"], where
        if arch.model_type == "mdvc":  # two different vocabularies, each where it belongs
            vocabularies = reference["tokenizers"]
            assert vocabularies["speech_tokenizer"]["vocab"] != vocabularies["tokenizer"]["vocab"]


def test_mdvc_processor_never_substitutes_the_caption_vocabulary(tmp_path):
    """Its subtitle tokenizer loads from `speech_tokenizer/` exactly; without that folder loading fails (transformers'
    generic loader would fall back to the root caption tokenizer with only a warning)."""
    from videozoo.processors import MDVCProcessor

    from .tiny_configs import TINY_PROCESSORS

    original = TINY_PROCESSORS["mdvc"](tmp_path)
    original.save_pretrained(tmp_path / "saved")
    loaded = MDVCProcessor.from_pretrained(tmp_path / "saved")
    assert loaded.speech_tokenizer.get_vocab() == original.speech_tokenizer.get_vocab()
    assert loaded.tokenizer.get_vocab() == original.tokenizer.get_vocab()
    assert loaded.speech_tokenizer.get_vocab() != loaded.tokenizer.get_vocab()
    shutil.rmtree(tmp_path / "saved" / "speech_tokenizer")
    with pytest.raises(OSError, match="speech_tokenizer/tokenizer.json"):
        MDVCProcessor.from_pretrained(tmp_path / "saved")
