"""How many CPU threads pdedenoise uses, and why (a policy measured on a shared two-core machine).

* **The explicit solver runs on one thread.** Its CPU path (:mod:`pdedenoise.solvers.blocked`) works on
  cache-sized strips; with one thread per call it is unaffected by other processes, while on the
  book's two-core machine two threads gained at most 1.9x when the machine was idle and lost 2x (median
  against best time) as soon as another process kept one core busy: every operation's parallel region
  waits for the thread that is not scheduled. :func:`solver_threads` says how many threads the solver
  uses: ``$PDEDENOISE_SOLVER_THREADS``, else 1.
* **Everything else** (convolutions when training networks) uses PyTorch's intra-op threads, which
  :func:`configure` sets once for a process (the notebooks and the command line call it):
  ``$PDEDENOISE_NUM_THREADS``, else ``$OMP_NUM_THREADS``, else PyTorch's default (one per core). It
  does not adapt to the machine's load on purpose: the thread count can change the last bits of a
  trained network (parallel reductions), and a notebook should give the same numbers every time on
  the same machine. The PINN of chapter 1 trains on one thread (its tensors are small).
"""
from __future__ import annotations

import os
from contextlib import contextmanager

import torch

NUM_THREADS_ENV = "PDEDENOISE_NUM_THREADS"
SOLVER_THREADS_ENV = "PDEDENOISE_SOLVER_THREADS"


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    if value in (None, ""):
        return None
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f"${name} must be a whole number of threads >= 1, got {value!r}") from None
    if n < 1:
        raise ValueError(f"${name} must be >= 1, got {n}")
    return n


def default_threads() -> int:
    """The intra-op threads :func:`configure` chooses (see the module docstring)."""
    for name in (NUM_THREADS_ENV, "OMP_NUM_THREADS"):
        n = _env_int(name)
        if n is not None:
            return n
    return torch.get_num_threads()


def configure(threads: int | None = None) -> int:
    """Set PyTorch's intra-op threads for this process (``threads`` or :func:`default_threads`); returns it."""
    n = threads if threads is not None else default_threads()
    if n < 1:
        raise ValueError(f"threads must be >= 1, got {n}")
    torch.set_num_threads(n)
    return n


def solver_threads() -> int:
    """Threads of the explicit solver's CPU path: ``$PDEDENOISE_SOLVER_THREADS``, else 1."""
    return _env_int(SOLVER_THREADS_ENV) or 1


@contextmanager
def limited(n: int):
    """Run a block with at most ``n`` intra-op threads, restoring the previous setting afterwards."""
    previous = torch.get_num_threads()
    if n < previous:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
