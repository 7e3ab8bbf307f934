"""Parsing of ``key=weight,...`` mixes (STREAM_*_WEIGHTS)."""

from __future__ import annotations

import math
from collections.abc import Mapping


def parse_weights(raw: str, allowed: Mapping[str, float]) -> tuple[dict[str, float], str | None]:
    """Weights for the keys of ``allowed`` (missing keys weigh 0), or an error message.

    Rules: known keys only, finite numbers >= 0, not all zero.
    """
    names = ", ".join(allowed)
    weights = dict.fromkeys(allowed, 0.0)
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or key not in allowed:
            return dict(allowed), f"must be key=weight pairs with keys among {names}; got {item!r}"
        try:
            weight = float(value)
        except ValueError:
            return dict(allowed), f"weight of {key!r} must be a number >= 0; got {value.strip()!r}"
        if not math.isfinite(weight) or weight < 0:
            return dict(allowed), f"weight of {key!r} must be a finite number >= 0; got {value.strip()!r}"
        weights[key] = weight
    if sum(weights.values()) <= 0:
        return dict(allowed), f"weights must not all be zero (keys: {names})"
    return weights, None
