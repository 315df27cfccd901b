import pytest
import torch

from videozoo.modeling.modeling_i3d import same_padding
from videozoo.processors.processing_expert_features import VideoTooShortError
from videozoo.processors.processing_i3d import I3DProcessor

from .conftest import parity_fixture
from .expert_features_tester import ExpertFeaturesTesterMixin


class TestI3D(ExpertFeaturesTesterMixin):
    model_type = "i3d"
    batch_size = 2

    def prepare_inputs(self, config, batch_size):
        shape = (batch_size, config.num_channels, 10, 32, 32)
        return {"pixel_values": torch.rand(shape, generator=torch.Generator().manual_seed(0)) * 2 - 1}

    def test_flow_stream_takes_two_channels(self):
        model = self.build(self.get_config(modality="flow"))
        assert model(torch.zeros(1, 2, 10, 32, 32)).features.shape == (1, 128)
        with pytest.raises(ValueError, match="flow stream"):
            model(torch.zeros(1, 3, 10, 32, 32))

    def test_short_stack_is_refused(self):
        with pytest.raises(ValueError, match="at least 10 frames"):
            self.build()(torch.zeros(1, 3, 8, 32, 32))


def test_same_padding_is_the_ports():
    assert same_padding((7, 7, 7), (2, 2, 2)) == (2, 3, 2, 3, 2, 3)
    assert same_padding((1, 3, 3), (1, 2, 2)) == (0, 1, 0, 1, 0, 0)
    assert same_padding((2, 2, 2), (2, 2, 2)) == (0,) * 6


def test_flow_quantisation_levels_reach_256_and_round_half_to_even():
    processor = I3DProcessor(crop_size=2)
    flow = torch.tensor([20.0, -20.0, -4.0, 50.0]).view(1, 2, 1, 2).expand(1, 2, 2, 2)
    levels = (processor.flow_inputs(flow) + 1) * 255 / 2
    assert levels.round().flatten().tolist()[:4] == [256, 0, 256, 0]
    assert ((processor.flow_inputs(torch.full((1, 2, 2, 2), -4.0)) + 1) * 255 / 2).round().unique().tolist() == [102]


def test_stacks_read_one_extra_frame():
    processor = I3DProcessor(stack_size=4, step_size=2)
    assert [s.tolist() for s in processor.stack_indices(9)] == [[0, 1, 2, 3, 4], [2, 3, 4, 5, 6], [4, 5, 6, 7, 8]]
    with pytest.raises(VideoTooShortError, match="fewer than one stack of 4"):
        processor.stack_indices(4, "tiny.mp4")


def test_cycled_last_stack_of_the_older_extraction():
    """876 frames at 25 fps, stacks of 64 + 1 every 64: 13 full stacks and the 44 remaining frames cycled into a
    14th (the BMT sample's count); a remainder under 0.2 x 65 frames is dropped."""
    processor = I3DProcessor(stack_size=64, step_size=64, last_stack="cycle")
    stacks = processor.stack_indices(876)
    assert len(stacks) == 14 and all(len(s) == 65 for s in stacks)
    assert stacks[-1][:44].tolist() == list(range(832, 876)) and stacks[-1][44:].tolist() == list(range(832, 853))
    assert len(processor.stack_indices(65 * 13 + 5)) == 13
    assert len(I3DProcessor(stack_size=64, step_size=64).stack_indices(876)) == 13


def test_conversion_reproduces_the_reference_features():
    from videozoo.scripts.convert_i3d_original_checkpoint import main

    assert main(["--fixture", str(parity_fixture("video_features_i3d"))]) == 0
