"""edgesnn.train: a tiny model trained for one epoch predicts the same in torch and in `simulate`."""

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgesnn.data import rate_code  # noqa: E402
from edgesnn.graph import ir  # noqa: E402
from edgesnn.graph.simulate import simulate  # noqa: E402
from edgesnn.train import (LIF, SNN, Affine, AvgPool2d, Conv2d, Flatten, SumPool2d, TrainConfig,  # noqa: E402
                           fit, predict, to_graph)


def _digits(n=200, seed=0):
    pytest.importorskip("sklearn")
    from edgesnn.data import load_digits_split
    x_tr, y_tr, x_te, y_te = load_digits_split(seed=0)
    return x_tr[:n], y_tr[:n], x_te[:100], y_te[:100]


def _check_agree(model, graph, spikes, labels, shape):
    pred_t, total_t = predict(model, spikes.reshape(len(spikes), spikes.shape[1], *shape))
    sim = simulate(graph, spikes.reshape(len(spikes), spikes.shape[1], *shape))
    total_s = sim.outputs.reshape(*sim.outputs.shape[:2], -1).sum(1)
    # float ties (torch and numpy sum matrix products in different orders) may move a rare spike;
    # on this seeded tiny case they agree exactly.
    assert np.array_equal(sim.pred, pred_t)
    assert np.array_equal(total_s, total_t)
    return float(np.mean(sim.pred == labels))


def test_mlp_one_epoch_torch_and_simulate_agree():
    x_tr, y_tr, x_te, y_te = _digits()
    torch.manual_seed(0)
    model = SNN((64,), Affine(64, 32), LIF((32,)), Affine(32, 10), LIF((10,)))
    train = rate_code(x_tr, 8, seed=1).reshape(len(x_tr), 8, 64)
    res = fit(model, train, y_tr, TrainConfig(epochs=1, batch_size=50, seed=0, progress=False))
    assert len(res.history) == 1 and np.isfinite(res.history[0]["loss"])
    graph = to_graph(model, (64,))
    assert isinstance(graph.nodes["lif1"], ir.LIF) and graph.nodes["lif1"].reset == "subtract"
    assert graph.nodes["lif1"].alpha.shape == (32,) and graph.nodes["lif1"].alpha.dtype == np.float32
    test = rate_code(x_te, 8, seed=2).reshape(len(x_te), 8, 64)
    acc = _check_agree(model, graph, test, y_te, (64,))
    assert acc > 0.2  # one epoch on 200 samples already beats chance


def test_cnn_one_epoch_torch_and_simulate_agree():
    x_tr, y_tr, x_te, y_te = _digits(n=100)
    torch.manual_seed(0)
    model = SNN((1, 8, 8),
                Conv2d(1, 4, 3, padding=1, stride=1), LIF((4, 8, 8), param_shape=(4, 1, 1)),
                SumPool2d(2),
                Conv2d(4, 4, 3, padding=1, stride=2), LIF((4, 2, 2), param_shape=(4, 1, 1)),
                AvgPool2d(2, stride=1, padding=1),
                Flatten(),
                Affine(36, 10), LIF((10,)))
    train = rate_code(x_tr[:, None], 8, seed=1)
    fit(model, train, y_tr, TrainConfig(epochs=1, batch_size=50, seed=0, progress=False))
    graph = to_graph(model, (1, 8, 8))
    kinds = [n.kind for n in graph.nodes.values()]
    assert kinds == ["Input", "Conv2d", "LIF", "SumPool2d", "Conv2d", "LIF", "AvgPool2d", "Flatten",
                     "Affine", "LIF", "Output"]
    assert graph.nodes["conv2"].stride == (2, 2) and graph.nodes["lif2"].threshold.shape == (4, 2, 2)
    test = rate_code(x_te[:, None], 8, seed=2)
    _check_agree(model, graph, test, y_te, (1, 8, 8))


def test_training_is_reproducible():
    x_tr, y_tr, _, _ = _digits(n=100)
    train = rate_code(x_tr, 4, seed=1).reshape(len(x_tr), 4, 64)
    weights = []
    for _ in range(2):
        torch.manual_seed(0)
        model = SNN((64,), Affine(64, 16), LIF((16,)), Affine(16, 10), LIF((10,)))
        fit(model, train, y_tr, TrainConfig(epochs=2, batch_size=32, seed=5, progress=False))
        weights.append([p.detach().numpy().copy() for p in model.parameters()])
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


def test_projection_keeps_parameters_exportable():
    torch.manual_seed(0)
    model = SNN((4,), Affine(4, 3), LIF((3,)))
    with torch.no_grad():
        model.layers[1].alpha.copy_(torch.tensor([-0.5, 0.5, 1.5]))
        model.layers[1].threshold.copy_(torch.tensor([-1.0, 0.5, 2.0]))
    model.project_()
    g = to_graph(model, (4,))
    assert np.array_equal(g.nodes["lif1"].alpha, np.array([0.0, 0.5, 0.99], np.float32))
    assert np.array_equal(g.nodes["lif1"].threshold, np.array([0.05, 0.5, 2.0], np.float32))


def test_core_package_imports_without_torch():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import edgesnn, edgesnn.data, edgesnn.train, edgesnn.graph, edgesnn.graph.simulate\n"
            "from edgesnn.errors import EdgesnnError\n"
            "try:\n"
            "    edgesnn.train.to_graph\n"
            "except EdgesnnError as e:\n"
            "    assert 'PyTorch' in str(e), e\n"
            "else:\n"
            "    raise SystemExit('expected an EdgesnnError')\n")
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("shape, param_shape", [((12,), None), ((4, 3, 3), (4, 1, 1))])
def test_fused_lif_matches_the_step_loop(shape, param_shape):
    """The hand-written BPTT of the fused LIF gives the autograd step loop's spikes and gradients."""
    torch.manual_seed(0)
    lif = LIF(shape, param_shape=param_shape)
    with torch.no_grad():
        lif.alpha.uniform_(0.5, 0.99)
        lif.threshold.uniform_(0.5, 1.5)
    x = (torch.randn(16, 10, *shape) * 0.8).requires_grad_()
    w = torch.randn(16, 10, *shape)
    grads = []
    for run in (lif.forward, lif.forward_reference):
        for p in (x, lif.alpha, lif.threshold):
            p.grad = None
        s = run(x)
        (s * w).sum().backward()
        grads.append([s.detach().clone(), x.grad.clone(), lif.alpha.grad.clone(), lif.threshold.grad.clone()])
    (s1, *g1), (s2, *g2) = grads
    assert torch.equal(s1, s2)
    for a, b in zip(g1, g2):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)
