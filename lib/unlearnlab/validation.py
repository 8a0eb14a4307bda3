"""Checks of user-given numbers, each naming the value it refuses and the range it
wanted ("lr must be a finite number > 0, got nan"), so that a wrong request fails where
it enters instead of producing wrong results later."""

from __future__ import annotations

import math
import numbers
from typing import Any


def check_int(name: str, value: Any, *, minimum: int | None = None) -> int:
    """``value`` as an int (numpy integers accepted; bools, floats and strings refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_float(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None,
                exclusive_minimum: bool = False, exclusive_maximum: bool = False) -> float:
    """``value`` as a finite float within the given bounds (ints accepted, bools refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    low = "" if minimum is None else f"{'>' if exclusive_minimum else '>='} {minimum:g}"
    high = "" if maximum is None else f"{'<' if exclusive_maximum else '<='} {maximum:g}"
    wanted = f"{name} must be a finite number{' ' + low if low else ''}{' and ' if low and high else ''}{high}"
    if not math.isfinite(value):
        raise ValueError(f"{wanted}, got {value!r}")
    if minimum is not None and (value < minimum or (exclusive_minimum and value == minimum)):
        raise ValueError(f"{wanted}, got {value!r}")
    if maximum is not None and (value > maximum or (exclusive_maximum and value == maximum)):
        raise ValueError(f"{wanted}, got {value!r}")
    return value


#: Numeric hyperparameters that also take a named value (lrp_path's noise at each weight
#: tensor's own standard deviation).
NAMED_VALUES = {"noise_scale": ("tensor_std",)}


def check_hyperparameter(method: str, name: str, value: Any, default: Any) -> None:
    """Check one keyword argument of a method against its default's type and the range
    its name implies: learning rates and temperatures > 0; epochs, steps and batch sizes
    positive ints (``*_epochs`` may be 0); shares and fractions in [0, 1]. Every float is
    finite. Names and choices specific to one method are the method's own check."""
    label = f"{method}: {name}"
    if default is None:  # optional override (retrain's epochs, lrp_path's k): checked when given
        if value is not None and _is_count(name) and not (
                isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)):
            check_int(label, value, minimum=1)  # a float (a share) is the method's own check
        return
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise TypeError(f"{label} must be True or False, got {value!r}")
        return
    if isinstance(default, numbers.Integral):
        minimum = 0 if name.endswith("_epochs") else 1 if _is_count(name) else None
        check_int(label, value, minimum=minimum)
        return
    if isinstance(value, str) and value in NAMED_VALUES.get(name, ()):
        return
    if isinstance(default, numbers.Real):
        if name == "lr" or name.endswith("_lr") or "temperature" in name:
            check_float(label, value, minimum=0.0, exclusive_minimum=True)
        elif name.endswith(("_share", "fraction")) or name == "keep":
            check_float(label, value, minimum=0.0, maximum=1.0)
        elif name in ("weight_decay", "momentum") or "lambda" in name:
            check_float(label, value, minimum=0.0)
        else:
            check_float(label, value)
        return
    if isinstance(default, str) and not isinstance(value, str):
        raise TypeError(f"{label} must be a string, got {value!r}")


def _is_count(name: str) -> bool:
    return (name in ("epochs", "steps", "batch_size") or name.endswith(("_steps", "_passes", "_batch_size", "batch"))
            or name.startswith("n_") or name.endswith("_per_sample") or name.endswith("per_class"))
