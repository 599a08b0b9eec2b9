"""Optimizers (module 06): update rules against hand-written NumPy references, state, errors."""

import numpy as np
import pytest

from tinytorch.core.optimizers import SGD, Adam, AdamW
from tinytorch.core.tensor import Tensor

STEPS = 5


def make_params(seed=0, shapes=((3, 4), (4,))):
    """Float32 parameters plus a fixed sequence of float32 gradients for each step."""
    r = np.random.default_rng(seed)
    inits = [r.standard_normal(s).astype(np.float32) for s in shapes]
    grads = [[r.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(STEPS)]
    return inits, grads


def run(opt_cls, inits, grads, **kw):
    """Run the tinytorch optimizer over the gradient sequence; return final arrays."""
    params = [Tensor(a.copy(), requires_grad=True) for a in inits]
    opt = opt_cls(params, **kw)
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()
    return [p.data for p in params]


# ------------------------------------------------------------ NumPy references (float64)


def ref_sgd(p, grads, lr, momentum=0.0, weight_decay=0.0, nesterov=False):
    p, buf = p.astype(np.float64), None
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


def ref_adam(p, grads, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    p = p.astype(np.float64)
    m, v = np.zeros_like(p), np.zeros_like(p)
    for t, g in enumerate(grads, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)  # eps added after bias correction, as torch
    return p


CASES = [
    (SGD, ref_sgd, dict(lr=0.1)),
    (SGD, ref_sgd, dict(lr=0.05, momentum=0.9)),
    (SGD, ref_sgd, dict(lr=0.05, momentum=0.9, nesterov=True)),
    (SGD, ref_sgd, dict(lr=0.05, momentum=0.8, weight_decay=0.1)),
    (Adam, ref_adam, dict(lr=0.01)),
    (Adam, ref_adam, dict(lr=0.01, betas=(0.8, 0.99), weight_decay=0.1)),
    (AdamW, lambda p, g, **kw: ref_adam(p, g, decoupled=True, **kw), dict(lr=0.01, weight_decay=0.1)),
]


@pytest.mark.parametrize("opt_cls, ref, kw", CASES)
def test_matches_numpy_reference_over_steps(opt_cls, ref, kw):
    inits, grads = make_params()
    got = run(opt_cls, inits, grads, **kw)
    for i, p in enumerate(got):
        want = ref(inits[i], [g[i] for g in grads], **kw)
        np.testing.assert_allclose(p, want, rtol=1e-5, atol=1e-6)
        assert p.dtype == np.float32


def test_sgd_momentum_by_hand():
    p = Tensor(np.array([1.0], dtype=np.float32), requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    for want in (0.9, 0.71, 0.439):  # buf = 1, 1.9, 2.71
        p.grad = np.ones(1, dtype=np.float32)
        opt.step()
        assert p.data[0] == pytest.approx(want, abs=1e-6)


def test_adam_first_step_moves_by_lr():
    p = Tensor(np.array([1.0, -2.0], dtype=np.float32), requires_grad=True)
    opt = Adam([p], lr=0.1)
    p.grad = np.array([3.0, -0.5], dtype=np.float32)
    opt.step()
    np.testing.assert_allclose(p.data, [0.9, -1.9], atol=1e-6)


def test_adamw_decay_is_decoupled():
    """Zero gradient: Adam's L2 decay moves by ~lr (normalized), AdamW shrinks by lr * wd."""
    p = Tensor(np.array([2.0], dtype=np.float32), requires_grad=True)
    opt = AdamW([p], lr=0.1, weight_decay=0.5)
    p.grad = np.zeros(1, dtype=np.float32)
    opt.step()
    assert p.data[0] == pytest.approx(2.0 * (1 - 0.05), abs=1e-6)


def test_updates_in_place_and_keeps_float32():
    p = Tensor(np.ones((2, 2), dtype=np.float32), requires_grad=True)
    data = p.data
    for opt in (SGD([p], lr=0.1, momentum=0.9, weight_decay=0.1), Adam([p]), AdamW([p])):
        p.grad = np.full((2, 2), 0.5, dtype=np.float32)
        opt.step()
        assert p.data is data and p.data.dtype == np.float32
        for state in opt.state:
            for v in state.values():
                assert not isinstance(v, np.ndarray) or v.dtype == np.float32


def test_skips_params_without_grad_and_zero_grad_sets_none():
    a = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    b = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    opt = Adam([a, b], lr=0.1)
    a.grad = np.ones(3, dtype=np.float32)
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(3))
    assert not opt.state[1]
    assert opt.state[0]["step"] == 1
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_accepts_generator_and_lr_is_settable():
    p = Tensor(np.zeros(1, dtype=np.float32), requires_grad=True)
    opt = SGD((q for q in [p]), lr=1.0)
    opt.lr = 0.5
    p.grad = np.ones(1, dtype=np.float32)
    opt.step()
    assert p.data[0] == pytest.approx(-0.5)


@pytest.mark.parametrize("opt_cls, kw", [(SGD, dict(lr=0.1, momentum=0.9)), (Adam, {}), (AdamW, {})])
def test_state_dict_round_trip_resumes_identically(opt_cls, kw):
    inits, grads = make_params(1)
    params = [Tensor(a.copy(), requires_grad=True) for a in inits]
    opt = opt_cls(params, **kw)
    for step_grads in grads[:3]:
        for p, g in zip(params, step_grads):
            p.grad = g.copy()
        opt.step()
    saved = opt.state_dict()
    clones = [Tensor(p.data.copy(), requires_grad=True) for p in params]
    resumed = opt_cls(clones, lr=123.0)
    resumed.load_state_dict(saved)
    for o, ps in ((opt, params), (resumed, clones)):
        for p, g in zip(ps, grads[3]):
            p.grad = g.copy()
        o.step()
    for p, q in zip(params, clones):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dict_is_a_copy():
    p = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = np.ones(2, dtype=np.float32)
    opt.step()
    sd = opt.state_dict()
    opt.step()
    np.testing.assert_array_equal(sd["state"][0]["momentum_buffer"], [1.0, 1.0])


def test_load_state_dict_rejects_wrong_shapes():
    p = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    opt = Adam([p])
    p.grad = np.ones(2, dtype=np.float32)
    opt.step()
    other = Adam([Tensor(np.ones(3, dtype=np.float32), requires_grad=True)])
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(opt.state_dict())


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: SGD(p, lr=-0.1), "learning rate"),
        (lambda p: SGD([], lr=0.1), "empty parameter list"),
        (lambda p: SGD(p, lr=0.1, nesterov=True), "Nesterov"),
        (lambda p: SGD(p, lr=0.1, momentum=-1), "momentum"),
        (lambda p: Adam(p, betas=(1.0, 0.999)), "betas"),
        (lambda p: Adam(p, betas=(0.9, -0.1)), "betas"),
        (lambda p: AdamW(p, lr=-1e-3), "learning rate"),
        (lambda p: Adam(p, eps=-1.0), "eps"),
    ],
)
def test_errors(make, match):
    params = [Tensor(np.ones(2, dtype=np.float32), requires_grad=True)]
    with pytest.raises(ValueError, match=match):
        make(params)


@pytest.mark.parametrize("make, error, says", [
    (lambda p: SGD(p, lr=float("nan")), ValueError, "invalid learning rate: nan"),
    (lambda p: SGD(p, lr=float("inf")), ValueError, "invalid learning rate: inf"),
    (lambda p: Adam(p, lr="0.1"), TypeError, "invalid learning rate: '0.1' is a str, not a number"),
    (lambda p: Adam(p, betas=(0.9, "x")), ValueError, "invalid betas"),
    (lambda p: SGD(p, lr=0.1, momentum=-1), ValueError, "invalid momentum: -1"),
])
def test_bad_hyperparameters_are_one_clear_error(make, error, says):
    with pytest.raises(error, match=says):
        make([Tensor(np.zeros(2), requires_grad=True)])
