"""Registry-wide checks: every row of `videozoo.auto.ARCHITECTURES` is covered automatically."""

import pytest
from transformers import AutoConfig, AutoProcessor

import videozoo
from videozoo.auto import ARCHITECTURES

from .tiny_configs import TINY_CONFIGS, TINY_PROCESSORS, tiny_config

ARCH_IDS = [arch.model_type for arch in ARCHITECTURES]


def test_every_registered_architecture_has_a_tiny_config_and_processor():
    assert set(TINY_CONFIGS) == set(ARCH_IDS)
    assert set(TINY_PROCESSORS) == {arch.model_type for arch in ARCHITECTURES if arch.processor_class is not None}


def test_model_types_are_unique():
    assert len(ARCH_IDS) == len(set(ARCH_IDS))


@pytest.mark.parametrize("arch", ARCHITECTURES, ids=ARCH_IDS)
def test_auto_config_and_models(arch, tmp_path):
    config = tiny_config(arch.model_type)
    assert type(AutoConfig.for_model(arch.model_type)) is arch.config_class
    for auto_class, model_class in arch.models:
        model = auto_class.from_config(config)
        assert type(model) is model_class
        model.save_pretrained(tmp_path / model_class.__name__)
        assert type(auto_class.from_pretrained(tmp_path / model_class.__name__)) is model_class


@pytest.mark.parametrize("arch", [a for a in ARCHITECTURES if a.processor_class], ids=lambda a: a.model_type)
def test_auto_processor_round_trip(arch, tmp_path):
    processor = TINY_PROCESSORS[arch.model_type](tmp_path)
    assert type(processor) is arch.processor_class
    processor.save_pretrained(tmp_path / "saved")
    reloaded = AutoProcessor.from_pretrained(tmp_path / "saved")
    assert type(reloaded) is arch.processor_class
    assert reloaded.to_dict() == processor.to_dict()


def test_public_classes_are_exposed():
    for arch in ARCHITECTURES:
        assert getattr(videozoo, arch.config_class.__name__) is arch.config_class
        for _, model_class in arch.models:
            assert getattr(videozoo, model_class.__name__) is model_class
        if arch.processor_class is not None:
            assert getattr(videozoo, arch.processor_class.__name__) is arch.processor_class


def test_every_registered_architecture_runs_the_model_tester():
    """Each model_type must have a ModelTesterMixin test class in tests/test_modeling_*.py."""
    import importlib
    import inspect
    from pathlib import Path

    from .model_tester import ModelTesterMixin

    covered = set()
    for path in sorted(Path(__file__).parent.glob("test_modeling_*.py")):
        module = importlib.import_module(f"tests.{path.stem}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, ModelTesterMixin) and cls is not ModelTesterMixin and cls.model_type:
                covered.add(cls.model_type)
    assert set(ARCH_IDS) <= covered, f"no model tester for {sorted(set(ARCH_IDS) - covered)}"
