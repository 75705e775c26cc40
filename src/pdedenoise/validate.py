"""One validation layer for the public API and the command line: each check raises ``ValueError`` (or
``TypeError``) naming the parameter, the value it got and what to do instead — never a silent clamp.

The image checks (shape (N, C, H, W), floating dtype, finite values) are :func:`pdedenoise.stencils.check_image`
and :func:`~pdedenoise.stencils.check_finite`; this module holds the scalar and per-image parameter checks.
"""
from __future__ import annotations

import math
import numbers

import torch


def _value(value) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError("expected a number")
        return float(value.detach())
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError("expected a number")
    return float(value)


def number(name: str, value, low: float = -math.inf, high: float = math.inf, low_open: bool = False,
           fix: str = "") -> float:
    """``value`` as a float, finite and in ``[low, high]`` (``(low, high]`` with ``low_open``), or a ValueError."""
    try:
        x = _value(value)
    except TypeError:
        raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}") from None
    if not math.isfinite(x):
        raise ValueError(f"{name} must be a finite number, got {x}" + (f"; {fix}" if fix else ""))
    if x < low or (low_open and x == low) or x > high:
        if math.isinf(high):
            rule = f"be {'>' if low_open else '>='} {low:g}"
        else:
            rule = f"lie in {'(' if low_open else '['}{low:g}, {high:g}]"
        raise ValueError(f"{name} must {rule}, got {x:g}" + (f"; {fix}" if fix else ""))
    return x


def positive(name: str, value, fix: str = "") -> float:
    """A finite number > 0."""
    return number(name, value, 0.0, low_open=True, fix=fix)


def nonnegative(name: str, value, fix: str = "") -> float:
    """A finite number >= 0."""
    return number(name, value, 0.0, fix=fix)


def count(name: str, value, minimum: int = 0) -> int:
    """A whole number >= ``minimum`` (an integral float such as 10.0 is accepted; 2.5 is not)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a whole number, got {value!r}")
    try:
        x = _value(value)
    except TypeError:
        raise TypeError(f"{name} must be a whole number, got {type(value).__name__} {value!r}") from None
    if not math.isfinite(x) or x != int(x):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if int(x) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {int(x)}")
    return int(x)


def data_range(value) -> float:
    """The peak value of a metric: finite and > 0 (255 for 0–255 images, 1 for 0–1 images)."""
    return positive("data_range", value, "use 255 for images on 0-255 or 1 for images on 0-1")


def per_image(name: str, value: torch.Tensor, batch: int) -> None:
    """A per-image tensor must have one entry per image (or a single one that broadcasts)."""
    if value.ndim == 1 and value.numel() not in (1, batch):
        raise ValueError(f"{name} has {value.numel()} values for a batch of {batch} images; give one value, or one "
                         "per image (shape (N,))")


def squarable(name: str, value: float, dtype: torch.dtype) -> float:
    """A contrast ``K`` whose square is a normal number of ``dtype`` (``d^2 / K^2`` must not overflow to inf/nan)."""
    tiny = torch.finfo(dtype).tiny
    if value * value < tiny * 1e6:
        smallest = math.sqrt(tiny * 1e6)
        raise ValueError(f"{name}={value:g} is too small: {name}^2 underflows in {str(dtype).replace('torch.', '')} "
                         f"(the smallest usable {name} is about {smallest:.1g}, in the image's units)")
    return value
