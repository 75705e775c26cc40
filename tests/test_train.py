"""The shared training loop: it learns, is reproducible, schedules the learning rate, resumes."""
import math

import pytest
import torch
from torch import nn

from pdedenoise.models.diffnet import DiffNet
from pdedenoise.train import TrainConfig, evaluate, fit, lr_factor, predict, seed_everything


def _data(n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 1, 8, 8, generator=g)
    return x, 0.5 * x + 0.1


def _model(seed=0):
    seed_everything(seed)
    return nn.Conv2d(1, 1, 3, padding=1)


def test_tiny_training_run_lowers_the_loss():
    data = _data()
    model = _model()
    before = evaluate(model, data)
    hist = fit(model, data, TrainConfig(epochs=20, batch_size=16, lr=2e-2, progress=False), val=data)
    assert hist.val_loss[-1] < 0.05 * before
    assert hist.steps == 20 * 4 == len(hist.step_loss)
    assert len(hist.epoch) == 20 and hist.throughput > 0


def test_diffnet_learns_the_identity_plus_a_bit():
    seed_everything(0)
    net = DiffNet(layers=1, hidden=4, conv_layers=2)
    x = torch.rand(32, 1, 8, 8, generator=torch.Generator().manual_seed(1))
    data = (x, x.clamp(0.2, 0.8))
    before = evaluate(net, data)
    fit(net, data, TrainConfig(epochs=15, lr=1e-2, progress=False))
    assert evaluate(net, data) < 0.5 * before


def test_same_seed_same_weights_and_exponential_schedule():
    data = _data()
    cfg = TrainConfig(epochs=3, batch_size=10, lr=1e-2, lr_final=1e-4, seed=5, progress=False)
    a, b = _model(), _model()
    ha, hb = fit(a, data, cfg), fit(b, data, cfg)
    assert ha.step_loss == hb.step_loss
    torch.testing.assert_close(a.weight, b.weight)
    steps = 3 * 7
    assert ha.lr[-1] == pytest.approx(1e-4, rel=1e-9)  # last step's lr is lr_final
    assert lr_factor(0, steps, 1e-2, 1e-4) == 1.0
    assert lr_factor(10, steps, 1e-2, 1e-4) == pytest.approx(math.exp(math.log(1e-2) * 10 / 20))


def test_max_steps_caps_training_whatever_the_data_size():
    for n in (8, 64):
        hist = fit(_model(), _data(n), TrainConfig(epochs=None, max_steps=12, batch_size=16, progress=False))
        assert hist.steps == 12


class _Flaky(nn.Conv2d):
    """A conv that raises after ``fail_after`` forward calls: an interrupted run."""

    fail_after = None

    def forward(self, x):
        if self.fail_after is not None:
            self.fail_after -= 1
            if self.fail_after < 0:
                raise KeyboardInterrupt
        return super().forward(x)


def _flaky(seed=0, fail_after=None):
    seed_everything(seed)
    m = _Flaky(1, 1, 3, padding=1)
    m.fail_after = fail_after
    return m


def test_checkpoint_resume_gives_the_uninterrupted_result(tmp_path):
    data = _data()
    cfg = TrainConfig(epochs=4, batch_size=16, lr=1e-2, lr_final=1e-3, progress=False)
    full = _flaky()
    hist_full = fit(full, data, cfg)
    ck = tmp_path / "run.pt"
    cfg_ck = TrainConfig(**{**cfg.__dict__, "checkpoint": ck})
    with pytest.raises(KeyboardInterrupt):
        fit(_flaky(fail_after=10), data, cfg_ck)  # dies in epoch 3 (4 steps per epoch)
    assert torch.load(ck, weights_only=False)["epoch"] == 2
    again = _flaky(seed=99)  # different init: everything must come from the checkpoint
    hist = fit(again, data, cfg_ck)
    assert hist.steps == 16 and hist.step_loss == hist_full.step_loss
    torch.testing.assert_close(again.weight, full.weight)


def test_predict_and_errors():
    model = _model()
    x, _ = _data(10)
    assert predict(model, x, batch_size=3).shape == x.shape
    with pytest.raises(TypeError):
        fit(model, [1, 2, 3], TrainConfig(progress=False))
    with pytest.raises(ValueError, match="epochs or max_steps"):
        fit(model, _data(), TrainConfig(epochs=None, progress=False))


def test_callback_sees_the_model_at_the_named_steps_without_changing_training():
    data = _data()
    cfg = TrainConfig(epochs=3, batch_size=10, lr=1e-2, seed=2, progress=False)  # 21 steps
    seen = []

    def record(step, model):
        assert not model.training and not torch.is_grad_enabled()
        seen.append((step, evaluate(model, data)))

    a, b = _model(), _model()
    ha = fit(a, data, cfg, callback=record, callback_every=5)
    hb = fit(b, data, cfg)
    assert [s for s, _ in seen] == [5, 10, 15, 20, 21]  # every 5th step and the last one
    assert ha.step_loss == hb.step_loss  # evaluating does not perturb training
    assert seen[-1][1] == pytest.approx(evaluate(a, data))  # the last call sees the final model
    with pytest.raises(ValueError, match="callback_every"):
        fit(_model(), data, cfg, callback=record, callback_every=0)


