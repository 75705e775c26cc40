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
* **Learning rate**: Adam (or plain gradient descent, ``optimizer="sgd"``) with a constant rate, or an
  exponential decay from ``lr`` to ``lr_final`` over all optimiser steps
  (``lr_t = lr (lr_final / lr)^(t / (T - 1))``).
* **Length**: ``epochs``, or ``max_steps`` optimiser steps (then the epochs follow from the data
  size: a fixed compute budget for any training-set size), or both (whichever ends first).
* **Checkpoints**: with ``config.checkpoint`` set, model, optimiser, schedule, history and the
  shuffling generator are written atomically after every ``checkpoint_every`` epochs and at the end,
  and a run whose checkpoint exists resumes from it (``resume=True``): an interrupted run ends with
  the same weights as an uninterrupted one.
* **History**: per-step training loss and per-epoch mean training loss, validation loss, learning
  rate, wall time and throughput (images/s), returned as :class:`History`.
* **Callback**: ``fit(..., callback=f, callback_every=k)`` calls ``f(step, model)`` after every
  ``k``-th optimiser step and after the last one (``step`` counts from 1), e.g. to record a test
  curve during a long run; the model is in eval mode during the call and back in train mode after.

The loss is the mean squared error unless ``config.loss`` is another callable ``loss(out, target)``.
"""
from __future__ import annotations

import math
import random
import time
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
            of float32 (tested).
        channels_last: keep images and convolution weights in channels-last memory order (faster
            convolutions on CPUs and recent GPUs; same numbers up to round-off).
        optimizer: ``"adam"``, or ``"sgd"`` (plain gradient descent: no momentum, e.g. a paper's protocol).
        checkpoint: file to write checkpoints to and resume from; None for none.
        checkpoint_every: epochs between checkpoints.
        resume: continue from ``checkpoint`` when it exists.
        progress: show a tqdm progress bar.
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
    checkpoint: Union[str, Path, None] = None
    checkpoint_every: int = 1
    resume: bool = True
    progress: bool = True
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


@dataclass
class History:
    """What a training run recorded. Lists are per epoch unless named ``step_*``."""

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    images_per_s: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    steps: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "History":
        return cls(**d)

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
    raise ValueError(f"unknown loss {loss!r}; use 'mse', 'l1' or a callable")


def as_dataset(data: Data) -> Dataset:
    """A Dataset from ``(inputs, targets)`` tensors, or ``data`` itself when it is one."""
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, torch.Tensor) for t in data):
        if data[0].shape[0] != data[1].shape[0]:
            raise ValueError(f"inputs and targets differ in length: {data[0].shape[0]} vs {data[1].shape[0]}")
        return TensorDataset(*data)
    raise TypeError("data must be a torch Dataset or a pair (inputs, targets) of tensors")


def lr_factor(step: int, total_steps: int, lr: float, lr_final: float | None) -> float:
    """Multiplier of ``lr`` at ``step`` (0-based) for an exponential decay to ``lr_final``."""
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
               "precision", "channels_last", "optimizer")


def _fingerprint(cfg: TrainConfig, dataset: Dataset, model: nn.Module) -> dict:
    """What identifies a run: its settings, the size (and for tensors a checksum) of its data, the model's shapes."""
    out = {k: getattr(cfg, k) for k in _RUN_FIELDS}
    out["loss"] = cfg.loss if isinstance(cfg.loss, str) else getattr(cfg.loss, "__name__", "callable")
    out["data size"] = len(dataset)
    if isinstance(dataset, TensorDataset):
        out["data checksum"] = [round(float(t.double().sum()), 6) for t in dataset.tensors]
    out["model"] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    return out


def _require_same_run(path: Path, stored: dict | None, current: dict) -> None:
    if stored is None:
        raise CheckpointMismatch(f"{path} records no run configuration (made by an older version?): delete it to "
                                 "start afresh, or pass resume=False")
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


