"""Float reference MLP: gradients against finite differences, the heads' Hessian products,
training (SGD / Adam, seeded), save / load."""
from __future__ import annotations

import numpy as np
import pytest

from fxlearn import nn


def numeric_grads(model: nn.MLP, x, y, eps=1e-6):
    out = []
    for p in model.params:
        g = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            lp = model.loss(x, y)
            p[i] = old - eps
            lm = model.loss(x, y)
            p[i] = old
            g[i] = (lp - lm) / (2 * eps)
        out.append(g)
    return out


@pytest.mark.parametrize("head", nn.HEADS)
def test_gradients_match_finite_differences(rng, head):
    model = nn.MLP.init((5, 7, 4, 3), head=head, seed=3)
    for b in model.biases:                      # keep pre-activations away from the ReLU kink
        b += 0.1
    x = rng.normal(size=(9, 5))
    y = rng.integers(0, 3, size=9)
    _, grads = model.loss_and_grads(x, y)
    for g, n in zip(grads, numeric_grads(model, x, y)):
        np.testing.assert_allclose(g, n, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("head", nn.HEADS)
def test_head_hvp_is_derivative_of_head_gradient(rng, head):
    z = rng.normal(size=(6, 4))
    y = rng.integers(0, 4, size=6)
    v = rng.normal(size=z.shape)
    eps = 1e-6
    fd = (nn.head_loss(z + eps * v, y, head)[1] - nn.head_loss(z - eps * v, y, head)[1]) / (2 * eps)
    np.testing.assert_allclose(nn.head_hvp(z, v, head), fd, rtol=1e-6, atol=1e-9)


def test_softmax_loss_hand_value():
    # two equal logits: loss ln 2, gradient (p - onehot) / n
    loss, g = nn.head_loss(np.zeros((1, 2)), np.array([1]), "softmax")
    assert loss == pytest.approx(np.log(2))
    np.testing.assert_allclose(g, [[0.5, -0.5]])
    loss, g = nn.head_loss(np.array([[1.0, 3.0]]), np.array([0]), "mse")   # targets [1, 0]
    assert loss == pytest.approx(0.5 * 9)
    np.testing.assert_allclose(g, [[0.0, 3.0]])


def blobs(rng, n=200):
    centers = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 2.5]])
    y = rng.integers(0, 3, size=n)
    return centers[y] + 0.5 * rng.normal(size=(n, 2)), y


@pytest.mark.parametrize("opt", ["sgd", "adam"])
@pytest.mark.parametrize("head", nn.HEADS)
def test_training_lowers_loss_and_learns(rng, opt, head):
    x, y = blobs(rng)
    model = nn.MLP.init((2, 16, 3), head=head, seed=1)
    before = model.loss(x, y)
    lr = 0.05 if opt == "sgd" else 0.01
    hist = nn.train(model, x, y, nn.TrainConfig(epochs=40, batch_size=16, optimizer=opt, lr=lr))
    assert hist.loss[-1] < 0.3 * before
    assert model.accuracy(x, y) > 0.95


def test_training_is_reproducible_from_the_seed(rng):
    x, y = blobs(rng)
    runs = []
    for seed in (4, 4, 5):
        m = nn.MLP.init((2, 8, 3), seed=0)
        nn.train(m, x, y, nn.TrainConfig(epochs=3, seed=seed))
        runs.append(m)
    assert all(np.array_equal(a, b) for a, b in zip(runs[0].params, runs[1].params))
    assert not np.array_equal(runs[0].weights[0], runs[2].weights[0])


def test_adam_first_step_is_lr_times_sign():
    p = np.array([1.0, -2.0, 3.0])
    nn.Adam([p], lr=0.1).step([np.array([0.5, -4.0, 0.0])])
    np.testing.assert_allclose(p, [0.9, -1.9, 3.0], atol=1e-6)


def test_sgd_momentum_and_weight_decay_hand_values():
    p = np.array([1.0])
    opt = nn.SGD([p], lr=0.1, momentum=0.5, weight_decay=0.1)
    opt.step([np.array([1.0])])           # g = 1 + 0.1 * 1 = 1.1; v = 1.1
    assert p[0] == pytest.approx(1 - 0.11)
    opt.step([np.array([1.0])])           # g = 1 + 0.089; v = 0.55 + 1.089
    assert p[0] == pytest.approx(0.89 - 0.1 * (0.55 + 1.089))


def test_save_load_round_trip(tmp_path):
    model = nn.MLP.init((4, 6, 2), head="mse", seed=2)
    path = tmp_path / "m.npz"
    model.save(path)
    back = nn.MLP.load(path)
    assert back.head == "mse" and back.sizes == (4, 6, 2)
    assert all(np.array_equal(a, b) for a, b in zip(model.params, back.params))
    np.savez(tmp_path / "bad.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not an fxlearn float MLP"):
        nn.MLP.load(tmp_path / "bad.npz")


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="head"):
        nn.MLP.init((2, 3), head="hinge")
    with pytest.raises(ValueError, match="input width"):
        nn.MLP([np.zeros((3, 2)), np.zeros((2, 4))], [np.zeros(3), np.zeros(2)])
    with pytest.raises(ValueError, match="sizes"):
        nn.MLP.init((5,))
    with pytest.raises(ValueError, match="optimizer"):
        nn.make_optimizer("rmsprop", [np.zeros(1)], 0.1)
    with pytest.raises(ValueError, match="samples"):
        nn.train(nn.MLP.init((2, 2)), np.zeros((3, 2)), np.zeros(2, dtype=int))
    with pytest.raises(ValueError, match="schedule"):
        nn.lr_at(nn.TrainConfig(schedule="step"), 0)