@pytest.mark.filterwarnings("ignore:precision=.bf16. on a CPU without")  # tested below
def test_mixed_precision_and_channels_last_follow_the_float32_loss():
    """bf16 autocast (+ channels-last) trains the same DiffNet to the same losses, to bfloat16's precision."""
    from pdedenoise.models.diffnet import DiffNet

    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 1, 24, 24, generator=g)
    y = torch.nn.functional.avg_pool2d(x, 3, 1, 1)  # learn a blur: a smooth, well-posed target
    losses = {}
    for precision, cl in (("float32", False), ("bf16", True)):
        torch.manual_seed(0)
        model = DiffNet(layers=2, hidden=8)
        cfg = TrainConfig(epochs=None, max_steps=30, batch_size=16, lr=1e-3, seed=0, progress=False,
                          precision=precision, channels_last=cl)
        losses[precision] = fit(model, (x, y), cfg).step_loss
    f32, bf16 = torch.tensor(losses["float32"]), torch.tensor(losses["bf16"])
    assert f32[-1] < 0.5 * f32[0], "the run learns"
    assert float(((bf16 - f32).abs() / f32).max()) < 2e-2
    with pytest.raises(ValueError, match="precision"):
        fit(DiffNet(layers=1, hidden=4), (x, y), TrainConfig(max_steps=1, precision="fp8", progress=False))


