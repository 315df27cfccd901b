import types

import pytest
import torch
from transformers.cache_utils import DynamicCache

from videozoo.modeling.layers.attention import (
    MultiHeadAttention,
    causal_mask,
    padding_mask_to_bool,
    recording_attentions,
)
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


def _attention(**kwargs):
    config = types.SimpleNamespace(_attn_implementation=kwargs.pop("implementation", "sdpa"))
    return MultiHeadAttention(config, kwargs.pop("hidden_size", 12), kwargs.pop("num_heads", 3), **kwargs).eval()


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_attention_matches_explicit_softmax_and_ignores_padding(implementation):
    torch.manual_seed(0)
    layer = _attention(implementation=implementation)
    x = torch.randn(2, 5, 12)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    out, weights = layer(x, attention_mask=padding_mask_to_bool(mask))
    q, k, v = (p(x).view(2, 5, 3, 4).transpose(1, 2) for p in (layer.q_proj, layer.k_proj, layer.v_proj))
    scores = q @ k.transpose(-1, -2) / 2 + padding_mask_to_additive(mask, torch.float32)
    expected = layer.out_proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(2, 5, 12))
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=0)  # measured 6e-8 (1 and 2 threads)
    if implementation == "eager":
        torch.testing.assert_close(weights, scores.softmax(-1), atol=1e-6, rtol=0)
    else:
        assert weights is None  # SDPA kernels return no weights
    changed = x.clone()
    changed[0, 3:] = torch.randn(2, 12)
    torch.testing.assert_close(layer(changed, attention_mask=padding_mask_to_bool(mask))[0][0, :3], out[0, :3])


def test_fully_masked_query_rows_are_finite():
    for implementation in ("eager", "sdpa"):
        layer = _attention(hidden_size=8, num_heads=2, implementation=implementation)
        out, _ = layer(torch.randn(1, 3, 8), attention_mask=padding_mask_to_bool(torch.zeros(1, 3)))
        assert torch.isfinite(out).all()


def test_attention_fused_qkv_names_and_widths():
    fused = _attention(hidden_size=8, num_heads=2, fused_qkv=True, out_proj_name="proj")
    assert set(fused.state_dict()) == {"qkv.weight", "qkv.bias", "proj.weight", "proj.bias"}
    x = torch.randn(2, 4, 8)
    separate = _attention(hidden_size=8, num_heads=2)
    with torch.no_grad():  # same weights, split: the fused layout is [q; k; v]
        for i, name in enumerate(("q_proj", "k_proj", "v_proj")):
            getattr(separate, name).weight.copy_(fused.qkv.weight[8 * i : 8 * (i + 1)])
            getattr(separate, name).bias.copy_(fused.qkv.bias[8 * i : 8 * (i + 1)])
        separate.out_proj.load_state_dict(fused.proj.state_dict())
    torch.testing.assert_close(fused(x)[0], separate(x)[0], atol=1e-6, rtol=0)
    # unequal query / key / inner / output widths (BMT)
    cross = _attention(hidden_size=6, num_heads=2, key_size=10, inner_size=16, bias=False)
    assert cross.q_proj.weight.shape == (16, 6) and cross.k_proj.weight.shape == (16, 10)
    assert cross(torch.randn(2, 3, 6), torch.randn(2, 7, 10))[0].shape == (2, 3, 6)
    assert cross.q_proj.bias is None
    with pytest.raises(ValueError, match="divisible"):
        _attention(hidden_size=10, num_heads=3)
    with pytest.raises(ValueError, match="fused qkv"):
        fused(x, torch.randn(2, 3, 8))


def test_attention_is_never_implicitly_causal():
    # transformers' sdpa_attention_forward makes a mask-less multi-query call causal unless the module says no
    layer = _attention(hidden_size=8, num_heads=2)
    x = torch.randn(1, 4, 8)
    changed = x.clone()
    changed[0, -1] += 1.0
    assert not torch.allclose(layer(x)[0][0, 0], layer(changed)[0][0, 0])  # the first query sees the last key


def test_attention_self_cache_matches_full_causal_pass():
    torch.manual_seed(0)
    for implementation in ("eager", "sdpa"):
        layer = _attention(implementation=implementation, cache_index=1)
        x = torch.randn(2, 6, 12)
        full, _ = layer(x, attention_mask=causal_mask(6, 6))
        cache = DynamicCache()
        steps = [layer(x[:, :3], attention_mask=causal_mask(3, 3), past_key_values=cache)[0]]
        for t in range(3, 6):  # one new query sees every cached key: no mask
            steps.append(layer(x[:, t : t + 1], past_key_values=cache)[0])
        assert cache.get_seq_length(1) == 6
        torch.testing.assert_close(torch.cat(steps, 1), full, atol=1e-6, rtol=0)


def test_attention_static_cross_cache_projects_once():
    torch.manual_seed(0)
    layer = _attention(key_size=5, cache_index=0, static_key_value=True)
    memory = torch.randn(2, 7, 5)
    calls = []
    hook = layer.k_proj.register_forward_hook(lambda *a: calls.append(1))
    cache = DynamicCache()
    first = layer(torch.randn(2, 1, 12), memory, past_key_values=cache)
    query = torch.randn(2, 1, 12)
    reused = layer(query, torch.zeros_like(memory), past_key_values=cache)[0]  # the stored keys/values win
    hook.remove()
    assert len(calls) == 1 and first[0].shape == (2, 1, 12)
    torch.testing.assert_close(reused, layer(query, memory)[0], atol=1e-6, rtol=0)
    with pytest.raises(ValueError, match="cache_index"):
        _attention()(query, past_key_values=DynamicCache())


def test_recording_attentions_runs_eager_and_returns_softmax_weights():
    torch.manual_seed(0)
    model = torch.nn.ModuleDict({"a": _attention(), "b": _attention()})
    x = torch.randn(2, 5, 12)
    with recording_attentions(model, {"first": lambda n: n == "a"}) as recorded:
        out_a, weights = model["a"](x)
        model["b"](x)
    assert len(recorded["first"]) == 1 and recorded["first"][0] is weights
    assert weights.shape == (2, 3, 5, 5)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 3, 5))
    assert model["a"](x)[1] is None  # outside the block, back to SDPA
    torch.testing.assert_close(model["a"](x)[0], out_a, atol=1e-6, rtol=0)


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
