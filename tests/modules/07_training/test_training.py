"""Training (module 07): clip_grad_norm, CosineSchedule, Trainer, checkpoints."""

import re

import numpy as np
import pytest

from tinytorch.core.activations import ReLU
from tinytorch.core.layers import Linear, Module, Sequential
from tinytorch.core.losses import CrossEntropyLoss, MSELoss
from tinytorch.core.optimizers import SGD, Adam
from tinytorch.core.random import manual_seed, rng
from tinytorch.core.tensor import Tensor
from tinytorch.core.training import (
    CosineSchedule,
    Trainer,
    clip_grad_norm,
    load_checkpoint,
    save_checkpoint,
)


def blobs(n=240, seed=0):
    """Three well-separated Gaussian blobs in 2-D: a problem a small MLP solves quickly."""
    r = np.random.default_rng(seed)
    centers = np.array([[0.0, 3.0], [3.0, -2.0], [-3.0, -2.0]])
    y = r.integers(0, 3, size=n)
    x = (centers[y] + r.standard_normal((n, 2))).astype(np.float32)
    return x, y.astype(np.int64)


def mlp():
    return Sequential(Linear(2, 16), ReLU(), Linear(16, 3))


class Batches:
    """The smallest loader a Trainer needs, so module 07 is tested without module 08's DataLoader:
    ``(x, y)`` Tensor batches, in order or reshuffled on every pass by the framework's generator."""

    def __init__(self, x, y, batch_size, shuffle=False):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __iter__(self):
        order = rng().permutation(len(self.x)) if self.shuffle else np.arange(len(self.x))
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            yield Tensor(self.x[rows]), Tensor(self.y[rows])


def loaders(batch_size=32):
    x, y = blobs()
    train = Batches(x[:180], y[:180], batch_size=batch_size, shuffle=True)
    val = Batches(x[180:], y[180:], batch_size=64)
    return train, val


def param(values, grad):
    p = Tensor(np.array(values, dtype=np.float32), requires_grad=True)
    p.grad = np.array(grad, dtype=np.float32)
    return p


# ------------------------------------------------------------------------ clip_grad_norm


def test_clip_grad_norm_scales_to_max_norm():
    a, b = param([0.0, 0.0], [3.0, 0.0]), param([[0.0]], [[4.0]])
    none = Tensor(np.zeros(2, dtype=np.float32), requires_grad=True)
    total = clip_grad_norm(iter([a, b, none]), max_norm=1.0)
    assert total == pytest.approx(5.0)
    scale = 1.0 / (5.0 + 1e-6)
    np.testing.assert_allclose(a.grad, [3.0 * scale, 0.0], rtol=1e-6)
    np.testing.assert_allclose(b.grad, [[4.0 * scale]], rtol=1e-6)
    flat = np.concatenate([a.grad.ravel(), b.grad.ravel()])
    assert np.linalg.norm(flat) == pytest.approx(1.0, rel=1e-5)
    assert a.grad.dtype == np.float32 and none.grad is None


def test_clip_grad_norm_leaves_small_grads_alone():
    r = np.random.default_rng(0)
    grads = [r.standard_normal((3, 4)).astype(np.float32) * 0.01, r.standard_normal(4).astype(np.float32)]
    params = [param(np.zeros_like(g), g) for g in grads]
    want = np.sqrt(sum((g.astype(np.float64) ** 2).sum() for g in grads))
    total = clip_grad_norm(params, max_norm=100.0)
    assert total == pytest.approx(want, rel=1e-6)
    for p, g in zip(params, grads):
        np.testing.assert_array_equal(p.grad, g)


def test_clip_grad_norm_does_not_double_scale_shared_arrays():
    g = np.array([3.0, 4.0], dtype=np.float32)
    a, b = param([0, 0], [0, 0]), param([0, 0], [0, 0])
    a.grad = b.grad = g  # the same array object held by two parameters
    clip_grad_norm([a, b], max_norm=1.0)
    np.testing.assert_allclose(a.grad, b.grad)
    np.testing.assert_allclose(a.grad, g / (np.sqrt(50) + 1e-6), rtol=1e-6)


# ------------------------------------------------------------------------ CosineSchedule


class _Opt:
    lr = None


