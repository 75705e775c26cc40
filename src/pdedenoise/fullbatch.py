"""Full-batch L-BFGS that runs in resumable pieces: one phase of a long training, saved after any iteration.

A phase minimises ``sum_chunks loss(fn(*inputs[chunk]), target[chunk])`` (by default half the sum of squared
errors, the loss of Chen and Pock's TNRD training) over the trainable ``params`` with
``torch.optim.LBFGS(params, history_size=m, max_iter=1, line_search_fn="strong_wolfe")``, called once per outer
iteration so that the state can be saved between iterations::

    hist = lbfgs(model, model, (noisy,), clean, LBFGSConfig(iterations=300, checkpoint="run.state.pt"),
                 run={"sigma": 25}, phase="joint")

* **Data**: ``inputs`` a tuple of tensors with the same first dimension N (images (N, 1, H, W), 0–255) passed
  chunk by chunk to ``fn``; ``target`` (N, ...). The full-batch loss and gradient are accumulated over chunks of
  ``chunk`` images (one chunk's graph in memory at a time). ``fn`` may be a whole model, or one stage applied to
  cached inputs (greedy training: the earlier, frozen stages computed once without gradients).
* **Evaluations**: each L-BFGS iteration evaluates the loss at its start and at each line-search point; the start
  of one iteration is the accepted point of the previous one, so evaluations are remembered by the exact parameter
  values and not repeated (only the first iteration of a piece recomputes its start, which gives the same bits).
* **Checkpoint** (``config.checkpoint``): the model's ``state_dict``, the optimiser's (its curvature pairs,
  direction, step), the :class:`LBFGSHistory` (iterations, losses, evaluations, pieces), the run's and the phase's
  fingerprints and the caller's ``state``, written atomically (:mod:`pdedenoise.atomic`) every
  ``save_every_seconds``, when ``max_seconds`` or ``piece_iterations`` end a piece, on SIGTERM (after the
  iteration in progress; then :class:`~pdedenoise.train.TrainingInterrupted` is raised) and at the end. A phase
  resumed from it equals an uninterrupted one bit for bit (tested), on the same thread count and kernels.
* **Phases**: a run is a sequence of phases (greedy stages, then joint) sharing one checkpoint file. A call
  resumes the checkpoint of its own phase; a *completed* checkpoint of one of the ``previous`` phases of the same
  run is the starting point of this one (the caller has loaded its weights); anything else -- another run
  (``run``, model shapes) or the same phase with other settings or data -- is refused with
  :class:`~pdedenoise.train.CheckpointMismatch`.
* **Progress**: a tqdm bar on a terminal, else a line every ``log_every_seconds`` with the iteration, the rate,
  the loss, the step length (shown as ``lr``) and the time left (:class:`pdedenoise.train._Progress`).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence, Union

import torch
from torch import nn

from .train import (CheckpointMismatch, RunRecord, TrainingInterrupted, _double_sum, _Progress, _save_atomic,
                    _SigtermFlag, load_checkpoint)

__all__ = ["LBFGSConfig", "LBFGSHistory", "lbfgs", "full_batch_loss", "half_sse", "peek", "CheckpointMismatch",
           "TrainingInterrupted"]


def half_sse(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``1/2 sum (out - target)^2`` over the whole chunk (TNRD's training loss)."""
    return 0.5 * (out - target).pow(2).sum()


