"""The one supervised training loop of the book: seeds, lr schedule, progress bar, history, checkpoints.

Any model that maps an input batch to an output batch trains with :func:`fit`::

    history = fit(model, (inputs, targets), TrainConfig(epochs=18, lr=2e-3, lr_final=4e-6, seed=0),
                  val=(val_inputs, val_targets))

* **Data**: a pair of tensors ``(inputs, targets)`` with the same first dimension, or any
  ``torch.utils.data.Dataset`` returning ``(input, target)`` pairs. Batches are shuffled by a
  generator seeded from ``config.seed``, so a run with the same seed sees the same batches.
* **Seeds**: :func:`seed_everything` seeds Python, NumPy and torch; call it before building the
  model so its initial weights are reproducible too (``fit`` reseeds torch itself for the
  shuffling and any randomness inside the model).
* **Learning rate**: Adam (or plain gradient descent, ``optimizer="sgd"``) with a constant rate, an
  exponential decay from ``lr`` to ``lr_final`` over all optimiser steps
  (``lr_t = lr (lr_final / lr)^(t / (T - 1))``), or halvings every ``lr_halve_every`` steps
  (``lr_t = lr 0.5^ceil(t / lr_halve_every)``: the schedule of Arridge and Hauptmann's DiffNet code, which
  halves after its first step and then after every ``lr_halve_every``-th).
* **Length**: ``epochs``, or ``max_steps`` optimiser steps (then the epochs follow from the data
  size: a fixed compute budget for any training-set size), or both (whichever ends first).
* **Checkpoints**: with ``config.checkpoint`` set, model, optimiser, schedule, history, the shuffling
  generator (as it was at the start of the epoch in progress, with the number of batches taken) and the
  caller's ``state`` are written atomically after every ``checkpoint_every`` epochs, every
  ``save_every_seconds`` of wall time (also mid-epoch), on SIGTERM and at the end, and a run whose
  checkpoint exists resumes from it (``resume=True``): a resumed run equals an uninterrupted one bit for
  bit (tested), and a killed run loses at most the interval since the last save.
* **Pieces**: a long run is a series of calls: ``max_seconds`` (or ``piece_steps``) ends one call early with
  a checkpoint, and the next call continues it, on this machine or another (the checkpoint is
  device-independent). :attr:`History.complete` says whether the run reached its end;
  :attr:`History.pieces` records each piece's steps, wall time, device and threads.
* **Progress**: a tqdm bar on a terminal; elsewhere (a log file, a notebook run by papermill) one line
  every ``log_every_seconds`` with the step, the rate, the loss and the time left.
* **History**: per-step training loss and per-epoch mean training loss, validation loss, learning
  rate, wall time and throughput (images/s), returned as :class:`History`.
* **Callback**: ``fit(..., callback=f, callback_every=k)`` calls ``f(step, model)`` after every
  ``k``-th optimiser step and after the last one (``step`` counts from 1), e.g. to record a test
  curve during a long run; the model is in eval mode during the call and back in train mode after.

The loss is the mean squared error unless ``config.loss`` names another (``"l1"``, ``"frobenius"``: the
unsquared Frobenius norm of the batch's error divided by the batch size, as in Arridge and Hauptmann's
DiffNet code) or is a callable ``loss(out, target)``.
"""
from __future__ import annotations

import math
import os
import random
import signal
import sys
import threading
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