def test_bf16_on_a_cpu_without_bfloat16_instructions_warns_and_names_the_fix(monkeypatch):
    """bf16 is emulated without AVX-512 BF16 / AMX (8x slower than float32 on an AVX2 EPYC): the step warns."""
    import warnings

    from pdedenoise import results
    from pdedenoise.train import Stepper

    model = torch.nn.Conv2d(1, 1, 3, padding=1)
    monkeypatch.setattr(results, "cpu_has_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match="without bfloat16 instructions.*precision='float32'"):
        Stepper(model, TrainConfig(precision="bf16"))
    monkeypatch.setattr(results, "cpu_has_bf16", lambda: True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Stepper(model, TrainConfig(precision="bf16"))
        monkeypatch.setattr(results, "cpu_has_bf16", lambda: False)
        Stepper(model, TrainConfig(precision="float32"))


def test_sgd_is_plain_gradient_descent():
    """optimizer="sgd": one step moves every weight by exactly -lr * gradient (no momentum, no scaling)."""
    torch.manual_seed(0)
    model = torch.nn.Linear(3, 1)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    before = [p.detach().clone() for p in model.parameters()]
    torch.nn.functional.mse_loss(model(x), y).backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    fit(model, (x, y), TrainConfig(epochs=1, batch_size=8, lr=0.05, optimizer="sgd", progress=False))
    for p, b, g in zip(model.parameters(), before, grads):
        torch.testing.assert_close(p.detach(), b - 0.05 * g)
    with pytest.raises(ValueError, match="optimizer must be 'adam' or 'sgd'"):
        fit(model, (x, y), TrainConfig(optimizer="rmsprop", progress=False))


# --------------------------------------------------------------------------- long runs in pieces


def _pieces_config(ck, **kw):
    base = dict(epochs=3, batch_size=10, lr=1e-2, lr_final=1e-4, seed=3, progress=False, checkpoint=ck)
    return TrainConfig(**{**base, **kw})


def test_a_run_in_pieces_equals_the_uninterrupted_run_bit_for_bit(tmp_path):
    """Pieces that end mid-epoch (piece_steps 5 against 7 steps per epoch) and resume on a new model object
    give the same losses, weights and optimiser state as one call; the caller's state comes back too."""
    data = _data()
    whole = _model()
    h_whole = fit(whole, data, _pieces_config(tmp_path / "whole.pt"))
    ck = tmp_path / "pieces.pt"
    calls, h = 0, None
    curve = {"steps": []}
    while h is None or not h.complete:
        model = _model(seed=0 if calls == 0 else calls + 50)  # later calls start elsewhere: weights from the checkpoint
        h = fit(model, data, _pieces_config(ck, piece_steps=5), state=curve,
                callback=lambda step, m: curve["steps"].append(step), callback_every=4)
        calls += 1
    assert calls == 5 and h.steps == 21
    assert h.step_loss == h_whole.step_loss  # exactly, not approximately
    assert torch.equal(model.weight, whole.weight) and torch.equal(model.bias, whole.bias)
    assert h.train_loss == pytest.approx(h_whole.train_loss, rel=1e-12, abs=0)
    assert curve["steps"] == [4, 8, 12, 16, 20, 21]  # kept across pieces, each step once
    assert [(p["first_step"], p["last_step"]) for p in h.pieces] == [(0, 5), (5, 10), (10, 15), (15, 20), (20, 21)]
    assert [p["ended"] for p in h.pieces] == ["piece_steps"] * 4 + ["complete"]


def test_a_time_limit_ends_a_piece_with_a_checkpoint(tmp_path):
    data = _data()
    ck = tmp_path / "run.pt"
    h = fit(_model(), data, _pieces_config(ck, max_seconds=1e-9))  # stops after the first step
    assert not h.complete and h.steps == 1 and h.pieces[-1]["ended"] == "time limit"
    assert ck.exists()
    h2 = fit(_model(seed=7), data, _pieces_config(ck))
    assert h2.complete and h2.steps == 21
    assert h2.step_loss == fit(_model(), data, _pieces_config(tmp_path / "b.pt")).step_loss


def test_sigterm_saves_after_the_step_in_progress_and_the_run_continues(tmp_path):
    """A real SIGTERM to this process mid-run: the loop saves after the step it is in and raises; nothing of
    the steps before it is lost, and the resumed run ends where the uninterrupted one does."""
    import os
    import signal

    from pdedenoise.train import TrainingInterrupted

    data = _data()
    ck = tmp_path / "run.pt"

    def kill_at_step_9(step, model):
        if step == 9:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(TrainingInterrupted, match="run the same command again"):
        fit(_model(), data, _pieces_config(ck), callback=kill_at_step_9, callback_every=1)
    saved = torch.load(ck, weights_only=False)
    assert saved["history"]["steps"] == 9  # the interval lost is 0 steps: saved right after step 9
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is restored
    model = _model(seed=11)
    h = fit(model, data, _pieces_config(ck))
    ref = _model()
    assert h.step_loss == fit(ref, data, _pieces_config(tmp_path / "ref.pt")).step_loss
    assert torch.equal(model.weight, ref.weight)
    assert [p["ended"] for p in h.pieces] == ["SIGTERM", "complete"]


def test_interval_saves_happen_mid_epoch(tmp_path):
    data = _data(640)  # 64 steps in one epoch
    ck = tmp_path / "run.pt"
    saves = []
    import pdedenoise.train as train_mod

    real = train_mod._save_atomic

    def spy(obj, path):
        saves.append(obj["batches_taken"])
        real(obj, path)

    train_mod._save_atomic = spy
    try:
        fit(_model(), data, _pieces_config(ck, epochs=1, save_every_seconds=1e-9))
    finally:
        train_mod._save_atomic = real
    assert saves[:3] == [1, 2, 3] and len(saves) == 64  # after every step but the last, then the final save


def test_halving_schedule_and_frobenius_loss():
    """The DiffNet authors' schedule (lr halved after step 0 and every k steps) and their unsquared loss."""
    from pdedenoise.train import frobenius_loss

    assert [lr_factor(t, 100, 4e-3, None, halve_every=10) for t in (0, 1, 10, 11, 20, 21)] == \
        [1.0, 0.5, 0.5, 0.25, 0.25, 0.125]
    out, target = torch.zeros(4, 1, 2, 2), torch.full((4, 1, 2, 2), 0.5)
    assert float(frobenius_loss(out, target)) == pytest.approx((16 * 0.25) ** 0.5 / 4)
    assert float(frobenius_loss(out, -target)) == 0.0  # relu of the target, as the authors' code
    model = nn.Linear(2, 1)
    h = fit(model, (torch.randn(40, 2), torch.randn(40, 1)),
            TrainConfig(epochs=3, batch_size=10, lr=4e-3, lr_halve_every=5, loss="frobenius", progress=False))
    assert h.lr == pytest.approx([4e-3 * 0.5, 4e-3 * 0.25, 4e-3 * 0.125])  # after steps 4, 8, 12
    with pytest.raises(ValueError, match="not both"):
        TrainConfig(lr_final=1e-5, lr_halve_every=5)
    with pytest.raises(ValueError, match="set checkpoint"):
        TrainConfig(max_seconds=10)


def test_progress_lines_when_not_on_a_terminal(capsys):
    fit(_model(), _data(), TrainConfig(epochs=2, batch_size=16, progress=True, log_every_seconds=1e-9, desc="demo"))
    err = capsys.readouterr().err
    assert "[demo] step 8/8 (100.0%)" in err and "steps/s" in err and "left" in err


def test_the_data_checksum_of_a_large_tensor_is_summed_in_blocks_to_the_same_value():
    """A resumed run recognises its data by a float64 sum; a large dataset is summed a block at a time (no
    float64 copy of it all), to the value of one sum; a small one exactly as one sum."""
    from pdedenoise.train import _double_sum

    g = torch.Generator().manual_seed(0)
    t = torch.rand(300, 1, 16, 16, generator=g)
    whole = float(t.double().sum())
    assert _double_sum(t) == whole
    blocked = _double_sum(t, chunk_elements=1000)  # 3 rows a block, 100 blocks
    assert blocked != 0 and abs(blocked - whole) <= 1e-9 * abs(whole)
    assert round(blocked, 6) == round(whole, 6)