def test_cosine_endpoints_and_midpoint():
    opt = _Opt()
    s = CosineSchedule(opt, max_lr=1.0, min_lr=0.1, total_steps=100)
    assert opt.lr == s.get_lr(0) == 1.0
    assert s.get_lr(50) == pytest.approx(0.55)
    assert s.get_lr(100) == s.get_lr(1000) == pytest.approx(0.1)
    lrs = [s.get_lr(i) for i in range(101)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_cosine_warmup_is_linear_then_decays():
    opt = _Opt()
    s = CosineSchedule(opt, max_lr=0.4, min_lr=0.0, total_steps=20, warmup_steps=4)
    assert [s.get_lr(i) for i in range(4)] == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert s.get_lr(4) == pytest.approx(0.4)
    assert s.get_lr(12) == pytest.approx(0.2)
    assert opt.lr == pytest.approx(0.1)
    for step in range(1, 21):
        assert s.step() == opt.lr == pytest.approx(s.get_lr(step))
    assert opt.lr == 0.0


def test_cosine_state_round_trip():
    opt = _Opt()
    s = CosineSchedule(opt, 1.0, 0.0, total_steps=10)
    for _ in range(3):
        s.step()
    other = CosineSchedule(_Opt(), 1.0, 0.0, total_steps=10)
    other.load_state_dict(s.state_dict())
    assert other.optimizer.lr == opt.lr and other.step() == s.step()


@pytest.mark.parametrize(
    "kw",
    [dict(total_steps=0), dict(warmup_steps=11), dict(min_lr=2.0), dict(min_lr=-1.0, max_lr=-0.5)],
)
def test_cosine_errors(kw):
    args = dict(max_lr=1.0, min_lr=0.0, total_steps=10) | kw
    with pytest.raises(ValueError):
        CosineSchedule(_Opt(), **args)


# ------------------------------------------------------------------------ Trainer


def test_trainer_learns_separable_problem():
    manual_seed(0)
    model = mlp()
    train, val = loaders()
    trainer = Trainer(model, Adam(model.parameters(), lr=0.05), CrossEntropyLoss())
    history = trainer.fit(train, epochs=8, val_loader=val, verbose=False)
    assert set(history) == {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"}
    assert all(len(v) == 8 for v in history.values())
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["train_acc"][-1] >= 0.95
    assert history["val_acc"][-1] >= 0.95
    loss, acc = trainer.evaluate(val)
    assert loss == pytest.approx(history["val_loss"][-1]) and acc == history["val_acc"][-1]


def test_evaluate_accuracy_matches_numpy():
    manual_seed(1)
    model = mlp()
    x, y = blobs(50)
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss())
    loss, acc = trainer.evaluate(Batches(x, y, batch_size=16))
    logits = model(Tensor(x)).data.astype(np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    assert acc == pytest.approx(np.mean(logits.argmax(axis=1) == y))
    assert loss == pytest.approx(-logp[np.arange(50), y].mean(), rel=1e-5)


class Spy(Module):
    """Records the training flag and whether a graph was recorded on each forward call."""

    def __init__(self):
        super().__init__()
        self.inner = Linear(2, 3)
        self.calls = []

    def forward(self, x):
        out = self.inner(x)
        self.calls.append((self.training, out.requires_grad))
        return out


def test_evaluate_uses_eval_mode_and_no_grad_then_restores_mode():
    manual_seed(0)
    model = Spy()
    train, val = loaders()
    trainer = Trainer(model, SGD(model.parameters(), lr=0.1), CrossEntropyLoss())
    trainer.train_epoch(train)
    assert all(call == (True, True) for call in model.calls)
    model.calls.clear()
    trainer.evaluate(val)
    assert model.calls and all(call == (False, False) for call in model.calls)
    assert model.training


def test_fit_log_lines(capsys):
    manual_seed(0)
    model = mlp()
    train, val = loaders()
    Trainer(model, Adam(model.parameters(), lr=0.01), CrossEntropyLoss()).fit(
        train, epochs=5, val_loader=val, log_every=2
    )
    lines = capsys.readouterr().out.splitlines()
    pattern = (r"epoch (\d)/5  train loss \d+\.\d{3} acc \d+\.\d%  "
               r"val loss \d+\.\d{3} acc \d+\.\d%  \d+\.\d{2}s")
    assert [re.fullmatch(pattern, line).group(1) for line in lines] == ["1", "2", "4", "5"]


def test_fit_regression_has_no_accuracy_and_quiet_mode(capsys):
    manual_seed(0)
    r = np.random.default_rng(0)
    x = r.standard_normal((64, 2)).astype(np.float32)
    y = (x @ np.array([[2.0], [-1.0]], dtype=np.float32) + 0.5).astype(np.float32)
    model = Linear(2, 1)
    loader = Batches(x, y, batch_size=16, shuffle=True)
    history = Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss()).fit(loader, epochs=12)
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"epoch  1/12  train loss \d+\.\d{3}  \d+\.\d{2}s", lines[0])
    assert history["train_acc"] == [None] * 12 and history["val_loss"] == [None] * 12
    assert history["train_loss"][-1] < 0.01 * history["train_loss"][0]
    Trainer(model, SGD(model.parameters(), lr=0.1), MSELoss()).fit(loader, epochs=2, verbose=False)
    assert capsys.readouterr().out == ""


def test_fit_steps_scheduler_per_batch_and_clips():
    manual_seed(0)
    model = mlp()
    train, _ = loaders()
    opt = SGD(model.parameters(), lr=0.0, momentum=0.9)
    sched = CosineSchedule(opt, max_lr=0.1, min_lr=0.001, total_steps=3 * len(train))
    history = Trainer(model, opt, CrossEntropyLoss(), scheduler=sched, grad_clip=1.0).fit(
        train, epochs=3, verbose=False
    )
    assert history["lr"][0] == 0.1
    assert history["lr"][1] == pytest.approx(sched.get_lr(len(train)))
    assert sched.last_step == 3 * len(train) and opt.lr == pytest.approx(0.001)


