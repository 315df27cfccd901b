import numpy as np
import pytest
import torch

from videozoo.processors.processing_expert_features import center_crop_offsets, form_slices, resize_shorter_pil
from videozoo.processors.processing_resnet_frames import ResNetFramesProcessor

from .conftest import parity_fixture
from .expert_features_tester import ExpertFeaturesTesterMixin


class TestResNetFrames(ExpertFeaturesTesterMixin):
    model_type = "resnet_frames"

    def prepare_inputs(self, config, batch_size):
        return {"pixel_values": torch.randn(batch_size, 3, 32, 40, generator=torch.Generator().manual_seed(0))}

    def test_feature_size(self):
        model = self.build()
        out = model(**self.prepare_inputs(model.config, 2))
        assert out.features.shape == (2, model.config.feature_size) == (2, 80)


def test_form_slices_keeps_full_stacks_only():
    assert form_slices(26, 24, 2) == [(0, 24), (2, 26)]
    assert form_slices(100, 15, 15) == [(i, i + 15) for i in range(0, 90, 15)]
    assert form_slices(10, 16, 8) == []


def test_centre_crop_rounding_rules():
    assert center_crop_offsets(256, 341, 224, 224, "round") == (16, 58)  # round half to even: 58.5 -> 58
    assert center_crop_offsets(225, 227, 224, 224, "floor") == (0, 1)
    with pytest.raises(ValueError, match="cannot crop"):
        center_crop_offsets(100, 300, 224, 224)


def test_pil_resize_sizes():
    frame = np.zeros((240, 320, 3), np.uint8)
    assert resize_shorter_pil(frame, 256).shape == (256, 341, 3)
    assert resize_shorter_pil(np.zeros((320, 240, 3), np.uint8), 256).shape == (341, 256, 3)


def test_processor_rejects_bad_frames():
    processor = ResNetFramesProcessor()
    with pytest.raises(ValueError, match="uint8"):
        processor(torch.zeros(2, 3, 64, 64))
    with pytest.raises(ValueError, match="3 RGB channels"):
        processor(torch.zeros(2, 4, 64, 64, dtype=torch.uint8))


def test_conversion_reproduces_the_reference_features():
    from videozoo.scripts.convert_resnet_original_checkpoint import main

    assert main(["--fixture", str(parity_fixture("video_features_resnet"))]) == 0
