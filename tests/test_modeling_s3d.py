import pytest
import torch

from videozoo.processors.processing_expert_features import VideoTooShortError
from videozoo.processors.processing_s3d import S3DProcessor

from .conftest import parity_fixture
from .expert_features_tester import ExpertFeaturesTesterMixin


class TestS3D(ExpertFeaturesTesterMixin):
    model_type = "s3d"
    batch_size = 2

    def prepare_inputs(self, config, batch_size):
        return {"pixel_values": torch.rand(batch_size, 3, 16, 32, 32, generator=torch.Generator().manual_seed(0))}

    def test_short_stack_is_refused(self):
        model = self.build()
        with pytest.raises(ValueError, match="at least 13 frames"):
            model(torch.rand(1, 3, 8, 32, 32))


def test_processor_resizes_without_antialias_and_cuts_stacks():
    processor = S3DProcessor(resize_size=32, crop_size=32, stack_size=16, step_size=8)
    frames = torch.randint(0, 256, (40, 3, 36, 48), dtype=torch.uint8)
    pixel_values = processor(frames)["pixel_values"]
    assert pixel_values.shape == (1, 3, 40, 32, 32) and 0 <= pixel_values.min() and pixel_values.max() <= 1
    stacks, slices = processor.stacks(pixel_values)
    assert slices == [(0, 16), (8, 24), (16, 32), (24, 40)] and stacks.shape == (4, 3, 16, 32, 32)
    with pytest.raises(VideoTooShortError, match="fewer than one stack of 16"):
        processor.stacks(pixel_values[:, :, :10], "clip.mp4")


def test_conversion_reproduces_the_reference_features():
    from videozoo.scripts.convert_s3d_original_checkpoint import main

    assert main(["--fixture", str(parity_fixture("video_features_s3d"))]) == 0
