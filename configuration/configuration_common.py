"""What every videozoo configuration shares."""

import functools
import re


class CheckedModelTypeMixin:
    """Refuse a config of another `model_type` instead of transformers' warning-and-continue.

    Loading, say, a BERT checkpoint into an MMT model would otherwise build a broken model from unrelated fields.
    A class may list, in `loadable_from`, model types whose configs nest one of its own under a key (e.g. a
    pre-training model that contains an MMT): loading such a checkpoint takes that nested config.
    """

    loadable_from = {}  # model_type -> key of the nested config

    @classmethod
    def from_dict(cls, config_dict: dict, **kwargs):
        found = config_dict.get("model_type")
        if found in cls.loadable_from and isinstance(config_dict.get(cls.loadable_from[found]), dict):
            config_dict = config_dict[cls.loadable_from[found]]
            found = config_dict.get("model_type")
        if found and getattr(cls, "model_type", None) and found != cls.model_type:
            raise ValueError(
                f"this checkpoint is a {found!r} model, not {cls.model_type!r}: load it with the class for {found!r} "
                f"(or `AutoModel`), or give a {cls.model_type!r} checkpoint"
            )
        return super().from_dict(config_dict, **kwargs)


class InvalidConfigError(ValueError, TypeError):
    """A configuration value is wrong (type, range or consistency). A `ValueError` (and, for the type errors of
    strict dataclass fields, also a `TypeError`), so `except ValueError` catches every configuration error."""


_POSITIVE = re.compile(r"(^|_)(size|dim|heads|bins|classes|selectors|width|widths|sizes|channels|divisor)$")
_NON_NEGATIVE = re.compile(r"(^|_)layers$")


def _check_ranges(config) -> None:
    """Sizes, widths, dimensions and head counts of a config's own fields are positive; layer counts are >= 0.
    A class lists in `zero_allowed_fields` the fields where 0 means "none" (e.g. no class condition): those
    must not be negative."""
    zero_allowed = getattr(type(config), "zero_allowed_fields", ())
    own = {}
    for klass in reversed(type(config).__mro__):
        own.update(getattr(klass, "__annotations__", {}))
    for name in own:
        if name.startswith("_") or not hasattr(config, name):
            continue
        value = getattr(config, name)
        values = list(value) if isinstance(value, (list, tuple)) else [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            continue
        if name in zero_allowed and any(v < 0 for v in values):
            raise ValueError(f"{name} must not be negative, got {value!r}")
        if _POSITIVE.search(name) and name not in zero_allowed and any(v <= 0 for v in values):
            raise ValueError(f"{name} must be positive, got {value!r}")
        if _NON_NEGATIVE.search(name) and any(v < 0 for v in values):
            raise ValueError(f"{name} must not be negative, got {value!r}")


def config_value_errors(cls):
    """Class decorator, placed above `@strict`: every error of building or changing the config (a field of the wrong
    type, a failed class validator, a non-positive size) is raised as `InvalidConfigError`, a `ValueError` that names
    the config class and the field. `huggingface_hub`'s strict-dataclass errors derive from `Exception` only."""
    from huggingface_hub.errors import StrictDataclassError

    init, setattr_, validate = cls.__init__, cls.__setattr__, cls.validate

    def _reraise(error):
        raise InvalidConfigError(f"{cls.__name__}: {error}") from error

    @functools.wraps(init)
    def __init__(self, *args, **kwargs):
        try:
            init(self, *args, **kwargs)
            _check_ranges(self)
        except (StrictDataclassError, ValueError, TypeError, ArithmeticError) as error:
            # a validator may trip over a zero size (`x % 0`) or name several fields: name the zero field
            try:
                _check_ranges(self)
            except ValueError as range_error:
                _reraise(range_error)
            if isinstance(error, InvalidConfigError):
                raise
            _reraise(error)

    @functools.wraps(setattr_)
    def __setattr__(self, name, value):
        try:
            setattr_(self, name, value)
        except StrictDataclassError as error:
            _reraise(error)

    @functools.wraps(validate)
    def validate_(self):
        try:
            validate(self)
        except StrictDataclassError as error:
            _reraise(error)

    validate_.__is_defined_by_strict_decorator__ = True  # a subclass decorated with @strict may replace it
    cls.__init__, cls.__setattr__, cls.validate = __init__, __setattr__, validate_
    return cls