def fit(model: nn.Module, train: Data, config: TrainConfig | None = None, val: Data | None = None,
        callback: Callable[[int, nn.Module], None] | None = None, callback_every: int = 100) -> History:
    """Train ``model`` in place with Adam (or ``config.optimizer``) on ``train``; return the :class:`History`.

    Args:
        model: any module mapping an input batch to an output batch of the target's shape.
        train: ``(inputs, targets)`` tensors or a Dataset of pairs.
        config: :class:`TrainConfig` (defaults: one epoch, batch 16, lr 1e-3, MSE).
        val: optional validation data, evaluated after every epoch (eval mode).
        callback: ``callback(step, model)``, called after every ``callback_every``-th step and
            after the last step (in eval mode, without gradients).
        callback_every: steps between callback calls (>= 1).
    """
    cfg = config or TrainConfig()
    if cfg.epochs is None and cfg.max_steps is None:
        raise ValueError("set epochs or max_steps")
    if callback is not None and callback_every < 1:
        raise ValueError(f"callback_every must be >= 1, got {callback_every}")
    device = torch.device(cfg.device)
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
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: lr_factor(t, total_steps, cfg.lr, cfg.lr_final))
    history = History()
    start_epoch = 0

    ckpt = Path(cfg.checkpoint) if cfg.checkpoint else None
    fingerprint = _fingerprint(cfg, dataset, model)
    if ckpt is not None and cfg.resume and ckpt.exists():
        state = load_checkpoint(ckpt, device)
        _require_same_run(ckpt, state.get("fingerprint"), fingerprint)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        history = History.from_dict(state["history"])
        gen.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        start_epoch = state["epoch"]

    def save(epoch: int) -> None:
        if ckpt is not None:
            _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                          "history": history.to_dict(), "generator": gen.get_state(),
                          "torch_rng": torch.get_rng_state(), "epoch": epoch, "config": asdict(cfg)
                          | {"loss": str(cfg.loss), "checkpoint": str(cfg.checkpoint)},
                          "fingerprint": fingerprint}, ckpt)

    bar = None
    if cfg.progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=total_steps, initial=history.steps, desc=cfg.desc, leave=False)
    model.train()
    try:
        for epoch in range(start_epoch, epochs):
            if history.steps >= total_steps:
                break
            loader = DataLoader(dataset, batch_size=cfg.batch_size, shuffle=True, generator=gen)
            t0, seen, running, t_callback = time.perf_counter(), 0, 0.0, 0.0
            for x, y in loader:
                if history.steps >= total_steps:
                    break
                loss = step(x, y)
                sched.step()
                value = float(loss)
                if not math.isfinite(value):
                    raise FloatingPointError(f"training loss became {value} at step {history.steps}; "
                                             "lower the learning rate or clip the gradient (grad_clip)")
                history.step_loss.append(value)
                history.steps += 1
                running += value * x.shape[0]
                seen += x.shape[0]
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{value:.3g}", lr=f"{opt.param_groups[0]['lr']:.2g}")
                if callback is not None and (history.steps % callback_every == 0 or history.steps == total_steps):
                    tc = time.perf_counter()
                    model.eval()
                    with torch.no_grad():
                        callback(history.steps, model)
                    model.train()
                    t_callback += time.perf_counter() - tc  # not training time
            dt = time.perf_counter() - t0 - t_callback
            history.epoch.append(epoch + 1)
            history.train_loss.append(running / max(seen, 1))
            history.val_loss.append(evaluate(model, val, cfg.batch_size, cfg.device, step.loss_fn) if val is not None
                                    else float("nan"))
            history.lr.append(opt.param_groups[0]["lr"])
            history.seconds.append(dt)
            history.images_per_s.append(seen / dt if dt > 0 else float("nan"))
            if (epoch + 1) % cfg.checkpoint_every == 0:
                save(epoch + 1)
    finally:
        if bar is not None:
            bar.close()
    save(len(history.epoch))
    model.eval()
    return history
