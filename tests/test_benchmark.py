"""scripts/benchmark.py, the one benchmark driver: every benchmarked architecture runs a training step of its test
configuration, generation modes run and agree, and bad arguments fail at once with a message naming them."""

import importlib

import pytest
import torch

from videozoo.auto import ARCHITECTURES
from videozoo.benchmarking import benchmarked_types

# the systems trained here (scripts/train_*.py, scripts/pretrain_mmt_modality_masking.py): each must be benchmarked
TRAINED = {
    "mmt",
    "mmt_modality_masking",
    "avlnet",
    "everything_at_once",
    "bmt",
    "mdvc",
    "avatar",
    "sparsesync",
    "melgan",
    "specvqgan",
    "specvqgan_sampler",
}


@pytest.fixture
def driver(monkeypatch):
    """The driver module, with a small matrix multiply as the reference rate (the 2048^3 one takes seconds)."""
    import videozoo.benchmarking as benchmarking

    module = importlib.import_module("videozoo.scripts.benchmark")
    monkeypatch.setattr(benchmarking, "matmul_size", lambda device, dtype: 128)
    monkeypatch.setattr(module, "matmul_size", lambda device, dtype: 128)
    return module


def test_every_trained_system_has_a_benchmark_workload():
    assert TRAINED <= set(benchmarked_types())
    for arch in ARCHITECTURES:
        if arch.benchmark is not None:
            module, _, function = arch.benchmark.partition(":")
            assert callable(getattr(importlib.import_module(module), function)), arch.benchmark


@pytest.mark.parametrize("model_type", sorted(TRAINED))
def test_one_training_step_of_the_small_configuration(driver, capsys, model_type):
    assert (
        driver.main(["--model_type", model_type, "--config", "small", "--steps", "1", "--levers", "plain,default"])
        == 0
    )
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| plain") or line.startswith("| zoo default")]
    assert len(rows) == 2, out
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1]) > 0 and float(cells[5]) > 0  # ms/step, GFLOP/step
        loss, difference = float(cells[9]), float(cells[10])
        assert torch.isfinite(torch.tensor(loss))
        # same seeded weights, batch and dropout masks: the fused AdamW step differs from torch's Adam loop by
        # float32 rounding only (measured: |diff| <= 1e-6 relative on these models after two steps)
        assert abs(difference) <= 1e-4 * max(1.0, abs(loss)), row


def test_generation_variants_agree(driver, capsys):
    assert driver.main(["--model_type", "bmt", "--config", "small", "--mode", "generate", "--steps", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| generate") or line.startswith("| reference")]
    assert len(rows) == 3 and all(row.rstrip(" |").endswith("identical") for row in rows), out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--model_type", "no_such_model"], "--model_type 'no_such_model' has no benchmark"),
        (["--model_type", "s3d"], "--model_type 's3d' has no benchmark"),
        (["--model_type", "mmt", "--steps", "0"], "--steps must be"),
        (["--model_type", "mmt", "--batch_size", "-1"], "--batch_size must be"),
        (["--model_type", "mmt", "--levers", "plain,turbo"], "--levers: unknown ['turbo']"),
        (["--model_type", "bmt", "--config", "small", "--variant", "decoder"], "--variant for bmt must be"),
        (["--model_type", "mmt", "--config", "small", "--mode", "generate"], "mmt has no generation benchmark"),
        (["--model_type", "mmt", "--dtype", "fp16"], "invalid choice: 'fp16'"),
    ],
)
def test_bad_arguments_fail_with_a_clear_message(driver, capsys, args, message):
    with pytest.raises(SystemExit) as raised:
        driver.main(args)
    assert raised.value.code == 2 and message in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given without a CUDA device")
def test_cuda_without_a_device_is_refused(driver, capsys):
    with pytest.raises(SystemExit):
        driver.main(["--model_type", "mmt", "--device", "cuda"])
    assert "--device cuda: no CUDA device is available" in capsys.readouterr().err


def test_channels_last_converts_every_convolution_and_keeps_the_outputs():
    from transformers import AutoModel

    from videozoo.training import to_channels_last

    from .test_modeling_sparsesync import sparsesync_inputs
    from .tiny_configs import tiny_config

    torch.manual_seed(0)
    config = tiny_config("sparsesync")
    model = AutoModel.from_config(config).eval()
    inputs = sparsesync_inputs(config, 2)
    with torch.no_grad():
        before = model(**inputs).logits
        to_channels_last(model)
        after = model(**inputs).logits
    convolutions = [m for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d))]
    assert {type(m) for m in convolutions} == {torch.nn.Conv2d, torch.nn.Conv3d}
    for module in convolutions:
        layout = torch.channels_last if isinstance(module, torch.nn.Conv2d) else torch.channels_last_3d
        assert module.weight.is_contiguous(memory_format=layout)
    # another summation order in the convolutions: float32 rounding (measured max |diff| ~1e-7 on logits ~0.1-1)
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)


def test_compiled_model_keeps_its_weight_names():
    """fit's --torch_compile compiles in place (`Module.compile`): checkpoints keep the model's own names."""
    from transformers import AutoModel

    from .tiny_configs import tiny_config

    model = AutoModel.from_config(tiny_config("mmt"))
    names = list(model.state_dict())
    model.compile()
    assert list(model.state_dict()) == names and not any("_orig_mod" in n for n in names)
