"""Time per training epoch of the default digits LeNet: tinygrad_conv against PyTorch on this machine.

Both frameworks train the same architecture from the same initial weights on the same batches
(Adam, batch 32, cross entropy with label smoothing 0.1, as ``tinygrad-conv train``), one epoch at a
time. The first epoch is a warm-up (PyTorch sets up its kernels, NumPy its buffers) and is not
timed; the median of the timed epochs is reported, with the test accuracy after the last epoch as a
check that both really trained.

    python benchmarks/bench_train_torch.py             # 1 warm-up + 5 timed epochs each
    python benchmarks/bench_train_torch.py --epochs 5 --threads 1
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time
from typing import Any

import numpy as np


def our_epoch_times(epochs: int, batch_size: int) -> tuple[list[float], float, dict[str, np.ndarray]]:
    import tinygrad_conv as tc
    import tinygrad_conv.functional as F
    from tinygrad_conv import nn, optim
    from tinygrad_conv.data import DataLoader, TensorDataset, load_digits
    from tinygrad_conv.nn.models import build_model

    nn.init.manual_seed(0)
    model = build_model("lenet", "digits")
    initial = {k: v.data.copy() for k, v in model.state_dict().items()}
    xtr, ytr = load_digits("train")
    xte, yte = load_digits("test")
    opt = optim.Adam(model.parameters(), lr=3e-3)
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=batch_size, shuffle=True, seed=0)
    times = []
    for _ in range(epochs + 1):
        t0 = time.perf_counter()
        for xb, yb in loader:
            loss = F.cross_entropy(model(xb), yb, label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    model.eval()
    with tc.no_grad():
        acc = float((model(tc.Tensor(xte)).data.argmax(1) == yte).mean())
    return times[1:], acc, initial


def torch_epoch_times(torch: Any, epochs: int, batch_size: int,
                      initial: dict[str, np.ndarray]) -> tuple[list[float], float]:
    from tinygrad_conv.data import DataLoader, TensorDataset, load_digits

    tnn: Any = torch.nn

    class LeNet(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = tnn.Sequential(tnn.Conv2d(1, 32, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2),
                                           tnn.Conv2d(32, 64, 3, padding=1), tnn.ReLU(), tnn.MaxPool2d(2))
            self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(256, 128), tnn.ReLU(), tnn.Linear(128, 10))

        def forward(self, x: Any) -> Any:
            return self.classifier(self.features(x))

    model = LeNet()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in initial.items()})
    xtr, ytr = load_digits("train")
    xte, yte = load_digits("test")
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    loader = DataLoader(TensorDataset(xtr, ytr), batch_size=batch_size, shuffle=True, seed=0)
    times = []
    for _ in range(epochs + 1):
        t0 = time.perf_counter()
        for xb, yb in loader:  # the same batches, converted without copying
            loss = torch.nn.functional.cross_entropy(model(torch.from_numpy(xb.data)), torch.from_numpy(yb.data),
                                                     label_smoothing=0.1)
            opt.zero_grad()
            loss.backward()
            opt.step()
        times.append(time.perf_counter() - t0)
    model.eval()
    with torch.no_grad():
        acc = float((model(torch.from_numpy(xte)).argmax(1).numpy() == yte).mean())
    return times[1:], acc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5,
                        help="timed epochs per framework, after one warm-up epoch (default 5)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None,
                        help="PyTorch intra-op threads (default: PyTorch's own choice)")
    parser.add_argument("--blas-threads", type=int, default=1,
                        help="BLAS threads for NumPy's matrix products, as `tinygrad-conv train --threads` "
                             "(default 1; 0 leaves NumPy's setting; needs threadpoolctl)")
    args = parser.parse_args()
    try:
        import torch
    except ImportError:
        raise SystemExit("PyTorch is not installed: pip install torch (CPU build) to run this comparison") from None
    if args.threads:
        torch.set_num_threads(args.threads)

    limits: Any = contextlib.nullcontext()
    blas = "NumPy's default BLAS threads"
    if args.blas_threads > 0:
        try:
            from threadpoolctl import threadpool_limits

            limits = threadpool_limits(limits=args.blas_threads, user_api="blas")
            blas = f"{args.blas_threads} BLAS thread(s) for NumPy"
        except ImportError:
            blas += " (threadpoolctl is not installed)"
    with limits:
        ours, our_acc, initial = our_epoch_times(args.epochs, args.batch_size)
    theirs, their_acc = torch_epoch_times(torch, args.epochs, args.batch_size, initial)
    o, t = statistics.median(ours), statistics.median(theirs)
    print(f"LeNet on the 8x8 digits, 1438 training images, batch {args.batch_size}, Adam; "
          f"{os.cpu_count()} CPUs, PyTorch {torch.__version__} with {torch.get_num_threads()} threads, "
          f"NumPy {np.__version__} with {blas}")
    print(f"{'':14}{'median epoch':>14}{'timed epochs (s)':>40}{'test acc':>10}")
    print(f"{'tinygrad_conv':14}{o:13.3f}s{' '.join(f'{x:.3f}' for x in ours):>40}{100 * our_acc:9.2f}%")
    print(f"{'PyTorch':14}{t:13.3f}s{' '.join(f'{x:.3f}' for x in theirs):>40}{100 * their_acc:9.2f}%")
    print(f"tinygrad_conv takes {o / t:.1f}x PyTorch's time per epoch")


if __name__ == "__main__":
    main()
