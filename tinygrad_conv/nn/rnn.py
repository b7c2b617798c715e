"""Recurrent layers as in ``torch.nn``: RNNCell, LSTMCell, GRUCell and the multi-layer RNN, LSTM, GRU.

Parameters carry PyTorch's names, shapes, gate order (LSTM: input, forget, cell, output; GRU: reset,
update, new) and initialisation (every weight and bias from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))),
so ``load_state_dict`` of a PyTorch model's weights gives PyTorch's numbers. Each step is written
with registered ops (matmul, sigmoid, tanh, getitem, stack), so everything differentiates, twice too.
The input-to-hidden products of a whole sequence are one matmul per layer and direction; only the
hidden-to-hidden product runs per time step.

>>> import tinygrad_conv as tc
>>> from tinygrad_conv import nn
>>> lstm = nn.LSTM(4, 8, num_layers=2, batch_first=True)
>>> out, (h, c) = lstm(tc.randn(3, 5, 4))
>>> out.shape, h.shape, c.shape
((3, 5, 8), (2, 3, 8), (2, 3, 8))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..dtypes import get_default_dtype
from ..tensor import Tensor
from . import init
from .module import Module, Parameter
from .normalization import _check_device

_GATES = {"RNN_TANH": 1, "RNN_RELU": 1, "LSTM": 4, "GRU": 3}


def _check_sizes(input_size: int, hidden_size: int, layer: str) -> None:
    for name, v in (("input_size", input_size), ("hidden_size", hidden_size)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v <= 0:
            raise ValueError(f"{layer}: {name} must be a positive integer, got {v!r}")


def _reset_uniform(module: Module, hidden_size: int) -> None:
    """PyTorch's initialisation of every recurrent parameter: U(-1/sqrt(hidden_size), 1/sqrt(hidden_size))."""
    stdv = 1.0 / math.sqrt(hidden_size)
    for p in module.parameters():
        init.uniform_(p, -stdv, stdv)


