import pytest
import torch

from videozoo.modeling.layers.attention import MultiHeadAttention
from videozoo.modeling.layers.gating import GatedEmbeddingUnit
from videozoo.modeling.layers.masks import lengths_to_mask, padding_mask_to_additive
from videozoo.modeling.layers.pooling import masked_max, masked_mean
from videozoo.modeling.losses import infonce_loss, max_margin_ranking_loss


def test_masked_pooling_ignores_padding():
    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, -100.0]]])
    mask = torch.tensor([[1, 1, 0]])
    assert masked_mean(hidden, mask).tolist() == [[2.0, 3.0]]
    assert masked_max(hidden, mask).tolist() == [[3.0, 4.0]]
    empty = torch.zeros(1, 3)
    assert masked_mean(hidden, empty).tolist() == [[0.0, 0.0]] and masked_max(hidden, empty).tolist() == [[0.0, 0.0]]
    with pytest.raises(ValueError, match="does not match"):
        masked_mean(hidden, torch.ones(1, 2))


def test_masks():
    assert lengths_to_mask(torch.tensor([1, 3]), 4).tolist() == [
        [True, False, False, False],
        [True, True, True, False],
    ]
    bias = padding_mask_to_additive(torch.tensor([[1, 0]]), torch.float32)
    assert bias.shape == (1, 1, 1, 2) and bias[0, 0, 0, 0] == 0 and bias[0, 0, 0, 1] == torch.finfo(torch.float32).min


def test_attention_matches_explicit_softmax_and_ignores_padding():
    torch.manual_seed(0)
    layer = MultiHeadAttention(12, 3).eval()
    x = torch.randn(2, 5, 12)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    out = layer(x, key_padding_mask=mask)
    q, k, v = (p(x).view(2, 5, 3, 4).transpose(1, 2) for p in (layer.q_proj, layer.k_proj, layer.v_proj))
    scores = q @ k.transpose(-1, -2) / 2 + padding_mask_to_additive(mask, torch.float32)
    expected = layer.out_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(2, 5, 12))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)  # measured 6e-8 (1 and 2 threads)
    changed = x.clone()
    changed[0, 3:] = torch.randn(2, 12)
    torch.testing.assert_close(layer(changed, key_padding_mask=mask)[0, :3], out[0, :3])


def test_fully_masked_query_rows_give_zeros_not_nan():
    layer = MultiHeadAttention(8, 2).eval()
    out = layer(torch.randn(1, 3, 8), key_padding_mask=torch.zeros(1, 3))
    assert torch.isfinite(out).all()


def test_gated_embedding_unit():
    torch.manual_seed(0)
    unit = GatedEmbeddingUnit(7, 5).eval()
    out = unit(torch.randn(4, 7))
    torch.testing.assert_close(out.norm(dim=-1), torch.ones(4))
    assert unit(torch.randn(2, 3, 7)).shape == (2, 3, 5)
    assert {n for n, _ in unit.named_parameters()} == {
        "fc.weight",
        "fc.bias",
        "cg.fc.weight",
        "cg.fc.bias",
        "cg.batch_norm.weight",
        "cg.batch_norm.bias",
    }


def test_losses():
    assert max_margin_ranking_loss(torch.eye(3), 0.2).item() == 0
    with pytest.raises(ValueError, match="square"):
        max_margin_ranking_loss(torch.zeros(2, 3), 0.1)
    with pytest.raises(ValueError, match="at least two"):
        max_margin_ranking_loss(torch.zeros(1, 1), 0.1)
    logits = torch.tensor([[10.0, 0.0], [0.0, 10.0]])
    assert infonce_loss(logits).item() < 1e-3
