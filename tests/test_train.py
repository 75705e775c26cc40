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
