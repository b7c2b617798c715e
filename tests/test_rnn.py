"""RNNCell, LSTMCell, GRUCell and RNN, LSTM, GRU against PyTorch: parameter names, shapes and init
distribution, outputs and final states, and the gradients of the input, the initial states and every
parameter with random upstream gradients, for every option (num_layers, nonlinearity, bias,
batch_first, bidirectional, unbatched inputs), after loading PyTorch's weights with load_state_dict."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv import nn


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def _load_torch_weights(torch, ours: nn.Module, theirs) -> None:
    """PyTorch's (randomly initialised) weights into ours, through load_state_dict by name."""
    result = ours.load_state_dict({k: v.detach().numpy().copy() for k, v in theirs.state_dict().items()})
    assert not result.missing_keys and not result.unexpected_keys


def _as_list(out):
    if isinstance(out, tuple):
        flat = []
        for o in out:
            flat.extend(_as_list(o))
        return flat
    return [out]


def _compare(torch, ours, theirs, x: np.ndarray, hx=None, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    torch.manual_seed(0)
    _load_torch_weights(torch, ours, theirs)
    xt, tx = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    if hx is None:
        out, tout = ours(xt), theirs(tx)
        hs = ths = []
    else:
        hs = [tc.Tensor(h, requires_grad=True) for h in hx]
        ths = [torch.tensor(h, requires_grad=True) for h in hx]
        arg = (hs[0], hs[1]) if len(hs) == 2 else hs[0]
        targ = (ths[0], ths[1]) if len(ths) == 2 else ths[0]
        out, tout = ours(xt, arg), theirs(tx, targ)
    outs, touts = _as_list(out), _as_list(tout)
    assert len(outs) == len(touts)
    rng = np.random.default_rng(12)
    total, ttotal = None, None
    for o, to in zip(outs, touts):
        assert o.shape == tuple(to.shape)
        np.testing.assert_allclose(o.detach().numpy(), to.detach().numpy(), rtol=rtol, atol=atol)
        g = rng.standard_normal(o.shape).astype(o.dtype)
        term, tterm = (o * tc.Tensor(g)).sum(), (to * torch.from_numpy(g)).sum()
        total = term if total is None else total + term
        ttotal = tterm if ttotal is None else ttotal + tterm
    total.backward()
    ttotal.backward()
    np.testing.assert_allclose(xt.grad.detach().numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for h, th in zip(hs, ths):
        np.testing.assert_allclose(h.grad.detach().numpy(), th.grad.numpy(), rtol=1e-4, atol=1e-5)
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        np.testing.assert_allclose(p.grad.detach().numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


# ------------------------------------------------------------------------------------------ cells
@pytest.mark.parametrize("cls,kw", [("RNNCell", {}), ("RNNCell", {"nonlinearity": "relu"}),
                                    ("RNNCell", {"bias": False}), ("LSTMCell", {}), ("LSTMCell", {"bias": False}),
                                    ("GRUCell", {}), ("GRUCell", {"bias": False})])
@pytest.mark.parametrize("with_state", [False, True])
def test_cells_match_torch(torch, cls, kw, with_state) -> None:
    ours, theirs = getattr(nn, cls)(5, 4, **kw), getattr(torch.nn, cls)(5, 4, **kw)
    assert repr(ours) == repr(theirs)
    assert [(k, p.shape) for k, p in ours.named_parameters()] == \
        [(k, tuple(p.shape)) for k, p in theirs.named_parameters()]
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5)).astype(np.float32)
    hx = None
    if with_state:
        hx = [rng.standard_normal((3, 4)).astype(np.float32) for _ in range(2 if cls == "LSTMCell" else 1)]
    _compare(torch, ours, theirs, x, hx)


@pytest.mark.parametrize("cls", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cells_take_unbatched_inputs(torch, cls) -> None:
    ours, theirs = getattr(nn, cls)(3, 2), getattr(torch.nn, cls)(3, 2)
    x = np.random.default_rng(2).standard_normal(3).astype(np.float32)
    hx = [np.random.default_rng(3).standard_normal(2).astype(np.float32) for _ in range(2 if cls == "LSTMCell" else 1)]
    _compare(torch, ours, theirs, x, hx)


def test_lstm_cell_unrolled_by_hand_trains_as_torch(torch) -> None:
    # The custom-loop pattern of the PyTorch time-sequence example: a cell applied step by step.
    ours, theirs = nn.LSTMCell(2, 6), torch.nn.LSTMCell(2, 6)
    _load_torch_weights(torch, ours, theirs)
    x = np.random.default_rng(4).standard_normal((7, 3, 2)).astype(np.float32)
    h = c = tc.zeros(3, 6)
    th = tc_ = torch.zeros(3, 6)
    for t in range(7):
        h, c = ours(tc.Tensor(x[t]), (h, c))
        th, tc_ = theirs(torch.tensor(x[t]), (th, tc_))
    (h * h).sum().backward()
    (th * th).sum().backward()
    np.testing.assert_allclose(h.detach().numpy(), th.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.weight_hh.grad.detach().numpy(), theirs.weight_hh.grad.numpy(), rtol=1e-4,
                               atol=1e-5)


# ------------------------------------------------------------------------------------------ layers
LAYER_CASES = [
    ("RNN", {}), ("RNN", {"nonlinearity": "relu", "num_layers": 2}), ("RNN", {"bias": False, "batch_first": True}),
    ("RNN", {"bidirectional": True}), ("LSTM", {}), ("LSTM", {"num_layers": 2, "batch_first": True}),
    ("LSTM", {"bidirectional": True, "num_layers": 2}), ("LSTM", {"bias": False}), ("GRU", {}),
    ("GRU", {"num_layers": 3, "bidirectional": True, "batch_first": True}), ("GRU", {"bias": False}),
]


@pytest.mark.parametrize("cls,kw", LAYER_CASES, ids=[f"{c}-{'-'.join(f'{k}={v}' for k, v in kw.items())}"
                                                      for c, kw in LAYER_CASES])
@pytest.mark.parametrize("with_state", [False, True])
def test_layers_match_torch(torch, cls, kw, with_state) -> None:
    ours, theirs = getattr(nn, cls)(4, 3, **kw), getattr(torch.nn, cls)(4, 3, **kw)
    assert repr(ours) == repr(theirs)
    assert [(k, p.shape) for k, p in ours.named_parameters()] == \
        [(k, tuple(p.shape)) for k, p in theirs.named_parameters()]
    rng = np.random.default_rng(5)
    seq, batch = 6, 2
    shape = (batch, seq, 4) if kw.get("batch_first") else (seq, batch, 4)
    x = rng.standard_normal(shape).astype(np.float32)
    hx = None
    if with_state:
        d = 2 if kw.get("bidirectional") else 1
        hshape = (kw.get("num_layers", 1) * d, batch, 3)
        hx = [rng.standard_normal(hshape).astype(np.float32) for _ in range(2 if cls == "LSTM" else 1)]
    _compare(torch, ours, theirs, x, hx)


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
def test_layers_take_unbatched_sequences(torch, cls) -> None:
    ours, theirs = getattr(nn, cls)(3, 2, num_layers=2), getattr(torch.nn, cls)(3, 2, num_layers=2)
    x = np.random.default_rng(6).standard_normal((5, 3)).astype(np.float32)
    hx = [np.random.default_rng(7).standard_normal((2, 2)).astype(np.float32) for _ in range(2 if cls == "LSTM" else 1)]
    _compare(torch, ours, theirs, x, hx)


def test_dropout_between_layers_only_in_training(torch) -> None:
    ours = nn.GRU(3, 4, num_layers=2, dropout=0.5)
    x = tc.randn(5, 2, 3)
    tc.manual_seed(0)
    a, _ = ours(x)
    tc.manual_seed(1)
    b, _ = ours(x)
    assert not np.allclose(a.detach().numpy(), b.detach().numpy())  # a fresh mask between the layers each call
    ours.eval()
    theirs = torch.nn.GRU(3, 4, num_layers=2, dropout=0.5).eval()
    _load_torch_weights(torch, ours, theirs)
    np.testing.assert_allclose(ours(x)[0].detach().numpy(),
                               theirs(torch.tensor(x.detach().numpy()))[0].detach().numpy(), rtol=1e-5, atol=1e-6)
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.LSTM(3, 4, dropout=0.2)


@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_initialisation_is_torchs_distribution(cls) -> None:
    m = getattr(nn, cls)(10, 50)
    bound = 1.0 / math.sqrt(50)
    for name, p in m.named_parameters():
        assert p.dtype == np.float32, name
        assert np.abs(p.detach().numpy()).max() <= bound, name
        assert np.abs(p.detach().numpy()).max() > 0.9 * bound, name  # spread over the whole range, not zeros


def test_second_derivative_flows_through_an_lstm(torch) -> None:
    ours, theirs = nn.LSTM(2, 3).double(), torch.nn.LSTM(2, 3).double()
    _load_torch_weights(torch, ours, theirs)
    x = np.random.default_rng(8).standard_normal((4, 1, 2))
    xt, tx = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (g,) = tc.grad(ours(xt)[0].sum(), xt, create_graph=True)
    (tg,) = torch.autograd.grad(theirs(tx)[0].sum(), tx, create_graph=True)
    (g * g).sum().backward()
    (tg * tg).sum().backward()
    np.testing.assert_allclose(ours.weight_hh_l0.grad.detach().numpy(), theirs.weight_hh_l0.grad.numpy(), rtol=1e-8,
                               atol=1e-10)


def test_errors_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="input.size\\(-1\\) must be equal to input_size. Expected 4, got 5"):
        nn.LSTM(4, 3)(tc.ones(2, 1, 5))
    with pytest.raises(ValueError, match=r"LSTM: expected hidden size \(1, 2, 3\) for h_0, got \(1, 3, 3\)"):
        nn.LSTM(4, 3)(tc.ones(5, 2, 4), (tc.zeros(1, 3, 3), tc.zeros(1, 2, 3)))
    with pytest.raises(ValueError, match="hx must be a pair"):
        nn.LSTM(4, 3)(tc.ones(5, 2, 4), tc.zeros(1, 2, 3))
    with pytest.raises(ValueError, match="expected input to be 2-d"):
        nn.GRU(4, 3)(tc.ones(4))
    with pytest.raises(ValueError, match="unknown nonlinearity 'gelu'"):
        nn.RNN(4, 3, nonlinearity="gelu")
    with pytest.raises(ValueError, match="dropout should be a number in range"):
        nn.GRU(4, 3, dropout=1.5)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(4, 3, proj_size=3)
    with pytest.raises(ValueError, match="proj_size argument is only supported for LSTM"):
        nn.GRU(4, 3, proj_size=2)
    with pytest.raises(ValueError, match="proj_size should be a positive integer or zero"):
        nn.LSTM(4, 3, proj_size=-1)
    with pytest.raises(ValueError, match="RNNCell: input has inconsistent input_size: got 2 expected 4"):
        nn.RNNCell(4, 3)(tc.ones(1, 2))
    with pytest.raises(ValueError, match=r"GRUCell: expected hx of shape \(1, 3\)"):
        nn.GRUCell(4, 3)(tc.ones(1, 4), tc.ones(2, 3))
    with pytest.raises(ValueError, match="hidden_size must be a positive integer"):
        nn.LSTMCell(4, 0)


@pytest.mark.parametrize("kw", [{}, {"num_layers": 2, "bidirectional": True}, {"batch_first": True, "bias": False}],
                         ids=["one-layer", "two-layers-bidirectional", "batch-first-no-bias"])
@pytest.mark.parametrize("with_state", [False, True])
def test_lstm_projections_match_torch(torch, kw, with_state) -> None:
    ours, theirs = nn.LSTM(4, 5, proj_size=2, **kw), torch.nn.LSTM(4, 5, proj_size=2, **kw)
    assert repr(ours) == repr(theirs)
    assert [(k, p.shape) for k, p in ours.named_parameters()] == \
        [(k, tuple(p.shape)) for k, p in theirs.named_parameters()]
    rng = np.random.default_rng(8)
    shape = (2, 6, 4) if kw.get("batch_first") else (6, 2, 4)
    x = rng.standard_normal(shape).astype(np.float32)
    hx = None
    if with_state:
        layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
        hx = [rng.standard_normal((layers, 2, 2)).astype(np.float32),   # h: proj_size features
              rng.standard_normal((layers, 2, 5)).astype(np.float32)]   # c: hidden_size features
    _compare(torch, ours, theirs, x, hx)
