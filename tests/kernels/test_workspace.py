"""Tests of the conv kernels' kept scratch memory (kernels/workspace.py).

The kernels take their scratch from buffers kept between calls, so every test here makes sure that
what a buffer held before cannot leak into a result: the kept buffers are filled with NaN bytes
between calls, and results must still equal the textbook kernels of kernels/reference.py.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tinygrad_conv.kernels import conv as K
from tinygrad_conv.kernels import reference as R
from tinygrad_conv.kernels import winograd, workspace

P1 = ((1, 1), (1, 1))
P0 = ((0, 0), (0, 0))


@pytest.fixture(autouse=True)
def fresh_workspace():
    workspace.clear()
    yield
    workspace.clear()


def test_take_reuses_a_role_s_memory_and_zeroes_on_request():
    a = workspace.take("t.a", (4, 5), np.float32)
    a[...] = 7
    b = workspace.take("t.a", (2, 10), np.float32)
    assert np.shares_memory(a, b) and b.flags.c_contiguous and b.dtype == np.float32 and (b == 7).all()
    z = workspace.take("t.a", (3,), np.float64, zero=True)
    assert z.tolist() == [0.0, 0.0, 0.0] and np.shares_memory(z, a)
    other = workspace.take("t.b", (4, 5), np.float32)
    assert not np.shares_memory(other, a)
    assert workspace.kept_bytes() == 2 * 80


def test_a_larger_request_replaces_the_buffer():
    small = workspace.take("t.grow", (10,), np.float32)
    big = workspace.take("t.grow", (1000,), np.float32)
    assert not np.shares_memory(small, big) and workspace.kept_bytes() == 4000


def test_the_limit_keeps_large_buffers_out_and_zero_turns_reuse_off():
    old = workspace.get_limit()
    try:
        workspace.take("t.lim", (10,), np.float32)
        workspace.set_limit(16)
        a = workspace.take("t.lim", (10,), np.float32, zero=True)  # 40 bytes: not kept, and the role freed
        assert workspace.kept_bytes() == 0 and a.tolist() == [0.0] * 10
        workspace.set_limit(0)
        first, second = workspace.take("t.off", (2,), np.float32), workspace.take("t.off", (2,), np.float32)
        assert not np.shares_memory(first, second) and workspace.kept_bytes() == 0
        with pytest.raises(ValueError, match="workspace limit must be >= 0 bytes, got -1"):
            workspace.set_limit(-1)
    finally:
        workspace.set_limit(old)


def test_each_thread_keeps_its_own_buffers():
    mine = workspace.take("t.thread", (8,), np.float32)
    theirs = []
    worker = threading.Thread(target=lambda: theirs.append(workspace.take("t.thread", (8,), np.float32)))
    worker.start()
    worker.join()
    assert not np.shares_memory(mine, theirs[0])
    assert workspace.kept_bytes() == 32  # the other thread's buffer is not this thread's


def _poison() -> None:
    """Fill every kept buffer with 0xFF bytes: NaN in any float dtype."""
    for buf in workspace._buffers().values():
        buf.fill(0xFF)


# (N, C, H, W, F, groups, kernel, stride, padding, dilation): junk columns, strides, groups, padding
CONFIGS = [
    (3, 4, 9, 9, 6, 1, (3, 3), (1, 1), P1, (1, 1)),
    (2, 3, 8, 8, 5, 1, (5, 5), (1, 1), P0, (1, 1)),
    (2, 4, 10, 11, 6, 2, (3, 3), (2, 2), P1, (1, 1)),
    (2, 3, 13, 12, 4, 1, (3, 3), (2, 2), ((2, 2), (2, 2)), (3, 3)),
    (3, 4, 10, 11, 6, 2, (3, 2), (1, 1), ((1, 2), (0, 1)), (2, 3)),
]


def _all_kernels(x, w, dy, b, cfg):
    n, c, h, wd, f, g, k, s, p, d = cfg
    y = K.conv2d(x, w, s, p, d, g, b)
    dx = K.conv_transpose2d(dy, w, s, p, d, g, (h, wd))
    dw, db = K.conv2d_weight_and_bias_grad(x, dy, k, s, p, d, g)
    y2, dw2 = K.conv2d_and_weight_grad(x, w, dy, s, p, d, g)
    dx3, dw3, db3 = K.conv2d_input_and_weight_grads(x, w, dy, s, p, d, g, True)
    return y, dx, dw, db, y2, dw2, dx3, dw3, db3


def _references(x, w, dy, b, cfg):
    n, c, h, wd, f, g, k, s, p, d = cfg
    y0 = R.conv2d(x, w, s, p, d, g)
    dx, dw, db = R.conv2d_input_and_weight_grads(x, w, dy, s, p, d, g, True)
    return (y0 + b.reshape(1, -1, 1, 1), dx, dw, db, y0, dw, dx, dw, db)


def _problem(cfg, dtype, seed):
    n, c, h, wd, f, g, k, s, p, d = cfg
    rng = np.random.default_rng(seed)
    oh = K.conv2d_output_size(h, k[0], s[0], sum(p[0]), d[0])
    ow = K.conv2d_output_size(wd, k[1], s[1], sum(p[1]), d[1])
    return (rng.standard_normal((n, c, h, wd)).astype(dtype), rng.standard_normal((f, c // g) + k).astype(dtype),
            rng.standard_normal((n, f, oh, ow)).astype(dtype), rng.standard_normal(f).astype(dtype))


@pytest.mark.parametrize("variant", [v for v in K.VARIANTS if v != "winograd"])
def test_stale_scratch_never_reaches_a_result(monkeypatch, variant):
    """Every variant, over shapes that reuse each other's buffers in turn, with NaN bytes left in
    every kept buffer before each call: the results equal the reference kernels, and none of them
    is kept scratch."""
    monkeypatch.setattr(K, "ALGORITHM", variant)
    for dtype in (np.float64, np.float32):
        tol = {"rtol": 1e-4, "atol": 1e-4} if dtype == np.float32 else {"rtol": 1e-10, "atol": 1e-10}
        for _ in range(2):  # the second time round, every buffer was used by another shape
            for i, cfg in enumerate(CONFIGS):
                x, w, dy, b = _problem(cfg, dtype, seed=i)
                _poison()
                got = _all_kernels(x, w, dy, b, cfg)
                for a, e in zip(got, _references(x, w, dy, b, cfg)):
                    np.testing.assert_allclose(a, e, **tol)
                    assert not any(np.shares_memory(a, buf) for buf in workspace._buffers().values())
    assert workspace.kept_bytes() > 0


def test_stale_scratch_never_reaches_a_winograd_result(monkeypatch):
    monkeypatch.setattr(winograd, "MIN_CHANNELS", 1)
    monkeypatch.setattr(K, "ALGORITHM", "winograd")
    cfg = (2, 3, 10, 10, 4, 1, (3, 3), (1, 1), P1, (1, 1))
    for seed in range(2):
        x, w, dy, b = _problem(cfg, np.float32, seed)
        _poison()
        for a, e in zip(_all_kernels(x, w, dy, b, cfg), _references(x, w, dy, b, cfg)):
            np.testing.assert_allclose(a, e, rtol=1e-4, atol=1e-4)
    assert workspace.PRODUCT in workspace._buffers()  # the slot only Winograd takes


def test_threads_running_convs_at_once_get_their_own_scratch():
    results: dict[int, list] = {}

    def work(i: int) -> None:
        cfg = CONFIGS[i % len(CONFIGS)]
        x, w, dy, b = _problem(cfg, np.float64, seed=i)
        out = []
        for _ in range(5):
            out.append([np.allclose(a, e) for a, e in zip(_all_kernels(x, w, dy, b, cfg),
                                                          _references(x, w, dy, b, cfg))])
        results[i] = out

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [0, 1, 2, 3]
    assert all(all(all(row) for row in out) for out in results.values())
