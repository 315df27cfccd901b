"""Reading the authors' pickled checkpoints without running code from them.

Lightning / OmegaConf checkpoints (SparseSync's `.pt`, SpecVQGAN's `.ckpt`) pickle their configuration objects next to
the tensors, so `torch.load(weights_only=True)` refuses them. `torch.load(..., weights_only=False,
pickle_module=restricted_pickle)` reads them with an allow-list instead: tensors, storages, numpy arrays and plain
containers load; OmegaConf's containers and nodes (and `typing`, `enum`, `pathlib` objects) become inert stand-ins
that only keep their state; anything else is refused. `plain()` turns a stand-in tree back into dicts and lists.
"""

import pickle
import re
import types


class _Inert:
    """Stand-in for a class pickled in a checkpoint (OmegaConf's containers and nodes): keeps state, runs nothing."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __setstate__(self, state):
        self.__dict__.update(state if isinstance(state, dict) else {"state": state})

    def __call__(self, *args, **kwargs):
        return _Inert(*args)


_TORCH_ALLOWED = re.compile(
    r"^(_rebuild_\w+|\w*Storage|Size|float\d*|half|bfloat16|int\d*|uint8|bool|long|double|device)$"
)
_ALLOWED = {
    ("collections", "OrderedDict"),
    ("collections", "defaultdict"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "slice"),
    ("builtins", "complex"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch.nn.parameter", "Parameter"),
}


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        module = {"__builtin__": "builtins", "copy_reg": "copyreg"}.get(module, module)  # protocol-2 names
        if module.split(".")[0] in ("omegaconf", "typing", "enum") or module == "pathlib":
            return _Inert
        if (module, name) in _ALLOWED or (module in ("torch", "torch._utils") and _TORCH_ALLOWED.match(name)):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name} from a checkpoint (only tensors and configs are read)"
        )


restricted_pickle = types.SimpleNamespace(
    Unpickler=RestrictedUnpickler, load=pickle.load, __name__="restricted_pickle"
)


def plain(value):
    """An OmegaConf stand-in tree -> plain dicts, lists and values."""
    if isinstance(value, _Inert):
        state = value.__dict__
        if "_content" in state:
            return plain(state["_content"])
        if "_val" in state:
            return plain(state["_val"])
        return None
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