def test_fit_callback_can_stop_early():
    manual_seed(0)
    model = mlp()
    train, _ = loaders()
    seen = []

    def stop_after_two(epoch, history):
        seen.append((epoch, len(history["train_loss"])))
        return epoch == 2

    history = Trainer(model, Adam(model.parameters()), CrossEntropyLoss()).fit(
        train, epochs=10, verbose=False, callback=stop_after_two
    )
    assert seen == [(1, 1), (2, 2)] and len(history["train_loss"]) == 2


# ------------------------------------------------------------------------ checkpoints


def _step(model, opt, x, y):
    opt.zero_grad()
    CrossEntropyLoss()(model(x), y).backward()
    opt.step()


def test_checkpoint_round_trip_resumes_bit_for_bit(tmp_path):
    manual_seed(0)
    x, y = blobs(32)
    x, y = Tensor(x), Tensor(y)
    model = mlp()
    opt = Adam(model.parameters(), lr=0.02, weight_decay=0.01)
    for _ in range(3):
        _step(model, opt, x, y)
    path = tmp_path / "run.ckpt"  # no .npz suffix: the exact path is used
    save_checkpoint(path, model, opt, epoch=3, note="hello", scores=np.arange(3), sched={"last_step": 7})
    assert path.exists()
    _step(model, opt, x, y)  # the uninterrupted run

    manual_seed(123)
    resumed = mlp()
    resumed_opt = Adam(resumed.parameters(), lr=1.0)
    info = load_checkpoint(path, resumed, resumed_opt)
    assert info["epoch"] == 3 and info["note"] == "hello" and info["sched"] == {"last_step": 7}
    np.testing.assert_array_equal(info["scores"], np.arange(3))
    assert resumed_opt.lr == 0.02 and resumed_opt.betas == (0.9, 0.999)
    _step(resumed, resumed_opt, x, y)
    a, b = model.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype
        np.testing.assert_array_equal(a[k], b[k])


def test_checkpoint_model_only_is_bitwise(tmp_path):
    manual_seed(0)
    model = mlp()
    save_checkpoint(tmp_path / "m.npz", model)
    manual_seed(1)
    other = mlp()
    assert load_checkpoint(tmp_path / "m.npz", other) == {"epoch": None}
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[k], v)


def test_checkpoint_sgd_momentum_round_trip(tmp_path):
    manual_seed(0)
    x, y = blobs(16)
    x, y = Tensor(x), Tensor(y)
    model = mlp()
    opt = SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    _step(model, opt, x, y)
    save_checkpoint(tmp_path / "c.npz", model, opt)
    _step(model, opt, x, y)
    resumed = mlp()
    resumed_opt = SGD(resumed.parameters(), lr=0.5)
    load_checkpoint(tmp_path / "c.npz", resumed, resumed_opt)
    assert resumed_opt.momentum == 0.9 and resumed_opt.nesterov is True
    _step(resumed, resumed_opt, x, y)
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[k], v)


def test_checkpoint_errors(tmp_path):
    manual_seed(0)
    model = mlp()
    with pytest.raises(FileNotFoundError, match="not found"):
        load_checkpoint(tmp_path / "missing.npz", model)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a zip file")
    with pytest.raises(ValueError, match="not a readable"):
        load_checkpoint(bad, model)
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.zeros(2))
    with pytest.raises(ValueError):
        load_checkpoint(plain, model)

    save_checkpoint(tmp_path / "small.npz", Sequential(Linear(2, 4), ReLU(), Linear(4, 3)))
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match="shape mismatch"):
        load_checkpoint(tmp_path / "small.npz", model)
    save_checkpoint(tmp_path / "lin.npz", Linear(2, 3))
    with pytest.raises(ValueError, match="missing keys"):
        load_checkpoint(tmp_path / "lin.npz", model)
    for k, v in model.state_dict().items():  # a failed load changes nothing
        np.testing.assert_array_equal(v, before[k])

    save_checkpoint(tmp_path / "sgd.npz", model, SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="SGD"):
        load_checkpoint(tmp_path / "sgd.npz", model, Adam(model.parameters()))
    with pytest.raises(ValueError, match="no optimizer state"):
        load_checkpoint(tmp_path / "small.npz", Sequential(Linear(2, 4), ReLU(), Linear(4, 3)),
                        SGD(model.parameters(), lr=0.1))
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(tmp_path / "x.npz", model, extra_obj=object())


def test_checkpoint_file_has_no_pickled_objects(tmp_path):
    manual_seed(0)
    model = mlp()
    save_checkpoint(tmp_path / "c.npz", model, Adam(model.parameters()), epoch=1)
    with np.load(tmp_path / "c.npz", allow_pickle=False) as f:
        assert all(f[k].dtype != object for k in f.files)