def _rnn_step(mode: str, xw: Tensor, h: Tensor, c: Tensor | None, w_hh: Tensor, b_hh: Tensor | None,
              hidden: int, w_hr: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
    """One time step. ``xw`` is x @ W_ih^T + b_ih for this step (batch, gates * hidden); ``w_hr``
    projects an LSTM's hidden state down to ``proj_size`` (LSTM(proj_size=...))."""
    hw = h @ w_hh.T
    if b_hh is not None:
        hw = hw + b_hh
    if mode == "RNN_TANH":
        return F.tanh(xw + hw), None
    if mode == "RNN_RELU":
        return F.relu(xw + hw), None
    if mode == "LSTM":
        assert c is not None
        gates = xw + hw
        i = F.sigmoid(gates[:, :hidden])
        f = F.sigmoid(gates[:, hidden:2 * hidden])
        g = F.tanh(gates[:, 2 * hidden:3 * hidden])
        o = F.sigmoid(gates[:, 3 * hidden:])
        c_new = f * c + i * g
        h_new = o * F.tanh(c_new)
        return (h_new if w_hr is None else h_new @ w_hr.T), c_new
    # GRU: the reset gate multiplies the hidden product including its bias, as PyTorch.
    r = F.sigmoid(xw[:, :hidden] + hw[:, :hidden])
    z = F.sigmoid(xw[:, hidden:2 * hidden] + hw[:, hidden:2 * hidden])
    n = F.tanh(xw[:, 2 * hidden:] + r * hw[:, 2 * hidden:])
    return (1.0 - z) * n + z * h, None


# ------------------------------------------------------------------------------------------ cells
class _CellBase(Module):
    _mode = ""
    nonlinearity = "tanh"
    bias_ih: Parameter | None
    bias_hh: Parameter | None

    def __init__(self, input_size: int, hidden_size: int, bias: bool, device: Any, dtype: Any) -> None:
        super().__init__()
        name = type(self).__name__
        _check_device(device, name)
        _check_sizes(input_size, hidden_size, name)
        self.input_size, self.hidden_size, self.bias = int(input_size), int(hidden_size), bias
        gates = _GATES[self._mode] * self.hidden_size
        dt = dtype or get_default_dtype()
        self.weight_ih = Parameter(np.zeros((gates, self.input_size), dtype=dt))
        self.weight_hh = Parameter(np.zeros((gates, self.hidden_size), dtype=dt))
        if bias:
            self.bias_ih = Parameter(np.zeros(gates, dtype=dt))
            self.bias_hh = Parameter(np.zeros(gates, dtype=dt))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        _reset_uniform(self, self.hidden_size)

    def _prepare(self, input: Tensor, hx: Any) -> tuple[Tensor, bool]:
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__}")
        if input.ndim not in (1, 2):
            raise ValueError(f"{name}: expected input to be 1-d (input_size,) or 2-d (batch, input_size), got "
                             f"shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input has inconsistent input_size: got {input.shape[-1]} expected "
                             f"{self.input_size} (input shape {input.shape})")
        batched = input.ndim == 2
        return (input if batched else input.unsqueeze(0)), batched

    def _state(self, hx: Any, batch: int, batched: bool, dtype: Any, what: str = "hx") -> Tensor:
        if hx is None:
            return Tensor(np.zeros((batch, self.hidden_size), dtype=dtype))
        expected = (batch, self.hidden_size) if batched else (self.hidden_size,)
        if not isinstance(hx, Tensor) or hx.shape != expected:
            raise ValueError(f"{type(self).__name__}: expected {what} of shape {expected} for "
                             f"{'a batched' if batched else 'an unbatched'} input, got "
                             f"{getattr(hx, 'shape', type(hx).__name__)}")
        return hx if batched else hx.unsqueeze(0)

    def _forward_h(self, input: Tensor, hx: Tensor | None) -> Tensor:
        """The forward of the cells whose state is one tensor (RNNCell, GRUCell)."""
        x, batched = self._prepare(input, hx)
        h = self._state(hx, x.shape[0], batched, x.dtype)
        out, _ = self._step(x, h, None)
        return out if batched else out.squeeze(0)

    def _step(self, x: Tensor, h: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor | None]:
        xw = x @ self.weight_ih.T
        if self.bias_ih is not None:
            xw = xw + self.bias_ih
        return _rnn_step(self._mode, xw, h, c, self.weight_hh, self.bias_hh, self.hidden_size)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if not self.bias:
            s += ", bias=False"
        if self.nonlinearity != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s


