"""Every registered architecture loads from an exported checkpoint where videozoo cannot be imported
(`trust_remote_code=True`), with outputs bit-identical to the installed path."""

import importlib
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from videozoo.auto import ARCHITECTURES, ARCHITECTURES_BY_TYPE
from videozoo.hub import HubExportError, export_remote_code

from .model_tester import ModelTesterMixin
from .tiny_configs import TINY_PROCESSORS, tiny_config

CLIENT = Path(__file__).with_name("hub_client.py")


def model_tester_of(model_type: str) -> ModelTesterMixin:
    for path in sorted(Path(__file__).parent.glob("test_modeling_*.py")):
        module = importlib.import_module(f"tests.{path.stem}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, ModelTesterMixin) and cls.model_type == model_type:
                return cls()
    raise LookupError(f"no model tester for {model_type}")


def run_client(mode: str, source: str, inputs: Path, outputs: Path, env: dict, with_processor: bool = True) -> dict:
    extra = [] if with_processor else ["--no-processor"]
    completed = subprocess.run(
        [sys.executable, str(CLIENT), mode, source, str(inputs), str(outputs), *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=outputs.parent,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return torch.load(outputs, weights_only=True)


def save_tiny_checkpoint(model_type: str, folder: Path) -> dict:
    """Save a tiny random model + processor; returns the inputs the model tester prepares for it."""
    tester = model_tester_of(model_type)
    torch.manual_seed(0)
    model = AutoModel.from_config(tiny_config(model_type)).eval()
    tester._randomize_norm_statistics(model)
    model.save_pretrained(folder)
    if model_type in TINY_PROCESSORS:
        TINY_PROCESSORS[model_type](folder).save_pretrained(folder)
    elif (extractor := ARCHITECTURES_BY_TYPE[model_type].feature_extractor_class) is not None:
        build = getattr(extractor, "from_model_config", None)  # the extractors take their sampling from the config
        (build(model.config) if build else extractor()).save_pretrained(folder)
    return tester.prepare_inputs(model.config, tester.batch_size)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory) -> dict[str, dict]:
    """Every architecture's tiny checkpoint, exported, then loaded and run in two fresh processes (one import of
    torch and transformers each, instead of two per architecture): `{model_type: {"installed": outputs,
    "remote": outputs}}` as `tests/hub_client.py` saves them (or `{"error": traceback}` for a load that failed)."""
    root = tmp_path_factory.mktemp("remote_code")
    jobs = {"installed": [], "remote": []}
    for arch in ARCHITECTURES:
        folder = root / f"{arch.model_type}-tiny"
        inputs = save_tiny_checkpoint(arch.model_type, folder)
        written = export_remote_code(folder)
        assert written and all((folder / name).is_file() for name in written), arch.model_type
        torch.save(inputs, root / f"{arch.model_type}-inputs.pt")
        for mode in jobs:
            jobs[mode].append(
                {
                    "source": str(folder),
                    "inputs": str(root / f"{arch.model_type}-inputs.pt"),
                    "outputs": str(root / f"{arch.model_type}-{mode}.pt"),
                    "processor": arch.processor_class is not None,
                    "catch_errors": True,
                }
            )
    env = {**os.environ, "HF_HOME": str(root / "hf_home"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    for mode, mode_jobs in jobs.items():
        (root / f"jobs-{mode}.json").write_text(json.dumps(mode_jobs))
        completed = subprocess.run(
            [sys.executable, str(CLIENT), mode, str(root / f"jobs-{mode}.json")],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
            cwd=root,
        )
        assert completed.returncode == 0, completed.stderr[-3000:]
    return {
        arch.model_type: {mode: torch.load(root / f"{arch.model_type}-{mode}.pt", weights_only=True) for mode in jobs}
        for arch in ARCHITECTURES
    }


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a.model_type for a in ARCHITECTURES])
def test_exported_checkpoint_loads_without_videozoo(arch, loaded):
    installed, remote = loaded[arch.model_type]["installed"], loaded[arch.model_type]["remote"]
    assert "error" not in installed, installed.get("error")
    assert "error" not in remote, remote.get("error")
    processor = arch.processor_class is not None
    assert installed["model_module"].startswith("videozoo.")
    assert remote["model_module"].startswith("transformers_modules.")
    assert not processor or remote["processor_module"].startswith("transformers_modules.")
    if processor:
        drop = lambda d: {k: v for k, v in d.items() if k != "auto_map"}  # noqa: E731
        assert drop(remote["processor"]) == drop(installed["processor"])
    assert installed["outputs"].keys() == remote["outputs"].keys() and installed["outputs"]
    for name, value in installed["outputs"].items():
        assert torch.equal(value, remote["outputs"][name]), f"{name} differs between installed and remote code"


def test_export_refuses_a_folder_of_another_library(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(HubExportError, match="not a videozoo architecture"):
        export_remote_code(tmp_path)
