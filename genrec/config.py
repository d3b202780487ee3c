"""Checking config sections against their dataclasses, and the config reference they document.

Every check follows the dataclass: a key is known when it is a field, its type is the field's
annotation, and its meaning is the field's comment. So fields added to ModelConfig,
TrainConfig, EvalConfig, IndexConfig or DataConfig are checked and documented without an edit
here; only value ranges that differ from "numbers are >= 0" are listed below.

    python -m genrec.config_docs > docs/config.md   # regenerate the reference (a test compares)
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from typing import Any

from genrec.errors import GenrecError


class ConfigError(GenrecError, ValueError):
    """A config key with a wrong type or an impossible value; the message names the key."""


# key -> (lowest, highest) allowed; numbers not listed must be >= 0 (and finite)
RANGES: dict[str, tuple[float, float]] = {
    "epochs": (1, math.inf), "batch_size": (1, math.inf), "beam": (1, math.inf),
    "k": (1, math.inf), "d_model": (1, math.inf), "n_heads": (1, math.inf),
    "d_ff": (1, math.inf), "encoder_layers": (1, math.inf), "decoder_layers": (1, math.inf),
    "max_items": (1, math.inf), "levels": (1, 16), "codebook_size": (2, math.inf),
    "lr": (1e-12, math.inf), "eval_every": (1, math.inf), "rqvae_epochs": (1, math.inf),
    "title_words": (1, math.inf), "dropout": (0, 0.99), "min_lr_ratio": (0, 1),
}
# set from the index, never by hand
DERIVED = {"ModelConfig": ("level_sizes", "shared_vocab", "n_items")}


def check_section(kind: type, values: Any, section: str) -> dict[str, Any]:
    """`values` checked against dataclass `kind`: unknown keys, types and ranges, each error
    one line naming `section.key`. Returns the values (ints accepted where floats are)."""
    if not isinstance(values, dict):
        raise ConfigError(f"[{section}] must be a table of keys, not {type(values).__name__}")
    hints = typing.get_type_hints(kind)
    known = [f.name for f in dataclasses.fields(kind)
             if f.name not in DERIVED.get(kind.__name__, ())]
    unknown = sorted(set(values) - set(known))
    if unknown:
        where = f"[{section}] has unknown key" if section else "unknown top-level key"
        raise ConfigError(f"{where} {unknown[0]!r}; known: {', '.join(known)}")
    return {key: _check_value(f"{section}.{key}" if section else key, value, hints[key])
            for key, value in values.items()}


def build_section(kind: type, values: Any, section: str) -> Any:
    """check_section, then the dataclass; its own checks' errors are prefixed with the section."""
    checked = check_section(kind, values, section)
    try:
        return kind(**checked)
    except (ValueError, TypeError) as err:
        raise ConfigError(f"[{section}] {err}") from None


def _check_value(key: str, value: Any, hint: Any) -> Any:
    name = key.rsplit(".", 1)[-1]
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _check_value(key, value, option)
            except ConfigError as err:
                errors.append(err)
        raise errors[0]
    if hint is Any:
        return value
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list, not {_shown(value)}")
        (item,) = typing.get_args(hint)[:1] or (Any,)
        return [_check_value(f"{key}[{i}]", v, item) for i, v in enumerate(value)]
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a table, not {_shown(value)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, not {_shown(value)}")
        return value
    if hint in (int, float):
        ok = isinstance(value, int) and not isinstance(value, bool)
        ok = ok or (hint is float and isinstance(value, float))
        if not ok:
            kind = "an integer" if hint is int else "a number"
            raise ConfigError(f"{key} must be {kind}, not {_shown(value)}")
        low, high = RANGES.get(name, (0, math.inf))
        if not math.isfinite(value) or not low <= value <= high:
            span = f">= {_num(low)}" if high == math.inf else f"in [{_num(low)}, {_num(high)}]"
            raise ConfigError(f"{key} must be {span}, got {value}")
        return float(value) if hint is float else value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string, not {_shown(value)}")
        return value
    return value


def _shown(value: Any) -> str:
    return f"{type(value).__name__} {value!r}"[:80]


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"