@dataclass
class LBFGSConfig:
    """Settings of one phase.

    Attributes:
        iterations: outer L-BFGS iterations of the phase (each one direction and one strong-Wolfe line search).
        history_size: curvature pairs kept (``m``).
        lr: the line search's first trial step (after the first iteration; torch's rule).
        line_search: evaluations allowed to one strong-Wolfe line search (torch's default 25; with ``max_iter=1``
            torch's own default would allow none).
        tolerance_grad, tolerance_change: torch's stopping tests; when an iteration stops on them without moving,
            the phase ends as ``converged``.
        chunk: images per forward/backward (memory, not the result beyond round-off).
        checkpoint: the state file; None for none (then no pieces).
        save_every_seconds: save after the first iteration ending this long after the last save.
        max_seconds: end this call, saved, after the first iteration past this wall time.
        piece_iterations: end this call, saved, after this many iterations.
        resume: continue from ``checkpoint`` when it holds this phase.
        progress, log_every_seconds, desc: progress display.
    """

    iterations: int = 100
    history_size: int = 10
    lr: float = 1.0
    line_search: int = 25
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-9
    chunk: int = 50
    checkpoint: Union[str, Path, None] = None
    save_every_seconds: float | None = None
    max_seconds: float | None = None
    piece_iterations: int | None = None
    resume: bool = True
    progress: bool = True
    log_every_seconds: float = 60.0
    desc: str = "L-BFGS"

    def __post_init__(self):
        from . import validate

        validate.count("iterations", self.iterations, 1)
        validate.count("history_size", self.history_size, 1)
        validate.count("chunk", self.chunk, 1)
        validate.count("line_search", self.line_search, 1)
        validate.positive("lr", self.lr)
        for name in ("save_every_seconds", "max_seconds"):
            if getattr(self, name) is not None:
                validate.positive(name, getattr(self, name))
        if self.piece_iterations is not None:
            validate.count("piece_iterations", self.piece_iterations, 1)
        if (self.max_seconds is not None or self.piece_iterations is not None) and self.checkpoint is None:
            raise ValueError("max_seconds and piece_iterations end a phase early: set checkpoint so the next call "
                             "can continue it")


#: settings that change what a phase computes (a checkpoint made with others is not resumed)
_PHASE_FIELDS = ("iterations", "history_size", "lr", "line_search", "tolerance_grad", "tolerance_change", "chunk")


@dataclass
class LBFGSHistory(RunRecord):
    """What a phase recorded: ``loss[0]`` at the start, ``loss[k]`` after iteration ``k`` (at the accepted point)."""

    phase: str = ""
    iterations: int = 0
    loss: list[float] = field(default_factory=list)
    #: loss-and-gradient evaluations over the whole data (line-search points included)
    evaluations: int = 0
    #: seconds spent in each iteration
    seconds: list[float] = field(default_factory=list)
    complete: bool = False
    #: ``"iterations"`` or ``"converged"`` once complete
    reason: str = ""
    #: one dict per call that ran: ``first_iteration``, ``last_iteration``, ``seconds``, ``device``, ``threads``,
    #: ``ended`` ("complete", "time limit", "piece_iterations", "SIGTERM", or "killed": no last save), and the
    #: caller's ``piece_info``
    pieces: list[dict] = field(default_factory=list)


def full_batch_loss(fn: Callable[..., torch.Tensor], params: Sequence[torch.Tensor], inputs: Sequence[torch.Tensor],
                    target: torch.Tensor, chunk: int, loss: Callable = half_sse) -> float:
    """The loss summed over all images, its gradient accumulated into ``p.grad`` of ``params`` (zeroed first),
    a chunk of ``chunk`` images at a time; returns the loss as a Python float (summed in float64)."""
    n = target.shape[0]
    if any(x.shape[0] != n for x in inputs):
        raise ValueError(f"inputs and target differ in length: {[x.shape[0] for x in inputs]} vs {n}")
    for p in params:
        p.grad = torch.zeros_like(p)
    total = 0.0
    for i in range(0, n, chunk):
        value = loss(fn(*(x[i:i + chunk] for x in inputs)), target[i:i + chunk])
        value.backward()
        total += float(value.detach().double())
    return total


class _Memo:
    """Evaluations of the current iteration, keyed by the exact parameter values (see the module docstring)."""

    def __init__(self, params):
        self.params, self.entries = params, []

    def flat(self) -> torch.Tensor:
        return torch.cat([p.detach().reshape(-1) for p in self.params])

    def find(self):
        x = self.flat()
        for key, value, grads in self.entries:
            if torch.equal(key, x):
                return value, grads
        return None

    def add(self, value: float) -> None:
        self.entries.append((self.flat().clone(), value, [p.grad.detach().clone() for p in self.params]))

    def keep_current(self) -> None:
        hit = self.find()
        self.entries = [] if hit is None else [(self.flat().clone(), *hit)]


def _fingerprints(model: nn.Module, params, data, cfg: LBFGSConfig, run: dict, phase: str) -> tuple[dict, dict]:
    run_fp = {"run": run, "model": [[k, list(v.shape)] for k, v in model.state_dict().items()]}
    phase_fp = {"phase": phase, **{k: getattr(cfg, k) for k in _PHASE_FIELDS},
                "params": [list(p.shape) for p in params],
                "data": [[list(t.shape), round(_double_sum(t), 6)] for t in data]}
    return run_fp, phase_fp