class RNNCell(_CellBase):
    """h' = tanh(x W_ih^T + b_ih + h W_hh^T + b_hh) (or relu), as ``torch.nn.RNNCell``.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import nn
    >>> nn.RNNCell(3, 5)(tc.ones(2, 3)).shape
    (2, 5)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 device: Any = None, dtype: Any = None) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNNCell: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        self._mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._forward_h(input, hx)


class LSTMCell(_CellBase):
    """One LSTM step: returns (h', c'), as ``torch.nn.LSTMCell``.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import nn
    >>> h, c = nn.LSTMCell(3, 5)(tc.ones(2, 3))
    >>> h.shape, c.shape
    ((2, 5), (2, 5))
    """

    _mode = "LSTM"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x, batched = self._prepare(input, hx)
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError("LSTMCell: hx must be a pair (h_0, c_0) of tensors")
        h = self._state(None if hx is None else hx[0], x.shape[0], batched, x.dtype, "h_0")
        c = self._state(None if hx is None else hx[1], x.shape[0], batched, x.dtype, "c_0")
        h_new, c_new = self._step(x, h, c)
        assert c_new is not None
        return (h_new, c_new) if batched else (h_new.squeeze(0), c_new.squeeze(0))


class GRUCell(_CellBase):
    """One GRU step, as ``torch.nn.GRUCell``.

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import nn
    >>> nn.GRUCell(3, 5)(tc.ones(3)).shape
    (5,)
    """

    _mode = "GRU"

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        return self._forward_h(input, hx)


# ------------------------------------------------------------------------------------------ layers
class _RNNBase(Module):
    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__()
        name = type(self).__name__
        _check_device(device, name)
        _check_sizes(input_size, hidden_size, name)
        if isinstance(num_layers, bool) or not isinstance(num_layers, (int, np.integer)) or num_layers <= 0:
            raise ValueError(f"{name}: num_layers must be a positive integer, got {num_layers!r}")
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(f"{name}: dropout should be a number in range [0, 1] representing the probability "
                             f"of an element being zeroed, got {dropout!r}")
        if isinstance(proj_size, bool) or not isinstance(proj_size, (int, np.integer)) or proj_size < 0:
            raise ValueError(f"{name}: proj_size should be a positive integer or zero to disable projections, "
                             f"got {proj_size!r}")
        if proj_size >= hidden_size:
            raise ValueError(f"{name}: proj_size has to be smaller than hidden_size (proj_size={proj_size}, "
                             f"hidden_size={hidden_size})")
        if proj_size and mode != "LSTM":
            raise ValueError(f"{name}: proj_size argument is only supported for LSTM, not RNN or GRU")
        if dropout > 0 and num_layers == 1:
            import warnings

            warnings.warn("dropout option adds dropout after all but last recurrent layer, so non-zero dropout "
                          f"expects num_layers greater than 1, but got dropout={dropout} and "
                          f"num_layers={num_layers}", stacklevel=3)
        self.mode = mode
        self.input_size, self.hidden_size, self.num_layers = int(input_size), int(hidden_size), int(num_layers)
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size = bidirectional, int(proj_size)
        # With projections the hidden state h has proj_size features (the cell state c keeps hidden_size).
        self.state_size = self.proj_size or self.hidden_size
        gates = _GATES[mode] * self.hidden_size
        dt = dtype or get_default_dtype()
        directions = 2 if bidirectional else 1
        # Registered in PyTorch's order: per layer, per direction, w_ih, w_hh, b_ih, b_hh.
        for layer in range(self.num_layers):
            layer_in = self.input_size if layer == 0 else self.state_size * directions
            for d in range(directions):
                suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
                setattr(self, "weight_ih" + suffix, Parameter(np.zeros((gates, layer_in), dtype=dt)))
                setattr(self, "weight_hh" + suffix, Parameter(np.zeros((gates, self.state_size), dtype=dt)))
                if bias:
                    setattr(self, "bias_ih" + suffix, Parameter(np.zeros(gates, dtype=dt)))
                    setattr(self, "bias_hh" + suffix, Parameter(np.zeros(gates, dtype=dt)))
                if self.proj_size:
                    setattr(self, "weight_hr" + suffix,
                            Parameter(np.zeros((self.proj_size, self.hidden_size), dtype=dt)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter from U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        _reset_uniform(self, self.hidden_size)

    def _weights(self, layer: int, d: int) -> tuple[Tensor, Tensor, Tensor | None, Tensor | None, Tensor | None]:
        suffix = f"_l{layer}" + ("_reverse" if d == 1 else "")
        return (getattr(self, "weight_ih" + suffix), getattr(self, "weight_hh" + suffix),
                getattr(self, "bias_ih" + suffix, None), getattr(self, "bias_hh" + suffix, None),
                getattr(self, "weight_hr" + suffix, None))

    def _check_hidden(self, h: Any, expected: tuple[int, ...], what: str) -> Tensor:
        if not isinstance(h, Tensor) or h.shape != expected:
            raise ValueError(f"{type(self).__name__}: expected hidden size {expected} for {what}, got "
                             f"{getattr(h, 'shape', type(h).__name__)}")
        return h

    def forward(self, input: Tensor, hx: Any = None) -> tuple[Tensor, Any]:
        name = type(self).__name__
        if not isinstance(input, Tensor):
            raise TypeError(f"{name}: input must be a Tensor, got {type(input).__name__} (PackedSequence is not "
                            "supported)")
        if input.ndim not in (2, 3):
            raise ValueError(f"{name}: expected input to be 2-d (seq_len, input_size) unbatched or 3-d "
                             f"({'batch, seq_len' if self.batch_first else 'seq_len, batch'}, input_size), got "
                             f"shape {input.shape}")
        if input.shape[-1] != self.input_size:
            raise ValueError(f"{name}: input.size(-1) must be equal to input_size. Expected {self.input_size}, "
                             f"got {input.shape[-1]}")
        batched = input.ndim == 3
        x = input if batched else input.unsqueeze(1)
        if batched and self.batch_first:
            x = x.transpose(0, 1)
        seq_len, batch = x.shape[0], x.shape[1]
        directions = 2 if self.bidirectional else 1
        state_shape = (self.num_layers * directions, batch, self.state_size)
        shown = state_shape if batched else (state_shape[0], self.state_size)
        cell_shown = shown[:-1] + (self.hidden_size,)
        h0: Tensor | None
        c0: Tensor | None = None
        if hx is None:
            h0 = None
        elif self.mode == "LSTM":
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise ValueError(f"{name}: hx must be a pair (h_0, c_0) of tensors")
            h0 = self._check_hidden(hx[0], shown, "h_0")
            c0 = self._check_hidden(hx[1], cell_shown, "c_0")
        else:
            h0 = self._check_hidden(hx, shown, "h_0")
        if not batched:
            h0 = h0.unsqueeze(1) if h0 is not None else None
            c0 = c0.unsqueeze(1) if c0 is not None else None
        zeros = Tensor(np.zeros((batch, self.state_size), dtype=x.dtype))
        cell_zeros = Tensor(np.zeros((batch, self.hidden_size), dtype=x.dtype))
        h_n: list[Tensor] = []
        c_n: list[Tensor] = []
        layer_input = x
        for layer in range(self.num_layers):
            outs = []
            for d in range(directions):
                k = layer * directions + d
                w_ih, w_hh, b_ih, b_hh, w_hr = self._weights(layer, d)
                # x @ W_ih^T for the whole sequence at once: one GEMM instead of seq_len small ones.
                xw = layer_input @ w_ih.T
                if b_ih is not None:
                    xw = xw + b_ih
                h = h0[k] if h0 is not None else zeros
                c = (c0[k] if c0 is not None else cell_zeros) if self.mode == "LSTM" else None
                steps = range(seq_len - 1, -1, -1) if d == 1 else range(seq_len)
                hs: list[Tensor] = [zeros] * seq_len
                for t in steps:
                    h, c = _rnn_step(self.mode, xw[t], h, c, w_hh, b_hh, self.hidden_size, w_hr)
                    hs[t] = h
                outs.append(F.stack(*hs, dim=0))
                h_n.append(h)
                if c is not None:
                    c_n.append(c)
            layer_input = outs[0] if directions == 1 else F.cat(*outs, dim=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, True)
        output = layer_input
        if batched and self.batch_first:
            output = output.transpose(0, 1)
        if not batched:
            output = output.squeeze(1)
        h_out = F.stack(*h_n, dim=0)
        c_out = F.stack(*c_n, dim=0) if c_n else None
        if not batched:
            h_out = h_out.squeeze(1)
            c_out = c_out.squeeze(1) if c_out is not None else None
        if self.mode == "LSTM":
            assert c_out is not None
            return output, (h_out, c_out)
        return output, h_out

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s


class RNN(_RNNBase):
    """Elman RNN layers: h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh) (or relu), as
    ``torch.nn.RNN``; returns (output, h_n).

    >>> import tinygrad_conv as tc
    >>> from tinygrad_conv import nn
    >>> out, h = nn.RNN(4, 6, bidirectional=True)(tc.randn(5, 2, 4))
    >>> out.shape, h.shape
    ((5, 2, 12), (2, 2, 6))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None, proj_size: int = 0) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"RNN: unknown nonlinearity {nonlinearity!r}; use 'tanh' or 'relu'")
        self.nonlinearity = nonlinearity
        # (proj_size is accepted only to refuse it with PyTorch's ValueError: it is LSTM's)
        super().__init__("RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU", input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, proj_size, device, dtype)


class LSTM(_RNNBase):
    """Long short-term memory layers, as ``torch.nn.LSTM``; returns (output, (h_n, c_n)).

    ``proj_size`` > 0 projects each hidden state down to ``proj_size`` features (``weight_hr_l{k}``).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: Any = None, dtype: Any = None) -> None:
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)


class GRU(_RNNBase):
    """Gated recurrent unit layers, as ``torch.nn.GRU``; returns (output, h_n)."""

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: Any = None, dtype: Any = None, proj_size: int = 0) -> None:
        # (proj_size is accepted only to refuse it with PyTorch's ValueError: it is LSTM's)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype)
