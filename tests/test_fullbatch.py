"""Full-batch L-BFGS in pieces (pdedenoise.fullbatch): resume bit for bit, SIGTERM, chunks, convergence, refusals."""
from __future__ import annotations

import os
import signal

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from pdedenoise.fullbatch import (CheckpointMismatch, LBFGSConfig, TrainingInterrupted, full_batch_loss, half_sse,
                                  lbfgs)
from pdedenoise.papers.barbeiro2020.tnrd import TNRD


def _data(n=6, size=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(n, 1, size, size, generator=g) * 255
    return clean + 25 * torch.randn(clean.shape, generator=g), clean


def _model():
    torch.manual_seed(0)
    return TNRD(stages=2, filters=4, size=3, centers=9)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def _same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


RUN = {"model": "tiny TNRD", "sigma": 25}


@pytest.fixture(autouse=True)
def one_thread():
    """One thread: fast on a busy machine, and the bit-for-bit comparisons hold for a fixed thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _uninterrupted(iterations=6, chunk=4):
    noisy, clean = _data()
    model = _model()
    hist = lbfgs(model, model, (noisy,), clean, LBFGSConfig(iterations=iterations, chunk=chunk, progress=False),
                 run=RUN, phase="joint")
    return hist, _weights(model)


def test_pieces_equal_one_run_bit_for_bit(tmp_path):
    ref, ref_w = _uninterrupted()
    assert ref.complete and ref.iterations == 6 and ref.loss[-1] < ref.loss[0]
    noisy, clean = _data()
    ckpt = tmp_path / "s.pt"
    calls = 0
    while True:  # fresh model and optimiser each piece, as in a new process
        calls += 1
        model = _model()
        hist = lbfgs(model, model, (noisy,), clean, LBFGSConfig(iterations=6, chunk=4, progress=False,
                                                                checkpoint=ckpt, piece_iterations=2),
                     run=RUN, phase="joint")
        if hist.complete:
            break
        assert hist.pieces[-1]["ended"] == "piece_iterations"
    assert calls == 3
    assert hist.loss == ref.loss  # floats equal exactly
    assert _same(_weights(model), ref_w)
    assert [p["first_iteration"] for p in hist.pieces] == [0, 2, 4]


def test_sigterm_mid_iteration_saves_and_resume_equals(tmp_path):
    ref, ref_w = _uninterrupted()
    noisy, clean = _data()
    ckpt = tmp_path / "s.pt"

    def kill_at(n):
        def hook(evaluations):
            if evaluations == n:  # a real signal to this process, in the middle of a line search
                os.kill(os.getpid(), signal.SIGTERM)
        return hook

    model = _model()
    with pytest.raises(TrainingInterrupted, match="SIGTERM"):
        lbfgs(model, model, (noisy,), clean, LBFGSConfig(iterations=6, chunk=4, progress=False, checkpoint=ckpt),
              run=RUN, phase="joint", on_evaluation=kill_at(4))
    saved = torch.load(ckpt, weights_only=True)
    assert 0 < saved["history"]["iterations"] < 6 and saved["history"]["pieces"][-1]["ended"] == "SIGTERM"
    model = _model()
    hist = lbfgs(model, model, (noisy,), clean, LBFGSConfig(iterations=6, chunk=4, progress=False, checkpoint=ckpt),
                 run=RUN, phase="joint")
    assert hist.complete and hist.loss == ref.loss
    assert _same(_weights(model), ref_w)


def test_chunked_gradient_equals_one_chunk():
    noisy, clean = _data(n=7)
    model = _model()
    params = list(model.parameters())
    whole = full_batch_loss(model, params, (noisy,), clean, chunk=7)
    g_whole = [p.grad.clone() for p in params]
    parts = full_batch_loss(model, params, (noisy,), clean, chunk=3)
    assert parts == pytest.approx(whole, rel=1e-6)
    for a, b in zip(g_whole, (p.grad for p in params)):
        assert torch.allclose(a, b, rtol=1e-4, atol=1e-6 * float(a.abs().max()))
    assert whole == pytest.approx(float(half_sse(model(noisy), clean).detach()), rel=1e-6)


def test_convex_least_squares_reaches_the_minimiser():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 1, 10, 10, generator=g) * 255
    k_true = torch.randn(1, 1, 3, 3, generator=g)
    y = F.conv2d(x, k_true, padding=1)
    conv = nn.Conv2d(1, 1, 3, padding=1, bias=False)
    with torch.no_grad():
        conv.weight.zero_()
    hist = lbfgs(conv, conv, (x,), y, LBFGSConfig(iterations=40, chunk=3, progress=False, tolerance_grad=1e-12,
                                                  tolerance_change=1e-20), run={"toy": 1}, phase="ls")
    assert all(b <= a for a, b in zip(hist.loss, hist.loss[1:]))  # strong Wolfe: never up
    assert hist.loss[-1] < 1e-6 * hist.loss[0]
    assert torch.allclose(conv.weight.detach(), k_true, atol=1e-3)


def test_checkpoint_of_another_configuration_is_refused(tmp_path):
    noisy, clean = _data()
    ckpt = tmp_path / "s.pt"
    model = _model()
    lbfgs(model, model, (noisy,), clean, LBFGSConfig(iterations=4, chunk=4, progress=False, checkpoint=ckpt,
                                                     piece_iterations=2), run=RUN, phase="joint")
    with pytest.raises(CheckpointMismatch, match="another run.*'sigma': 25.*there.*'sigma': 50.*here"):
        m = _model()
        lbfgs(m, m, (noisy,), clean, LBFGSConfig(iterations=4, chunk=4, progress=False, checkpoint=ckpt),
              run={**RUN, "sigma": 50}, phase="joint")
    with pytest.raises(CheckpointMismatch, match="another phase.*history_size"):
        m = _model()
        lbfgs(m, m, (noisy,), clean, LBFGSConfig(iterations=4, chunk=4, progress=False, checkpoint=ckpt,
                                                 history_size=3), run=RUN, phase="joint")
    with pytest.raises(CheckpointMismatch, match="another phase.*data differs"):
        m = _model()
        lbfgs(m, m, (noisy + 1,), clean, LBFGSConfig(iterations=4, chunk=4, progress=False, checkpoint=ckpt),
              run=RUN, phase="joint")
    # an unfinished phase is not the start of a later one
    with pytest.raises(CheckpointMismatch, match="not a finished phase before 'later'"):
        m = _model()
        lbfgs(m, m, (noisy,), clean, LBFGSConfig(iterations=4, chunk=4, progress=False, checkpoint=ckpt),
              run=RUN, phase="later", previous=["joint"])


def test_a_finished_phase_starts_the_next(tmp_path):
    noisy, clean = _data()
    ckpt = tmp_path / "s.pt"
    model = _model()
    model.active = 1
    lbfgs(model, model, (noisy,), clean, LBFGSConfig(iterations=2, chunk=4, progress=False, checkpoint=ckpt),
          params=list(model.stages[0].parameters()), run=RUN, phase="greedy 1")
    after_first = _weights(model)
    fresh = _model()
    fresh.active = 2
    hist = lbfgs(fresh, fresh, (noisy,), clean, LBFGSConfig(iterations=2, chunk=4, progress=False, checkpoint=ckpt),
                 params=list(fresh.stages[1].parameters()), run=RUN, phase="greedy 2", previous=["greedy 1"])
    assert hist.complete and hist.phase == "greedy 2"
    stage0 = {k: v for k, v in _weights(fresh).items() if k.startswith("stages.0.")}
    start0 = {k: v for k, v in _weights(_model()).items() if k.startswith("stages.0.")}
    assert not _same(start0, after_first), "the first phase trained stage 0 (else the check below shows nothing)"
    assert _same(stage0, after_first)  # started from the first phase's weights (stage 0 frozen in this phase)