def peek(path: str | Path, run: dict, model: nn.Module) -> dict | None:
    """The checkpoint at ``path`` (None when there is none) after checking that it belongs to this ``run`` and
    ``model``'s shapes; raises :class:`CheckpointMismatch` naming the difference otherwise."""
    path = Path(path)
    if not path.exists():
        return None
    saved = load_checkpoint(path)
    run_fp = {"run": run, "model": [[k, list(v.shape)] for k, v in model.state_dict().items()]}
    _require(path, saved.get("run"), run_fp, "run")
    return saved


def _require(path: Path, stored: dict | None, current: dict, what: str) -> None:
    if stored is None:
        raise CheckpointMismatch(f"{path} records no {what} configuration (not a full-batch L-BFGS state?): delete "
                                 "it to start afresh, or pass resume=False")
    diff = [k for k in sorted(set(stored) | set(current)) if stored.get(k) != current.get(k)]
    if diff:
        shown = "; ".join(f"{k}: {stored.get(k)!r} there, {current.get(k)!r} here" if k not in ("model", "data")
                          else f"{k} differs" for k in diff)
        raise CheckpointMismatch(f"{path} was made by another {what} ({shown}); resuming it would return its "
                                 "weights as if this one had trained them. Delete it to start afresh, or pass "
                                 "resume=False")


