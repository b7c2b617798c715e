"""Time per training epoch of `tinygrad-conv train`'s default model (LeNet on the 8x8 digits), against PyTorch.

Both frameworks train the same architecture from the same initial weights on the same batches
(Adam, batch 32, cross entropy with label smoothing 0.1, as ``tinygrad-conv train``), one epoch per
timed call, by timing.py's protocol (epochs back to back in blocks, alternating, min per side).
Two settings, each in its own run of the protocol:

- one thread each: NumPy's BLAS, our elementwise passes and PyTorch all on one thread;
- default threads: ours as ``tinygrad-conv train`` runs by default (its ``--threads 1`` limits
  the BLAS to one thread; our elementwise passes use ``tc.get_num_threads()``), PyTorch with its
  own default thread count;
- the same, but with NumPy's BLAS on as many threads as NumPy sets (``--threads 0``).

A third side, "our GEMMs alone", runs only the matrix products of one of our epochs (the convs'
im2col GEMMs and the linear layers', at every batch's size): the floor of our design with this BLAS.
The test accuracy of both after the last epoch is printed as a check that both really trained.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_train_torch.py [--quick]
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
from timing import Protocol, compare, one_thread_each, script_main

BATCH = 32
LR = 3e-3
SMOOTHING = 0.1
# Batches per epoch: None for the whole training set (a smoke test takes a few).
BATCHES: int | None = None


@contextlib.contextmanager
def blas_threads(n: int) -> Iterator[None]:
    """NumPy's BLAS limited to ``n`` threads for the block (as ``tinygrad-conv train --threads``)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=n, user_api="blas"):
        yield


class Ours:
    """Our model, optimizer and loader; ``epoch()`` trains one epoch."""

    def __init__(self) -> None:
        import tinygrad_conv.functional as F
        from tinygrad_conv import nn, optim
        from tinygrad_conv.data import DataLoader, TensorDataset, load_digits
        from tinygrad_conv.nn.models import build_model

        nn.init.manual_seed(0)
        self.F = F
        self.model = build_model("lenet", "digits")
        self.initial = {k: v.detach().numpy().copy() for k, v in self.model.state_dict().items()}
        xtr, ytr = load_digits("train")
        self.test = load_digits("test")
        self.opt = optim.Adam(self.model.parameters(), lr=LR)
        self.loader = DataLoader(TensorDataset(xtr, ytr), batch_size=BATCH, shuffle=True, seed=0)

    def epoch(self) -> None:
        from tinygrad_conv.commands.train import fixed_conv_algorithm

        with fixed_conv_algorithm():  # as `tinygrad-conv train` runs its convs
            for xb, yb in itertools.islice(self.loader, BATCHES):
                loss = self.F.cross_entropy(self.model(xb), yb, label_smoothing=SMOOTHING)
                self.opt.zero_grad()
                loss.backward()
                self.opt.step()

    def accuracy(self) -> float:
        import tinygrad_conv as tc
        from tinygrad_conv.commands.train import fixed_conv_algorithm

        xte, yte = self.test
        self.model.eval()
        with tc.no_grad(), fixed_conv_algorithm():
            acc = float((self.model(tc.Tensor(xte)).numpy().argmax(1) == yte).mean())
        self.model.train()
        return acc


