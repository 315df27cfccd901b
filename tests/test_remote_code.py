"""Every registered architecture loads from an exported checkpoint where videozoo cannot be imported
(`trust_remote_code=True`), with outputs bit-identical to the installed path."""

import importlib
import inspect
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


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=[a.model_type for a in ARCHITECTURES])
def test_exported_checkpoint_loads_without_videozoo(arch, tmp_path):
    folder = tmp_path / f"{arch.model_type}-tiny"
    inputs = save_tiny_checkpoint(arch.model_type, folder)
    written = export_remote_code(folder)
    assert written and all((folder / name).is_file() for name in written)
    torch.save(inputs, tmp_path / "inputs.pt")
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""}
    processor = arch.processor_class is not None
    installed = run_client("installed", str(folder), tmp_path / "inputs.pt", tmp_path / "installed.pt", env, processor)
    remote = run_client("remote", str(folder), tmp_path / "inputs.pt", tmp_path / "remote.pt", env, processor)
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
