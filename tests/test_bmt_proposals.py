import pytest
import torch

from videozoo.modeling.modeling_bmt import BMTForEventProposal, decode_proposals, proposal_head_loss

from .conftest import parity_fixture
from .tiny_configs import tiny_config

PROPOSAL_FIELDS = dict(
    audio_anchor_lengths=[1.5, 4.0, 11.0],
    video_anchor_lengths=[2.0, 5.0, 9.0, 20.0],
    audio_kernel_sizes=[3, 7],
    video_kernel_sizes=[1, 5, 3],
    audio_proposal_hidden_sizes=[13],
    video_proposal_hidden_sizes=[11, 9],
    max_audio_length=24,
    max_video_length=9,
)


def proposal_model():
    torch.manual_seed(0)
    return BMTForEventProposal(tiny_config("bmt", **PROPOSAL_FIELDS)).eval()


def proposal_inputs(config, batch_size=2):
    g = torch.Generator().manual_seed(0)
    return {
        "audio_features": torch.rand(batch_size, config.max_audio_length, config.audio_feature_size, generator=g),
        "video_features": torch.randn(batch_size, config.max_video_length, config.video_feature_size, generator=g),
        "audio_attention_mask": torch.arange(config.max_audio_length)[None] < torch.tensor([[24], [15]])[:batch_size],
        "video_attention_mask": torch.arange(config.max_video_length)[None] < torch.tensor([[9], [6]])[:batch_size],
    }


def test_output_layout_and_loss_gradients():
    model = proposal_model().train()
    cfg = model.config
    inputs = proposal_inputs(cfg)
    targets = torch.tensor([[0, 10.0, 6.0], [1, 4.0, 3.0], [1, 9.5, 12.0]])
    out = model(**inputs, event_targets=targets)
    n = 2 * 24 * 3 + 3 * 9 * 4
    assert out.proposals.shape == (2, n, 3)
    assert [r.shape for r in out.audio_head_logits] == [(2, 24, 9)] * 2
    assert torch.isfinite(out.loss)
    out.loss.backward()
    missing = [k for k, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing


def test_decoding_of_zeros_and_order():
    anchors = torch.tensor([2.0, 5.0])
    out = decode_proposals(torch.zeros(1, 4, 6), anchors, 0.96)
    assert out.shape == (1, 8, 3)
    torch.testing.assert_close(out[0, :4, 0], (torch.arange(4) + 0.5) * 0.96)  # anchor-major: rows a*T + t
    torch.testing.assert_close(out[0, :, 1], torch.tensor([2.0] * 4 + [5.0] * 4))
    torch.testing.assert_close(out[0, :, 2], torch.full((8,), 0.5))


def test_targets_pick_best_anchor_and_cell():
    raw = torch.zeros(1, 5, 9, requires_grad=True)  # 3 anchors
    anchors = torch.tensor([1.0, 4.0, 10.0])
    targets = torch.tensor([[0, 2.5 * 2.0, 3.5]])  # stride 2: centre cell 2, frac 0.5; best anchor 4.0
    _, terms = proposal_head_loss(raw, anchors, 2.0, targets, 1.0, 100.0)
    assert terms[0].item() == pytest.approx(0.0)  # sigmoid(0) = 0.5 = fractional part
    assert terms[1].item() == pytest.approx(torch.log(torch.tensor(3.5 / 4.0)).item() ** 2, rel=1e-5)  # 1e-8
    # centre beyond the grid clamps to the last cell
    far = torch.tensor([[0, 100.0, 3.5]])
    assert torch.isfinite(proposal_head_loss(raw, anchors, 2.0, far, 1.0, 100.0)[0])


def test_missing_anchors_and_bad_targets():
    with pytest.raises(ValueError, match="anchor"):
        BMTForEventProposal(tiny_config("bmt"))
    model = proposal_model()
    with pytest.raises(ValueError, match="positive"):
        model(**proposal_inputs(model.config), event_targets=torch.tensor([[0, 3.0, 0.0]]))
    with pytest.raises(Exception, match="odd"):
        tiny_config("bmt", audio_kernel_sizes=[4])


def test_save_load_round_trip(tmp_path):
    model = proposal_model()
    model.save_pretrained(tmp_path)
    reloaded = BMTForEventProposal.from_pretrained(tmp_path).eval()
    inputs = proposal_inputs(model.config)
    with torch.no_grad():
        assert torch.equal(model(**inputs).proposals, reloaded(**inputs).proposals)


def test_parity_fixture():
    from videozoo.scripts.convert_bmt_original_checkpoint import main

    assert main(["--fixture", str(parity_fixture("bmt_proposals"))]) == 0