class Theirs:
    """The same model in PyTorch, from the same initial weights, on the same batches."""

    def __init__(self, torch: Any, initial: dict[str, np.ndarray]) -> None:
        from tinygrad_conv.data import DataLoader, TensorDataset, load_digits

        tnn: Any = torch.nn
        self.torch = torch

        class LeNet(tnn.Module):  # ours, with the same parameter names
            def __init__(self) -> None:
                super().__init__()
                self.features = tnn.Sequential(tnn.Conv2d(1, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                                               tnn.Conv2d(32, 64, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2))
                self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(256, 128), tnn.ReLU(),
                                                 tnn.Linear(128, 10))

            def forward(self, x: Any) -> Any:
                return self.classifier(self.features(x))

        self.model = LeNet()
        self.model.load_state_dict({k: torch.from_numpy(v) for k, v in initial.items()})
        xtr, ytr = load_digits("train")
        self.test = load_digits("test")
        self.opt = torch.optim.Adam(self.model.parameters(), lr=LR)
        self.loader = DataLoader(TensorDataset(xtr, ytr), batch_size=BATCH, shuffle=True, seed=0)

    def epoch(self) -> None:
        f = self.torch.nn.functional
        for xb, yb in itertools.islice(self.loader, BATCHES):  # the same batches, converted without copying
            out = self.model(self.torch.from_numpy(xb.numpy()))
            loss = f.cross_entropy(out, self.torch.from_numpy(yb.numpy()), label_smoothing=SMOOTHING)
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()

    def accuracy(self) -> float:
        xte, yte = self.test
        self.model.eval()
        with self.torch.no_grad():
            acc = float((self.model(self.torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())
        self.model.train()
        return acc


def epoch_gemms(train_size: int) -> Callable[[], None]:
    """The matrix products of one epoch of ours, alone: the LeNet's two convs as im2col GEMMs
    (forward and weight gradient of both, input gradient of the second) and its two linear layers
    (forward and both gradients), at each batch's size, with preallocated operands."""
    rng = np.random.default_rng(0)
    sizes = [min(BATCH, train_size - i) for i in range(0, train_size, BATCH)][:BATCHES]
    # (M, K, N) per batch of b samples: conv1 1->32 and conv2 32->64 (3x3, padding 1) on 8x8 and
    # 4x4 images, then Linear(256, 128) and Linear(128, 10)
    def shapes(b: int) -> list[tuple[int, int, int]]:
        return [(32, 9, b * 64), (32, b * 64, 9),
                (64, 288, b * 16), (288, 64, b * 16), (64, b * 16, 288),
                (b, 256, 128), (b, 128, 256), (128, b, 256),
                (b, 128, 10), (b, 10, 128), (10, b, 128)]

    cache: dict[tuple[int, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    work = []
    for b in sizes:
        for m, k, n in shapes(b):
            if (m, k, n) not in cache:
                cache[(m, k, n)] = (rng.standard_normal((m, k)).astype(np.float32),
                                    rng.standard_normal((k, n)).astype(np.float32), np.empty((m, n), np.float32))
            work.append(cache[(m, k, n)])

    def run() -> None:
        for a, b, out in work:
            np.matmul(a, b, out=out)

    return run


def one_setting(protocol: Protocol, torch: Any, one_thread: bool, blas_limit: int | None
                ) -> tuple[float, float, float, float, float]:
    """(our min epoch s, PyTorch's, our GEMMs alone, our test accuracy, PyTorch's) under one thread
    setting; the BLAS is limited to ``blas_limit`` threads while both sides run (None: NumPy's own setting)."""
    ours = Ours()
    sides = {"ours": ours.epoch, "gemms": epoch_gemms(len(ours.loader.dataset))}
    theirs = Theirs(torch, ours.initial) if torch is not None else None
    if theirs is not None:
        sides["torch"] = theirs.epoch
    with one_thread_each(torch) if one_thread else contextlib.nullcontext():
        with blas_threads(blas_limit) if blas_limit else contextlib.nullcontext():
            best = compare(sides, protocol)
    t_acc = theirs.accuracy() if theirs is not None else float("nan")
    return best["ours"] / 1e3, best.get("torch", float("nan")) / 1e3, best["gemms"] / 1e3, ours.accuracy(), t_acc


def report(protocol: Protocol, torch: Any) -> dict[str, float]:
    import tinygrad_conv as tc

    print(f"### One training epoch of the default LeNet on the digits (batch {BATCH}, Adam), s (min)\n")
    print("| threads | ours | PyTorch | our GEMMs alone | ours / PyTorch | GEMMs alone / PyTorch "
          "| test accuracy ours / PyTorch |")
    print("|---|---|---|---|---|---|---|")
    torch_threads = torch.get_num_threads() if torch is not None else "-"
    settings = [
        ("one thread each", True, 1, "BLAS 1, ours 1, PyTorch 1"),
        ("default", False, 1,
         f"as `tinygrad-conv train`: BLAS 1, ours {tc.get_num_threads()}; PyTorch {torch_threads}"),
        ("default, NumPy's BLAS threads", False, None,
         f"BLAS as NumPy sets it, ours {tc.get_num_threads()}; PyTorch {torch_threads}"),
    ]
    out = {}
    for label, one, blas, threads in settings:
        o, t, g, o_acc, t_acc = one_setting(protocol, torch, one, blas)
        out[f"train {label}"] = o / t
        out[f"train {label} gemms/torch"] = g / t
        print(f"| {label} ({threads}) | {o:.3f} | {t:.3f} | {g:.3f} | {o / t:.2f} | {g / t:.2f} "
              f"| {100 * o_acc:.1f}% / {100 * t_acc:.1f}% |")
    numpy_blas = out["train default, NumPy's BLAS threads"]
    print(f"\ntarget: at most 1.5 with one thread each ({out['train one thread each']:.2f}) and with the default "
          f"threads ({out['train default']:.2f}; {numpy_blas:.2f} with NumPy's own BLAS threads instead of "
          "`tinygrad-conv train`'s one)")
    return out


def main(argv: list[str] | None = None) -> None:
    script_main(report, __doc__.splitlines()[0], argv, unit="epochs")


if __name__ == "__main__":
    main()