Data = Union[Dataset, Sequence[torch.Tensor]]


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's and torch's global generators."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class TrainConfig:
    """Settings of one training run (see the module docstring).

    Attributes:
        epochs: passes over the data; None to run ``max_steps`` steps instead.
        batch_size: images per step.
        lr: initial learning rate.
        lr_final: final learning rate of an exponential decay; None keeps ``lr`` constant.
        max_steps: cap on the optimiser steps.
        weight_decay: L2 weight decay.
        grad_clip: clip the gradient norm to this value (None: no clipping).
        loss: ``"mse"``, ``"l1"`` or a callable ``loss(output, target) -> scalar``.
        seed: seeds the shuffling (and torch's generator at the start of the run).
        device: where to train (``"cpu"``, ``"cuda"``).
        precision: ``"float32"`` or ``"bf16"``: mixed precision, the forward pass under
            ``torch.autocast`` with bfloat16 (convolutions in bfloat16, weights, optimiser and loss in
            float32); about 1.8x faster on a CPU with AVX-512 bfloat16 support, loss within about 1e-3
            of float32 (tested). On a CPU without bfloat16 instructions it is emulated and several times slower
            than float32 (a warning says so; :func:`pdedenoise.results.cpu_has_bf16`).
        channels_last: keep images and convolution weights in channels-last memory order (faster
            convolutions on CPUs and recent GPUs; same numbers up to round-off).
        optimizer: ``"adam"``, or ``"sgd"`` (plain gradient descent: no momentum, e.g. a paper's protocol).
        lr_halve_every: halve the rate after the first step and every this many steps after it
            (``lr 0.5^ceil(t / lr_halve_every)``); not together with ``lr_final``.
        checkpoint: file to write checkpoints to and resume from; None for none.
        checkpoint_every: epochs between checkpoints.
        save_every_seconds: also save a checkpoint after the first step that ends this many seconds after
            the last save (mid-epoch too); None: only at epoch ends, on SIGTERM and at the end.
        max_seconds: end this call (with a checkpoint) after the first step past this many seconds of wall
            time; the next call resumes. None: no limit.
        piece_steps: end this call (with a checkpoint) after this many optimiser steps; None: no limit.
        resume: continue from ``checkpoint`` when it exists.
        progress: show progress (a tqdm bar on a terminal, else a line every ``log_every_seconds``).
        log_every_seconds: seconds between progress lines when not on a terminal.
        desc: label of the progress bar.
    """

    epochs: int | None = 1
    batch_size: int = 16
    lr: float = 1e-3
    lr_final: float | None = None
    max_steps: int | None = None
    weight_decay: float = 0.0
    grad_clip: float | None = None
    loss: Union[str, Callable] = "mse"
    seed: int = 0
    device: str = "cpu"
    precision: str = "float32"
    channels_last: bool = False
    optimizer: str = "adam"
    lr_halve_every: int | None = None
    checkpoint: Union[str, Path, None] = None
    checkpoint_every: int = 1
    save_every_seconds: float | None = None
    max_seconds: float | None = None
    piece_steps: int | None = None
    resume: bool = True
    progress: bool = True
    log_every_seconds: float = 60.0
    desc: str = "train"

    def __post_init__(self):
        from . import validate

        validate.positive("lr", self.lr)
        if self.lr_final is not None:
            validate.positive("lr_final", self.lr_final)
        validate.count("batch_size", self.batch_size, 1)
        if self.epochs is not None:
            validate.count("epochs", self.epochs, 1)
        if self.max_steps is not None:
            validate.count("max_steps", self.max_steps, 1)
        validate.nonnegative("weight_decay", self.weight_decay)
        if self.grad_clip is not None:
            validate.positive("grad_clip", self.grad_clip)
        validate.count("checkpoint_every", self.checkpoint_every, 1)
        if self.lr_halve_every is not None:
            validate.count("lr_halve_every", self.lr_halve_every, 1)
            if self.lr_final is not None:
                raise ValueError("set lr_final (exponential decay) or lr_halve_every (halvings), not both")
        for name in ("save_every_seconds", "max_seconds"):
            if getattr(self, name) is not None:
                validate.positive(name, getattr(self, name))
        if self.piece_steps is not None:
            validate.count("piece_steps", self.piece_steps, 1)
        validate.positive("log_every_seconds", self.log_every_seconds)
        if (self.max_seconds is not None or self.piece_steps is not None) and self.checkpoint is None:
            raise ValueError("max_seconds and piece_steps end a run early: set checkpoint so the next call can "
                             "continue it")


class RunRecord:
    """What every recorded run shares (the fields live in the dataclasses that derive from it): a plain-dict form
    for saved states and JSON, and the wall time summed over the run's ``pieces``."""

    pieces: list[dict]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        return cls(**d)

    @property
    def wall_seconds(self) -> float:
        """Wall time of all pieces together (training, callbacks and saves)."""
        return float(sum(p["seconds"] for p in self.pieces))