def lbfgs(model: nn.Module, fn: Callable[..., torch.Tensor], inputs: Sequence[torch.Tensor], target: torch.Tensor,
          config: LBFGSConfig, params: Sequence[torch.Tensor] | None = None, run: dict | None = None,
          phase: str = "", previous: Sequence[str] = (), state: dict | None = None, loss: Callable = half_sse,
          piece_info: dict | None = None, on_evaluation: Callable[[int], None] | None = None,
          data_fingerprint: Sequence[torch.Tensor] | None = None) -> LBFGSHistory:
    """Run (or continue) one full-batch L-BFGS phase; ``model``'s parameters change in place.

    Args:
        model: the module whose ``state_dict`` is saved and restored (all of it, frozen parts included).
        fn: ``fn(*inputs_chunk) -> output`` (e.g. ``model``, or one stage on cached inputs).
        inputs: tensors with first dimension N, passed to ``fn`` a chunk at a time; target: (N, ...).
        config: :class:`LBFGSConfig`.
        params: the trained tensors (default: all of ``model``'s).
        run: plain data naming the whole run (e.g. model size, sigma, data seed); a checkpoint of another is refused.
        phase: this phase's name; previous: the names of the phases before it (see the module docstring).
        state: the caller's record, saved with every checkpoint and restored in place when this phase resumes.
        loss: ``loss(out_chunk, target_chunk)`` summed over chunks (default :func:`half_sse`).
        piece_info: plain data added to this call's entry of :attr:`LBFGSHistory.pieces`.
        on_evaluation: called with the count of evaluations so far after each one (tests, timing).
        data_fingerprint: the tensors that identify the phase's data in its fingerprint (default ``inputs`` and
            ``target``); e.g. the noisy and clean images when ``inputs`` holds stage inputs computed from them,
            whose round-off may differ on another machine.

    Returns the phase's :class:`LBFGSHistory` (``complete`` False after a piece that ended early).
    """
    cfg = config
    params = list(model.parameters()) if params is None else list(params)
    run = dict(run or {})
    opt = torch.optim.LBFGS(params, lr=cfg.lr, max_iter=1, max_eval=1 + cfg.line_search,
                            history_size=cfg.history_size,
                            tolerance_grad=cfg.tolerance_grad, tolerance_change=cfg.tolerance_change,
                            line_search_fn="strong_wolfe")
    history = LBFGSHistory(phase=phase)
    ckpt = Path(cfg.checkpoint) if cfg.checkpoint else None
    run_fp, phase_fp = _fingerprints(model, params, (*inputs, target) if data_fingerprint is None
                                     else tuple(data_fingerprint), cfg, run, phase)
    if ckpt is not None and cfg.resume and ckpt.exists():
        saved = load_checkpoint(ckpt)
        _require(ckpt, saved.get("run"), run_fp, "run")
        stored_phase = (saved.get("phase") or {}).get("phase")
        if stored_phase == phase:
            _require(ckpt, saved.get("phase"), phase_fp, "phase")
            model.load_state_dict(saved["model"])
            opt.load_state_dict(saved["optimizer"])
            history = LBFGSHistory.from_dict(saved["history"])
            if state is not None:
                state.clear()
                state.update(saved.get("caller_state", {}))
        elif not (stored_phase in previous and saved["history"]["complete"]):
            raise CheckpointMismatch(
                f"{ckpt} holds phase {stored_phase!r} ({'complete' if saved['history']['complete'] else 'not complete'})"
                f", which is not a finished phase before {phase!r} (those: {list(previous)}); continue that phase "
                "first, or delete the file to start afresh")
        else:  # a finished earlier phase: this one starts from its weights
            model.load_state_dict(saved["model"])

    memo = _Memo(params)
    counter = {"n": 0}

    def closure():
        hit = memo.find()
        if hit is not None:
            value, grads = hit
            for p, g in zip(params, grads):
                p.grad = g.clone()
            return torch.tensor(value, dtype=torch.float64)
        value = full_batch_loss(fn, params, inputs, target, cfg.chunk, loss)
        if not math.isfinite(value):
            raise FloatingPointError(f"the full-batch loss became {value} in phase {phase!r} at iteration "
                                     f"{history.iterations}; the line search left the stable region")
        memo.add(value)
        counter["n"] += 1
        history.evaluations += 1
        if on_evaluation is not None:
            on_evaluation(history.evaluations)
        return torch.tensor(value, dtype=torch.float64)

    def save() -> None:
        if ckpt is not None:
            _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "history": history.to_dict(),
                          "run": run_fp, "phase": phase_fp, "caller_state": state if state is not None else {}}, ckpt)

    piece = {"first_iteration": history.iterations, "last_iteration": history.iterations, "seconds": 0.0,
             "device": str(target.device), "threads": torch.get_num_threads(), "ended": "complete",
             **(piece_info or {})}
    t_piece = time.perf_counter()
    last_save = t_piece
    progress = _Progress(cfg.iterations, history.iterations, cfg.desc, cfg.log_every_seconds,
                         cfg.progress and not history.complete)
    ended = None
    try:
        with _SigtermFlag() as sigterm:
            if not history.loss and not history.complete:
                history.loss.append(float(closure()))
            while not history.complete:
                t0 = time.perf_counter()
                before = memo.flat().clone()
                opt.step(closure)
                moved = not torch.equal(before, memo.flat())
                hit = memo.find()
                value = hit[0] if hit is not None else float(closure())
                memo.keep_current()
                history.iterations += 1
                history.loss.append(value)
                history.seconds.append(time.perf_counter() - t0)
                if not moved:  # stopped on torch's tolerances before taking a step
                    history.complete, history.reason = True, "converged"
                elif history.iterations >= cfg.iterations:
                    history.complete, history.reason = True, "iterations"
                progress.update(value, float(opt.state[params[0]].get("t", float("nan"))))
                if history.complete:
                    break
                now = time.perf_counter()
                if sigterm.raised:
                    ended = "SIGTERM"
                elif cfg.max_seconds is not None and now - t_piece >= cfg.max_seconds:
                    ended = "time limit"
                elif cfg.piece_iterations is not None and \
                        history.iterations - piece["first_iteration"] >= cfg.piece_iterations:
                    ended = "piece_iterations"
                if ended or (cfg.save_every_seconds is not None and now - last_save >= cfg.save_every_seconds):
                    piece.update(last_iteration=history.iterations, seconds=now - t_piece, ended=ended or "killed")
                    history.pieces.append(dict(piece))
                    save()
                    history.pieces.pop()
                    last_save = time.perf_counter()
                    if ended:
                        break
    finally:
        progress.close()
    piece.update(last_iteration=history.iterations, seconds=time.perf_counter() - t_piece, ended=ended or "complete")
    if piece["last_iteration"] > piece["first_iteration"] or not history.pieces:
        history.pieces.append(piece)
        if ended is None:
            save()
    if ended == "SIGTERM":
        raise TrainingInterrupted(f"SIGTERM at iteration {history.iterations:,} of {cfg.iterations:,} of phase "
                                  f"{phase!r}: the state is saved in {ckpt}; run the same command again to continue")
    return history
