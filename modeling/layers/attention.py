"""The one multi-head attention of videozoo, dispatched through transformers' attention interface.

`MultiHeadAttention` is used by every architecture that attends (AVATAR, BMT, MDVC, Everything at Once, SparseSync;
MMT runs transformers' own `BertEncoder`, which dispatches the same way). It reads `config._attn_implementation` at
call time, so `from_pretrained(..., attn_implementation=...)` and `model.set_attn_implementation(...)` both take
effect: `"eager"` runs `eager_attention_forward` below, `"sdpa"` transformers' `sdpa_attention_forward`.

Conventions:
- `attention_mask` is boolean (True = the key may be attended) or an additive float bias, broadcastable to
  `(batch, heads, queries, keys)`; a boolean mask becomes an additive bias (0 / dtype minimum) before dispatch, so
  every implementation receives the same float mask. `padding_mask_to_bool` and `causal_mask` build the common ones.
  A query row with no allowed key gets uniform weights (finite, never NaN); such rows are padding and are never read.
- No implicit causality: `is_causal` is False on the module, so SDPA never applies its own causal flag; a causal
  decoder passes its (cache-aware) causal mask explicitly.
- Two cache hooks, both on a transformers `Cache` (a `DynamicCache`, e.g. one half of an `EncoderDecoderCache`) with
  the layer index `cache_index`: self-attention appends this step's keys/values and attends to all stored ones;
  `static_key_value=True` (cross-attention over fixed encoder outputs) projects the keys/values on the first call and
  reuses the stored ones on every later call.
- Attention weights: SDPA returns none; inside `recording_attentions(...)` (what `output_attentions=True` uses) the
  recorded modules run the eager path whatever the configured implementation and append their
  `(batch, heads, queries, keys)` weights.

Parameter names are part of each model's state dict: separate projections are `q_proj`, `k_proj`, `v_proj` (or the
names given as `projection_names`) and the output projection `out_proj` (or the name given as `out_proj_name`);
`fused_qkv=True` gives one `qkv` projection laid out as `[q; k; v]` (timm's layout, Everything at Once).
"""

import contextvars
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from transformers.cache_utils import Cache
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS


def eager_attention_forward(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Explicit softmax attention on `(batch, heads, length, head_dim)` tensors with an additive float mask.

    Returns the output as `(batch, queries, heads, head_dim)` (the layout of transformers' implementations) and the
    weights `(batch, heads, queries, keys)`. The softmax runs in float32 at least, as transformers' eager paths do.
    """
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = nn.functional.softmax(scores, dim=-1, dtype=torch.promote_types(scores.dtype, torch.float32))
    weights = weights.to(query.dtype)
    weights = nn.functional.dropout(weights, p=dropout, training=module.training)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


def padding_mask_to_bool(padding_mask: torch.Tensor | None) -> torch.Tensor | None:
    """`(batch, keys)` padding mask (1 = real) -> boolean `(batch, 1, 1, keys)` attention mask (True = attend)."""
    return None if padding_mask is None else padding_mask.to(torch.bool)[:, None, None, :]


def causal_mask(num_queries: int, num_keys: int, device=None) -> torch.Tensor:
    """Boolean `(1, 1, queries, keys)` mask for queries that are the last `num_queries` of `num_keys` positions
    (the earlier ones come from a cache): query i may attend to keys 0 .. num_keys - num_queries + i."""
    past = num_keys - num_queries
    return torch.ones(num_queries, num_keys, dtype=torch.bool, device=device).tril(past)[None, None]


def additive_mask(mask: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A boolean mask (True = attend) as an additive bias in `dtype` (0 where allowed, the dtype's minimum
    elsewhere); a float mask is returned as it is (cast to `dtype`)."""
    if mask is None:
        return None
    if mask.dtype != torch.bool:
        return mask.to(dtype)
    return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(~mask, torch.finfo(dtype).min)


# ---- attention-weight recording (`output_attentions=True`)
_RECORDER: contextvars.ContextVar[dict[int, list] | None] = contextvars.ContextVar("videozoo_attention_recorder")


@contextmanager
def recording_attentions(
    model: nn.Module,
    groups: dict[str, Callable[[str], bool]],
    enabled: bool = True,
    also: tuple[type[nn.Module], ...] = (),
) -> Iterator[dict[str, list[torch.Tensor]]]:
    """Collect the attention weights of `model`'s `MultiHeadAttention` modules during the `with` block.

    `groups` maps an output field (e.g. `"decoder_attentions"`) to a predicate on the module's qualified name; the
    yielded dict maps each field to the list of weights of its modules, in call order. While recording, the recorded
    modules run the eager path (SDPA kernels do not return weights). With `enabled=False` nothing is recorded and the
    dict stays empty. Context-local (a `ContextVar`), so concurrent forwards do not mix their records.

    `also`: transformers attention classes used inside the model (e.g. `BertSelfAttention` in MMT) that return
    `(output, weights)` and dispatch on `module.config._attn_implementation`; they are recorded through forward
    hooks, and their configs are switched to `"eager"` for the duration of the block (restored afterwards; a
    forward of the same model running concurrently in another thread would also run eager meanwhile).
    """
    recorded: dict[str, list[torch.Tensor]] = {}
    if not enabled:
        yield recorded
        return
    by_module: dict[int, list] = {}
    for field in groups:
        recorded[field] = []
    hooks, configs = [], {}
    for name, module in model.named_modules():
        # MultiHeadAttention, or a module of its own that attends through dispatch_attention
        own = getattr(module, "dispatches_attention", False)
        if not (own or isinstance(module, also)):
            continue
        target = next((recorded[field] for field, predicate in groups.items() if predicate(name)), None)
        if target is None:
            continue
        if own:
            by_module[id(module)] = target
        else:
            configs.setdefault(id(module.config), (module.config, module.config._attn_implementation))
            hooks.append(module.register_forward_hook(lambda _m, _a, out, target=target: target.append(out[1])))
    token = _RECORDER.set(by_module)
    try:
        for config, _ in configs.values():
            config._attn_implementation = "eager"
        yield recorded
    finally:
        _RECORDER.reset(token)
        for hook in hooks:
            hook.remove()
        for config, implementation in configs.values():
            config._attn_implementation = implementation


def attentions_by_prefix(*prefixes: str) -> Callable[[str], bool]:
    """Predicate for `recording_attentions`: the module's qualified name starts with one of `prefixes`."""
    return lambda name: name.startswith(prefixes)


def returns_attentions(*, also: tuple[type[nn.Module], ...] = (), **groups: Callable[[str], bool]):
    """Decorator for a model's `forward`: accepts `output_attentions` (default `config.output_attentions`) and, when
    set, returns the recorded weights in the output fields named by `groups` (see `recording_attentions`), each a
    tuple of `(batch, heads, queries, keys)` tensors in call order; `also` as in `recording_attentions`. Put it
    under `@can_return_tuple`."""

    def decorate(forward):
        @functools.wraps(forward)
        def wrapper(self, *args, output_attentions: bool | None = None, **kwargs):
            if output_attentions is None:
                output_attentions = bool(getattr(self.config, "output_attentions", False))
            with recording_attentions(self, groups, enabled=output_attentions, also=also) as recorded:
                output = forward(self, *args, **kwargs)
            for field, weights in recorded.items():
                output[field] = tuple(weights)
            return output

        return wrapper

    return decorate


def dispatch_attention(
    module: nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float,
    dropout: float = 0.0,
    **kwargs,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Attention of projected `(batch, heads, length, head_dim)` tensors through the implementation configured on
    `module.config` (eager inside `recording_attentions`, whose weights it records). For modules that project in
    their own way (e.g. SpecVQGAN's 1x1-convolution spatial attention); such a module sets `dispatches_attention =
    True` and has `config`. Returns `(batch, queries, heads, head_dim)` and the weights (None from SDPA)."""
    records = _RECORDER.get(None)
    record = records.get(id(module)) if records else None
    implementation = "eager" if record is not None else getattr(module.config, "_attn_implementation", None)
    interface = ALL_ATTENTION_FUNCTIONS.get_interface(implementation or "eager", eager_attention_forward)
    output, weights = interface(
        module,
        query,
        key,
        value,
        additive_mask(attention_mask, query.dtype),
        scaling=scaling,
        dropout=dropout,
        is_causal=False,
        **kwargs,
    )
    if record is not None:
        record.append(weights)
    return output, weights


class MultiHeadAttention(nn.Module):
    """`(batch, queries, hidden_size)` x `(batch, keys, key_size)` -> `(batch, queries, output_size)`.

    Args:
        config: the model config; only its `_attn_implementation` is read, at call time.
        hidden_size: width of the queries (and of the keys/values for self-attention).
        num_heads: number of heads; `inner_size` must be divisible by it.
        key_size: width of the key/value input of cross-attention (default `hidden_size`).
        inner_size: width of the projected queries/keys/values (default `hidden_size`; BMT uses a separate one).
        output_size: width of the output projection (default `hidden_size`).
        bias: biases on the four projections.
        dropout: dropout on the attention weights (training only).
        output_dropout: dropout on the concatenated head outputs before the output projection (BMT's placement).
        fused_qkv: one `qkv` projection instead of `q_proj`/`k_proj`/`v_proj` (self-attention only).
        out_proj_name: attribute (state-dict) name of the output projection.
        projection_names: attribute (state-dict) names of the query, key and value projections.
        cache_index: default layer index in a `Cache` (overridable per call).
        static_key_value: cross-attention whose keys/values are projected once and then reused from the cache.
    """

    is_causal = False  # read by transformers' sdpa_attention_forward: never infer causality
    dispatches_attention = True  # recorded by `recording_attentions`

    def __init__(
        self,
        config,
        hidden_size: int,
        num_heads: int,
        *,
        key_size: int | None = None,
        inner_size: int | None = None,
        output_size: int | None = None,
        bias: bool = True,
        dropout: float = 0.0,
        output_dropout: float = 0.0,
        fused_qkv: bool = False,
        out_proj_name: str = "out_proj",
        projection_names: tuple[str, str, str] = ("q_proj", "k_proj", "v_proj"),
        cache_index: int | None = None,
        static_key_value: bool = False,
    ):
        super().__init__()
        inner_size = inner_size or hidden_size
        if inner_size % num_heads:
            raise ValueError(f"the attention width {inner_size} is not divisible by num_heads {num_heads}")
        if fused_qkv and key_size not in (None, hidden_size):
            raise ValueError("fused_qkv projects one input: it cannot have a separate key_size")
        self.config = config
        self.num_heads = num_heads
        self.head_dim = inner_size // num_heads
        self.scaling = self.head_dim**-0.5
        self.dropout = dropout
        self.output_dropout = nn.Dropout(output_dropout) if output_dropout else None
        self.fused_qkv = fused_qkv
        self.out_proj_name = out_proj_name
        self.cache_index = cache_index
        self.static_key_value = static_key_value
        if fused_qkv:
            self.qkv = nn.Linear(hidden_size, 3 * inner_size, bias=bias)
        else:
            self.projection_names = projection_names
            setattr(self, projection_names[0], nn.Linear(hidden_size, inner_size, bias=bias))
            setattr(self, projection_names[1], nn.Linear(key_size or hidden_size, inner_size, bias=bias))
            setattr(self, projection_names[2], nn.Linear(key_size or hidden_size, inner_size, bias=bias))
        setattr(self, out_proj_name, nn.Linear(inner_size, output_size or hidden_size, bias=bias))

    @property
    def implementation(self) -> str:
        """The configured attention implementation (`config._attn_implementation`, `"eager"` when unset)."""
        return getattr(self.config, "_attn_implementation", None) or "eager"

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], x.shape[1], -1, self.head_dim).transpose(1, 2)

    def _project(self, hidden_states, key_value_states, past_key_values, cache_index):
        if self.fused_qkv:
            if key_value_states is not None:
                raise ValueError("a fused qkv projection attends to its own input: key_value_states must be None")
            batch, length, _ = hidden_states.shape
            qkv = self.qkv(hidden_states).view(batch, length, 3, self.num_heads, self.head_dim)
            query, key, value = qkv.permute(2, 0, 3, 1, 4)
        else:
            q_proj, k_proj, v_proj = (getattr(self, name) for name in self.projection_names)
            query = self._heads(q_proj(hidden_states))
            source = hidden_states if key_value_states is None else key_value_states
            reuse = (
                self.static_key_value
                and past_key_values is not None
                and len(past_key_values.layers) > cache_index
                and past_key_values.layers[cache_index].get_seq_length() > 0
            )
            if reuse:  # cross-attention keys/values stored on the first decoding step
                layer = past_key_values.layers[cache_index]
                return query, layer.keys, layer.values
            key, value = self._heads(k_proj(source)), self._heads(v_proj(source))
        if past_key_values is not None:
            key, value = past_key_values.update(key, value, cache_index)
        return query, key, value

    def forward(
        self,
        hidden_states: torch.Tensor,
        key_value_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        past_key_values: Cache | None = None,
        cache_index: int | None = None,
        **kwargs,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Returns `(output, weights)`; `weights` `(batch, heads, queries, keys)` from the eager path (recorded or
        configured), None from SDPA.

        `key_value_states`: the cross-attention input (None for self-attention). `attention_mask`: boolean (True =
        attend) or additive, broadcastable to `(batch, heads, queries, keys)` (keys include cached ones).
        `past_key_values`: the `Cache` holding this module's keys/values at layer `cache_index` (default: the
        constructor's)."""
        cache_index = self.cache_index if cache_index is None else cache_index
        if past_key_values is not None and cache_index is None:
            raise ValueError("a cache was given but this attention has no cache_index")
        query, key, value = self._project(hidden_states, key_value_states, past_key_values, cache_index)
        output, weights = dispatch_attention(
            self, query, key, value, attention_mask, self.scaling, self.dropout if self.training else 0.0, **kwargs
        )
        output = output.reshape(hidden_states.shape[0], hidden_states.shape[1], -1)
        if self.output_dropout is not None:
            output = self.output_dropout(output)
        return getattr(self, self.out_proj_name)(output), weights