@dataclass
class History(RunRecord):
    """What a training run recorded. Lists are per epoch unless named ``step_*``."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images_per_s: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    steps: int = 0
    #: whether the run reached its last step (False after a piece that ended early, see ``max_seconds``)
    complete: bool = False
    #: one dict per call of :func:`fit` that trained: ``first_step``, ``last_step``, ``seconds``, ``device``,
    #: ``threads``, ``ended`` ("complete", "time limit", "piece_steps", "SIGTERM", or "killed": the process ended without a
    #: last save, and the next piece resumed from an interval save)
    pieces: list[dict] = field(default_factory=list)

    @property
    def throughput(self) -> float:
        """Training images per second over the whole run (nan before the first epoch)."""
        t = sum(self.seconds)
        n = sum(s * i for s, i in zip(self.seconds, self.images_per_s))
        return n / t if t > 0 else float("nan")


def _loss_fn(loss: Union[str, Callable]) -> Callable:
    if callable(loss):
        return loss
    if loss == "mse":
        return F.mse_loss
    if loss == "l1":
        return F.l1_loss
    if loss == "frobenius":
        return frobenius_loss
    raise ValueError(f"unknown loss {loss!r}; use 'mse', 'l1', 'frobenius' or a callable")


def frobenius_loss(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``||relu(target) - out||_F / N`` for (N, ...) batches: the unsquared norm of the whole batch's error over
    the batch size, the loss of Arridge and Hauptmann's DiffNet code (``tf.norm(relu(true) - y) / bSize``)."""
    return torch.linalg.vector_norm(F.relu(target) - out) / out.shape[0]


def as_dataset(data: Data) -> Dataset:
    """A Dataset from ``(inputs, targets)`` tensors, or ``data`` itself when it is one."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        if data[0].shape[0] != data[1].shape[0]:
            raise ValueError(f"inputs and targets differ in length: {data[0].shape[0]} vs {data[1].shape[0]}")
        return TensorDataset(*data)
    raise TypeError("data must be a torch Dataset or a pair (inputs, targets) of tensors")


def lr_factor(step: int, total_steps: int, lr: float, lr_final: float | None, halve_every: int | None = None) -> float:
    """Multiplier of ``lr`` at ``step`` (0-based): an exponential decay to ``lr_final``, or halvings
    ``0.5^ceil(step / halve_every)`` (1 at step 0, 1/2 for steps 1 ... halve_every, 1/4 after)."""
    if halve_every is not None:
        return 0.5 ** math.ceil(step / halve_every)
    if lr_final is None or total_steps <= 1:
        return 1.0
    return (lr_final / lr) ** (min(step, total_steps - 1) / (total_steps - 1))


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, batch_size: int = 32, device: str = "cpu") -> torch.Tensor:
    """``model(inputs)`` in eval mode, batch by batch, returned on the CPU."""
    was_training = model.training
    model.eval()
    outs = [model(inputs[i:i + batch_size].to(device)).cpu() for i in range(0, inputs.shape[0], batch_size)]
    model.train(was_training)
    return torch.cat(outs) if outs else inputs[:0]


@torch.no_grad()
def evaluate(model: nn.Module, data: Data, batch_size: int = 32, device: str = "cpu",
             loss: Union[str, Callable] = "mse") -> float:
    """Mean loss over a data set (eval mode, weighted by batch size)."""
    fn = _loss_fn(loss)
    was_training = model.training
    model.eval()
    total, n = 0.0, 0
    for x, y in DataLoader(as_dataset(data), batch_size=batch_size, shuffle=False):
        total += float(fn(model(x.to(device)), y.to(device))) * x.shape[0]
        n += x.shape[0]
    model.train(was_training)
    return total / max(n, 1)


def _save_atomic(obj, path: Path) -> None:
    from .atomic import atomic_file

    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as fh:
        torch.save(obj, fh)


class Stepper:
    """One optimiser step as :func:`fit` takes it: forward (under autocast for ``precision="bf16"``, in
    channels-last order if asked), loss in float32, backward, gradient clipping, Adam (or plain gradient descent).

    Also used on its own to time training (:func:`seconds_per_step`).
    """

    def __init__(self, model: nn.Module, config: TrainConfig):
        if config.precision not in ("float32", "bf16"):
            raise ValueError(f"precision must be 'float32' or 'bf16', got {config.precision!r}")
        if config.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {config.optimizer!r}")
        self.device = torch.device(config.device)
        self.memory_format = torch.channels_last if config.channels_last else torch.contiguous_format
        self.model = model.to(self.device, memory_format=self.memory_format)
        self.autocast = torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=config.precision == "bf16")
        if config.precision == "bf16" and self.device.type == "cpu":
            from .results import cpu_has_bf16, cpu_model

            if not cpu_has_bf16():
                warnings.warn(f"precision='bf16' on a CPU without bfloat16 instructions ({cpu_model()}, "
                              f"{torch.backends.cpu.get_cpu_capability()}): emulated, several times slower than "
                              "float32; use precision='float32' here, or a CPU with AVX-512 BF16 or AMX",
                              RuntimeWarning, stacklevel=2)
        if config.optimizer == "sgd":
            self.opt = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.0, weight_decay=config.weight_decay)
        else:
            self.opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        self.loss_fn = _loss_fn(config.loss)
        self.grad_clip = config.grad_clip

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One step on the batch ``(x, y)``; returns the (detached) loss."""
        x = x.to(self.device, memory_format=self.memory_format)
        y = y.to(self.device)
        with self.autocast:
            out = self.model(x)
        loss = self.loss_fn(out.float(), y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.grad_clip is not None:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.grad_clip)
        self.opt.step()
        return loss.detach()


