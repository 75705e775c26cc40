"""One switch for the book's compiled kernels, and the earlier plain path for comparisons.

A few hot spots of the learned models (the Fields-of-Experts spline sum, the TNRD influence table) are written as
small functions that ``torch.compile`` turns into fused loops, about 10x faster per call than the eager operations
after a compilation of seconds on the first call of each shape. That pays in long training runs and benchmarks, not
in tests or short notebook runs, so it is off by default: on with ``PDEDENOISE_COMPILE=1`` or :func:`use_compiled`.
:func:`reference_path` runs the models' earlier formulation instead (table lookups through autograd, oneDNN's
convolution backward), for benchmarks and tests that compare the two.
"""
from __future__ import annotations

import contextlib
import os
from typing import Callable

_STATE: dict = {}


def use_compiled(enable: bool | None = None) -> bool:
    """Set (``True``/``False``) or read (``None``) whether :func:`kernel` compiles; returns the setting in force
    (default: ``PDEDENOISE_COMPILE=1`` in the environment)."""
    if enable is not None:
        _STATE["compiled"] = bool(enable)
    return _STATE.get("compiled", os.environ.get("PDEDENOISE_COMPILE", "0") == "1")


def kernel(name: str, fn: Callable) -> Callable:
    """``fn``, or its ``torch.compile``'d twin (made once per ``name``) when :func:`use_compiled` is on."""
    if not use_compiled():
        return fn
    key = ("kernel", name)
    if key not in _STATE:
        import torch

        _STATE[key] = torch.compile(fn, dynamic=None)
    return _STATE[key]


def reference() -> bool:
    """Whether :func:`reference_path` is in force."""
    return _STATE.get("reference", False)


@contextlib.contextmanager
def reference_path():
    """Within the block, models run their earlier, plain formulation (see the module docstring)."""
    before = reference()
    _STATE["reference"] = True
    try:
        yield
    finally:
        _STATE["reference"] = before
