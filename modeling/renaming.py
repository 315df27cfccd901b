"""Renaming parameters by an ordered table of regular-expression rules (checkpoint conversions, weight starts)."""

import re
from collections.abc import Iterable


def rename_key(key: str, rules: Iterable[tuple[str, str]]) -> str:
    """Apply every `(pattern, replacement)` rule of `rules`, in order, to one parameter name (`re.sub` semantics)."""
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


__all__ = ["rename_key"]