def seconds_per_step(model: nn.Module, x: torch.Tensor, y: torch.Tensor, config: TrainConfig | None = None,
                     steps: int = 5, warmup: int = 2) -> float:
    """Mean wall time of one training step (:class:`Stepper`) on the batch ``(x, y)``, after ``warmup``
    steps; CUDA is synchronised around the timing. Trains ``model`` for ``warmup + steps`` steps."""
    cfg = config or TrainConfig()
    step = Stepper(model.train(), cfg)
    sync = torch.cuda.synchronize if step.device.type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step(x, y)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step(x, y)
    sync()
    return (time.perf_counter() - t0) / steps


class CheckpointMismatch(ValueError):
    """A checkpoint belongs to another run (configuration, data or model): resuming it would be wrong."""


#: the settings that change what a run computes: a checkpoint made with other values is not resumed
_RUN_FIELDS = ("epochs", "batch_size", "lr", "lr_final", "max_steps", "weight_decay", "grad_clip", "seed",
               "precision", "channels_last", "optimizer", "lr_halve_every")


def _double_sum(t: torch.Tensor, chunk_elements: int = 2 ** 26) -> float:
    """The sum of ``t`` in float64; a tensor of more than ``chunk_elements`` is summed a block of rows at a time
    (a float64 copy of 90,000 crops of 96² would need 6.6 GB), a smaller one in one piece, as before."""
    if t.numel() <= chunk_elements or t.dim() == 0:
        return float(t.double().sum())
    rows = max(1, chunk_elements // max(1, t[0].numel()))
    return math.fsum(float(block.double().sum()) for block in t.split(rows))


def _fingerprint(cfg: TrainConfig, dataset: Dataset, model: nn.Module) -> dict:
    """What identifies a run: its settings, the size (and for tensors a checksum) of its data, the model's shapes."""
    out = {k: getattr(cfg, k) for k in _RUN_FIELDS}
    out["loss"] = cfg.loss if isinstance(cfg.loss, str) else getattr(cfg.loss, "__name__", "callable")
    out["data size"] = len(dataset)
    if isinstance(dataset, TensorDataset):
        out["data checksum"] = [round(_double_sum(t), 6) for t in dataset.tensors]
    out["model"] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    return out


def _require_same_run(path: Path, stored: dict | None, current: dict) -> None:
    if stored is None:
        raise CheckpointMismatch(f"{path} records no run configuration (made by an older version?): delete it to "
                                 "start afresh, or pass resume=False")
    # a field added after the checkpoint was made counts as its default (None)
    diff = [k for k in current if stored.get(k) != current[k]]
    if diff:
        shown = "; ".join(f"{k}: {stored.get(k)!r} there, {current[k]!r} here" if k != "model"
                          else "model: other parameter shapes" for k in diff)
        raise CheckpointMismatch(f"{path} was made by another run ({shown}); resuming it would return its weights "
                                 "as if this run had trained them. Delete it to start afresh, or pass resume=False")


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A training checkpoint, loaded with ``weights_only=True`` (tensors and plain data only: a file that holds
    code is refused, never run). Raises ``ValueError`` naming the file and the fix when it cannot be read."""
    import pickle

    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        raise ValueError(f"refusing to load the checkpoint {path}: it holds objects other than tensors and plain "
                         f"data ({str(exc).splitlines()[0][:120]}); delete it if it is not yours") from exc
    except (RuntimeError, EOFError, OSError, KeyError) as exc:
        raise ValueError(f"could not read the checkpoint {path} ({type(exc).__name__}: {str(exc)[:120]}); it may "
                         "be truncated: delete it to start afresh, or pass resume=False") from exc


class _Progress:
    """Progress of a run: a tqdm bar on a terminal or in Jupyter, else (a log file, papermill) a line every ``every``
    seconds with the step, the rate, the loss and the time left."""

    def __init__(self, total: int, initial: int, desc: str, every: float, enabled: bool):
        self.total, self.done, self.desc, self.every = total, initial, desc, every
        self.bar, self.t0, self.first, self.last = None, time.perf_counter(), initial, time.perf_counter()
        if not enabled:
            self.every = None
        elif sys.stderr.isatty() or _in_jupyter():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, initial=initial, desc=desc, leave=False)

    def update(self, loss: float, lr: float) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            self.bar.set_postfix(loss=f"{loss:.3g}", lr=f"{lr:.2g}")
            return
        now = time.perf_counter()
        if self.every is None or (now - self.last < self.every and self.done < self.total):
            return
        self.last = now
        rate = (self.done - self.first) / max(now - self.t0, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("inf")
        print(f"[{self.desc}] step {self.done:,}/{self.total:,} ({self.done / self.total:.1%}), {rate:.2f} steps/s, "
              f"loss {loss:.4g}, lr {lr:.2g}, {_duration(left)} left", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _in_jupyter() -> bool:
    """Whether this runs in a Jupyter kernel (where tqdm draws a widget)."""
    shell = sys.modules.get("IPython") and sys.modules["IPython"].get_ipython()
    return shell is not None and shell.__class__.__name__ == "ZMQInteractiveShell"


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    return f"{h}h{rem // 60:02d}m" if h else f"{rem // 60}m{rem % 60:02d}s"


class _SigtermFlag:
    """While active (main thread only), SIGTERM sets ``raised`` instead of killing the process, so the loop can
    save its state after the step in progress; the previous handler is restored on exit."""

    def __init__(self):
        self.raised = False
        self._old = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        self.raised = True

    def __exit__(self, *exc):
        if self._old is not None:
            signal.signal(signal.SIGTERM, self._old)
        return False


class TrainingInterrupted(RuntimeError):
    """A run got SIGTERM: its state was saved after the step in progress, and the next call resumes it."""


def fit(model: nn.Module, train: Data, config: TrainConfig | None = None, val: Data | None = None,
        callback: Callable[[int, nn.Module], None] | None = None, callback_every: int = 100,
        state: dict | None = None, piece_info: dict | None = None) -> History:
    """Train ``model`` in place with Adam (or ``config.optimizer``) on ``train``; return the :class:`History`.

    Args:
        model: any module mapping an input batch to an output batch of the target's shape.
        train: ``(inputs, targets)`` tensors or a Dataset of pairs.
        config: :class:`TrainConfig` (defaults: one epoch, batch 16, lr 1e-3, MSE).
        val: optional validation data, evaluated after every epoch (eval mode).
        callback: ``callback(step, model)``, called after every ``callback_every``-th step and
            after the last step (in eval mode, without gradients).
        callback_every: steps between callback calls (>= 1).
        state: the caller's own record of the run (e.g. a test curve the callback appends to): saved with
            every checkpoint and, on resume, updated in place from it. Plain data and tensors only.
        piece_info: plain data added to this call's entry of :attr:`History.pieces` (e.g. the commit and the
            machine that ran it).

    A piece that ends early (``max_seconds``, ``piece_steps``) returns with ``History.complete`` False; a
    SIGTERM saves and raises :class:`TrainingInterrupted`.
    """
    cfg = config or TrainConfig()
    if cfg.epochs is None and cfg.max_steps is None:
        raise ValueError("set epochs or max_steps")
    if callback is not None and callback_every < 1:
        raise ValueError(f"callback_every must be >= 1, got {callback_every}")
    dataset = as_dataset(train)
    steps_per_epoch = math.ceil(len(dataset) / cfg.batch_size)
    if steps_per_epoch == 0:
        raise ValueError("the training set is empty")
    epochs = cfg.epochs if cfg.epochs is not None else math.ceil(cfg.max_steps / steps_per_epoch)
    total_steps = epochs * steps_per_epoch if cfg.max_steps is None else min(epochs * steps_per_epoch, cfg.max_steps)
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    step = Stepper(model, cfg)
    opt = step.opt
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: lr_factor(t, total_steps, cfg.lr, cfg.lr_final, cfg.lr_halve_every))
    history = History()
    start_epoch, skip, partial = 0, 0, {"running": 0.0, "seen": 0, "seconds": 0.0}
    epoch_gen_state = gen.get_state()

    ckpt = Path(cfg.checkpoint) if cfg.checkpoint else None
    fingerprint = _fingerprint(cfg, dataset, model)
    if ckpt is not None and cfg.resume and ckpt.exists():
        saved = load_checkpoint(ckpt, step.device)
        _require_same_run(ckpt, saved.get("fingerprint"), fingerprint)
        model.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        history = History.from_dict(saved["history"])
        torch.set_rng_state(saved["torch_rng"])
        start_epoch = saved["epoch"]
        if "epoch_generator" in saved:  # saved mid-epoch (or at an epoch's end, with 0 batches taken)
            epoch_gen_state, skip, partial = saved["epoch_generator"], saved["batches_taken"], saved["partial"]
        else:  # made by a version that saved at epoch ends only
            epoch_gen_state = saved["generator"]
        gen.set_state(epoch_gen_state)
        if state is not None and "caller_state" in saved:
            state.clear()
            state.update(saved["caller_state"])

    def save(epoch: int, batches_taken: int, acc: dict) -> None:
        if ckpt is None:
            return
        _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                      "history": history.to_dict(), "generator": gen.get_state(), "epoch_generator": epoch_gen_state,
                      "batches_taken": batches_taken, "partial": dict(acc), "torch_rng": torch.get_rng_state(),
                      "epoch": epoch, "config": asdict(cfg) | {"loss": str(cfg.loss), "checkpoint": str(cfg.checkpoint)},
                      "fingerprint": fingerprint, "caller_state": state if state is not None else {}}, ckpt)

    piece = {"first_step": history.steps, "last_step": history.steps, "seconds": 0.0, "device": str(step.device),
             "threads": torch.get_num_threads(), "ended": "complete", **(piece_info or {})}
    t_piece = time.perf_counter()
    last_save = t_piece
    progress = _Progress(total_steps, history.steps, cfg.desc, cfg.log_every_seconds, cfg.progress)
    ended = None
    model.train()
    try:
        with _SigtermFlag() as sigterm:
            for epoch in range(start_epoch, epochs):
                if history.steps >= total_steps or ended:
                    break
                if epoch > start_epoch or skip == 0:
                    epoch_gen_state = gen.get_state()
                    skip_now, acc = 0, {"running": 0.0, "seen": 0, "seconds": 0.0}
                else:  # resume inside this epoch: replay its shuffle, skip the batches already taken
                    gen.set_state(epoch_gen_state)
                    skip_now, acc = skip, dict(partial)
                loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, generator=gen)
                taken = 0
                t0, t_callback = time.perf_counter(), 0.0
                for x, y in loader:
                    if taken < skip_now:
                        taken += 1
                        continue
                    if history.steps >= total_steps:
                        break
                    loss = step(x, y)
                    sched.step()
                    value = float(loss)
                    if not math.isfinite(value):
                        what = "not a number" if math.isnan(value) else "infinite"  # words, as the book shows them
                        raise FloatingPointError(f"training loss became {what} at step {history.steps}; "
                                                 "lower the learning rate or clip the gradient (grad_clip)")
                    if not all(bool(torch.isfinite(p.detach()).all()) for p in model.parameters()):
                        raise FloatingPointError(f"training diverged at step {history.steps}: the update made the "
                                                 "parameters non-finite; lower the learning rate or clip the "
                                                 "gradient (grad_clip)")
                    history.step_loss.append(value)
                    history.steps += 1
                    taken += 1
                    acc["running"] += value * x.shape[0]
                    acc["seen"] += x.shape[0]
                    progress.update(value, opt.param_groups[0]["lr"])
                    if callback is not None and (history.steps % callback_every == 0 or history.steps == total_steps):
                        tc = time.perf_counter()
                        model.eval()
                        with torch.no_grad():
                            callback(history.steps, model)
                        model.train()
                        t_callback += time.perf_counter() - tc  # not training time
                    now = time.perf_counter()
                    if history.steps < total_steps and taken < steps_per_epoch:
                        if sigterm.raised:
                            ended = "SIGTERM"
                        elif cfg.max_seconds is not None and now - t_piece >= cfg.max_seconds:
                            ended = "time limit"
                        elif cfg.piece_steps is not None and history.steps - piece["first_step"] >= cfg.piece_steps:
                            ended = "piece_steps"
                        if ended or (cfg.save_every_seconds is not None and now - last_save >= cfg.save_every_seconds):
                            acc_now = dict(acc, seconds=acc["seconds"] + now - t0 - t_callback)
                            piece.update(last_step=history.steps, seconds=now - t_piece, ended=ended or "killed")
                            history.pieces.append(dict(piece))
                            save(epoch, taken, acc_now)
                            history.pieces.pop()
                            last_save = time.perf_counter()
                            if ended:
                                break
                if ended:
                    break
                dt = acc["seconds"] + time.perf_counter() - t0 - t_callback
                history.epoch.append(epoch + 1)
                history.train_loss.append(acc["running"] / max(acc["seen"], 1))
                history.val_loss.append(evaluate(model, val, cfg.batch_size, cfg.device, step.loss_fn)
                                        if val is not None else float("nan"))
                history.lr.append(opt.param_groups[0]["lr"])
                history.seconds.append(dt)
                history.images_per_s.append(acc["seen"] / dt if dt > 0 else float("nan"))
                epoch_gen_state = gen.get_state()
                done = history.steps >= total_steps
                if not done:
                    if sigterm.raised:
                        ended = "SIGTERM"
                    elif cfg.max_seconds is not None and time.perf_counter() - t_piece >= cfg.max_seconds:
                        ended = "time limit"
                    elif cfg.piece_steps is not None and history.steps - piece["first_step"] >= cfg.piece_steps:
                        ended = "piece_steps"
                now = time.perf_counter()
                if not done and (ended or (epoch + 1) % cfg.checkpoint_every == 0 or
                                 (cfg.save_every_seconds is not None and now - last_save >= cfg.save_every_seconds)):
                    piece.update(last_step=history.steps, seconds=now - t_piece, ended=ended or "killed")
                    history.pieces.append(dict(piece))
                    save(epoch + 1, 0, {"running": 0.0, "seen": 0, "seconds": 0.0})
                    history.pieces.pop()
                    last_save = time.perf_counter()
    finally:
        progress.close()
    history.complete = ended is None and history.steps >= total_steps
    piece.update(last_step=history.steps, seconds=time.perf_counter() - t_piece, ended=ended or "complete")
    if piece["last_step"] > piece["first_step"] or not history.pieces:
        history.pieces.append(piece)
    if ended is None:
        save(len(history.epoch), 0, {"running": 0.0, "seen": 0, "seconds": 0.0})
    model.eval()
    if ended == "SIGTERM":
        raise TrainingInterrupted(f"SIGTERM at step {history.steps:,} of {total_steps:,}: the state is saved in "
                                  f"{ckpt}; run the same command again to continue")
    return history
