import pytest
import torch

from videozoo.modeling.modeling_raft import input_padding
from videozoo.processors.processing_raft import RAFTProcessor

from .conftest import parity_fixture
from .expert_features_tester import ExpertFeaturesTesterMixin


class TestRAFT(ExpertFeaturesTesterMixin):
    model_type = "raft"
    batch_size = 2

    def prepare_inputs(self, config, batch_size):
        generator = torch.Generator().manual_seed(0)
        image1 = torch.rand(batch_size, 3, 35, 41, generator=generator) * 255
        return {"image1": image1, "image2": torch.roll(image1, shifts=(1, 2), dims=(2, 3))}

    def comparable_outputs(self, output):
        return {"flow": output.flow}

    def test_flow_has_the_input_size_and_padded_size_on_request(self):
        model = self.build()
        inputs = self.prepare_inputs(model.config, 1)
        assert model(**inputs).flow.shape == (1, 2, 35, 41)
        assert model(**inputs, unpad=False).flow.shape == (1, 2, 40, 48)

    def test_too_small_frames_are_refused(self):
        model = self.build()
        with pytest.raises(ValueError, match="too small"):
            model(torch.zeros(1, 3, 20, 20), torch.zeros(1, 3, 20, 20))


def test_input_padding_rules():
    assert input_padding(131, 155, "sintel") == [2, 3, 2, 3]
    assert input_padding(131, 155, "kitti") == [2, 3, 0, 5]
    assert input_padding(136, 160) == [0, 0, 0, 0]


def test_pairs_overlap_by_one_frame():
    frames = torch.arange(7.0).view(7, 1, 1, 1)
    pairs = RAFTProcessor.pairs(frames, 4)
    assert [(a.flatten().tolist(), b.flatten().tolist()) for a, b in pairs] == [
        ([0, 1, 2, 3], [1, 2, 3, 4]),
        ([4, 5], [5, 6]),
    ]
    with pytest.raises(ValueError, match="at least 2 frames"):
        RAFTProcessor.pairs(frames[:1], 4)


def test_conversion_reproduces_the_reference_flow():
    from videozoo.scripts.convert_raft_original_checkpoint import main

    assert main(["--fixture", str(parity_fixture("video_features_raft"))]) == 0
