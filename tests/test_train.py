"""`tinygrad-conv train`: a shortened default run with an accuracy floor, reproducibility, resuming,
the autoencoder, MNIST-format files, the optional plot, and clear errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_conv import io
from tinygrad_conv.cli import build_parser, main
from tinygrad_conv.commands import train as train_command
from tinygrad_conv.data import write_idx


def _train(tmp: Path, *extra: str) -> int:
    return main(["train", "--out", str(tmp), "--no-progress", *extra])


def _history(out: Path) -> dict:
    hist = json.loads((out / "metrics.json").read_text())["history"]
    hist.pop("seconds")
    return hist


def test_short_default_run_learns_the_digits(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(tmp_path, "--epochs", "4") == 0
    out = capsys.readouterr().out
    hist = _history(tmp_path)
    assert len(hist["test_acc"]) == 4
    assert hist["test_acc"][-1] >= 0.93, hist["test_acc"]  # the full default run reaches about 98-99%
    assert hist["train_loss"][-1] < hist["train_loss"][0]
    assert "test accuracy:" in out and "peak memory:" in out and "epoch   4/4" in out
    ckpt = io.load(tmp_path / "checkpoint.npz")
    assert ckpt["epoch"] == 4 and ckpt["config"]["model"] == "lenet"
    assert "features.0.weight" in ckpt["model"]
    dot = tmp_path / "graph.dot"
    if dot.exists():  # the graph drawer is a separate part; when present the graph shows the layers
        text = dot.read_text()
        assert "conv2d" in text and "features.0" in text
    else:
        assert "graph drawer" in out
    pytest.importorskip("matplotlib")
    assert (tmp_path / "training.png").stat().st_size > 1000


@pytest.fixture
def no_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the plot and the SVG (slow to make, tested elsewhere) in runs that only need numbers."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setattr(train_command.shutil, "which", lambda name: None)


def test_same_seed_same_numbers(tmp_path: Path, no_extras: None) -> None:
    runs = []
    for name, seed in (("a", "3"), ("b", "3"), ("c", "4")):
        assert _train(tmp_path / name, "--epochs", "1", "--seed", seed) == 0
        runs.append(_history(tmp_path / name))
    assert runs[0] == runs[1]
    assert runs[0]["train_loss"] != runs[2]["train_loss"]


def test_numbers_do_not_depend_on_the_process_conv_choice(tmp_path: Path, no_extras: None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # By default each process times the conv variants once per shape and keeps the fastest, and two
    # processes may choose differently (results differing by rounding). A training run uses one fixed
    # choice, so it repeats bit for bit in any process (and --resume continues it exactly): here two
    # processes that would have chosen differently are stood in for by forcing each choice.
    from tinygrad_conv.kernels import conv

    weights = []
    for name, choice in (("a", "winograd"), ("b", "im2col")):
        monkeypatch.setattr(conv, "ALGORITHM", choice)
        assert _train(tmp_path / name, "--epochs", "1") == 0
        assert conv.ALGORITHM == choice  # restored after the run
        weights.append(io.load(tmp_path / name / "checkpoint.npz")["model"])
    for key in weights[0]:
        np.testing.assert_array_equal(weights[0][key], weights[1][key], err_msg=key)


@pytest.fixture
def train_labels(monkeypatch: pytest.MonkeyPatch) -> list[np.ndarray]:
    """The labels of every training batch, in order: the data order the runs saw."""
    from tinygrad_conv.ops import loss as L

    seen: list[np.ndarray] = []
    real = L.cross_entropy

    def recording(input, target, *args, **kwargs):
        if "label_smoothing" in kwargs:  # the training loss; evaluation and the graph call it without
            seen.append(target.numpy().copy())
        return real(input, target, *args, **kwargs)

    monkeypatch.setattr(L, "cross_entropy", recording)
    return seen


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, epoch: int):
    real_save = io.save

    def save_then_interrupt(obj, path):
        real_save(obj, path)
        if obj["epoch"] == epoch:
            raise KeyboardInterrupt  # Ctrl-C right after this epoch's checkpoint

    monkeypatch.setattr(io, "save", save_then_interrupt)
    return lambda: monkeypatch.setattr(io, "save", real_save)


def _assert_same_run(a: Path, b: Path) -> None:
    ha, hb = _history(a), _history(b)
    assert ha.keys() == hb.keys() and len(ha["train_loss"]) == len(hb["train_loss"])
    for key in ha:
        np.testing.assert_allclose(ha[key], hb[key], rtol=1e-6, err_msg=key)
    ca, cb = io.load(a / "checkpoint.npz"), io.load(b / "checkpoint.npz")
    for k in ca["model"]:
        np.testing.assert_allclose(ca["model"][k].detach().numpy(), cb["model"][k].detach().numpy(), rtol=1e-5,
                                   atol=1e-7, err_msg=k)
    sa, sb = ca["optimizer"]["state"], cb["optimizer"]["state"]
    for i in sa:
        for name, value in sa[i].items():
            np.testing.assert_allclose(value, sb[i][name], rtol=1e-5, atol=1e-9, err_msg=f"{i}/{name}")


@pytest.mark.parametrize("optimizer,stop", [("adam", 2), ("sgd", 1)])
def test_resume_after_an_interruption_continues_exactly(tmp_path: Path, no_extras: None,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str],
                                                        train_labels: list[np.ndarray],
                                                        optimizer: str, stop: int) -> None:
    """A 4-epoch run stopped after epoch ``stop`` and resumed with a bare --resume (the planned
    length comes from the checkpoint) gives the uninterrupted run's losses, learning rates, data
    order, weights and optimizer state."""
    assert _train(tmp_path / "straight", "--epochs", "4", "--optimizer", optimizer) == 0
    straight_order = list(train_labels)
    train_labels.clear()
    restore = _interrupt_after(monkeypatch, stop)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "split", "--epochs", "4", "--optimizer", optimizer)
    restore()
    assert io.load(tmp_path / "split" / "checkpoint.npz")["epoch"] == stop
    capsys.readouterr()
    assert _train(tmp_path / "split", "--resume") == 0
    out = capsys.readouterr().out
    assert "resuming" in out and "epoch   4/4" in out
    _assert_same_run(tmp_path / "straight", tmp_path / "split")
    assert len(train_labels) == len(straight_order)
    assert all(np.array_equal(a, b) for a, b in zip(train_labels, straight_order))
    # Resuming a finished run trains nothing and says so.
    assert _train(tmp_path / "split", "--resume") == 0
    assert "nothing to train" in capsys.readouterr().out


@pytest.mark.parametrize("optimizer,first,total", [("adam", 2, 4), ("sgd", 1, 3)])
def test_resume_to_more_epochs_equals_the_longer_run(tmp_path: Path, no_extras: None,
                                                     capsys: pytest.CaptureFixture[str],
                                                     train_labels: list[np.ndarray],
                                                     optimizer: str, first: int, total: int) -> None:
    """`train --epochs 2 --out r`, then `train --epochs 4 --out r --resume`, gives the uninterrupted
    `train --epochs 4` run's losses, accuracies, learning rates, data order, weights and optimizer
    state. It used to train the first resumed epoch with learning rate 0 (the end of the 2-epoch
    cosine), and then with the 4-epoch cosine's rates, which the first two epochs had not used: the
    rate of an epoch must not depend on --epochs."""
    opt = ("--optimizer", optimizer)
    assert _train(tmp_path / "straight", "--epochs", str(total), *opt) == 0
    straight_order = list(train_labels)
    train_labels.clear()
    assert _train(tmp_path / "r", "--epochs", str(first), *opt) == 0
    assert _train(tmp_path / "r", "--epochs", str(total), "--resume") == 0
    assert "resuming" in capsys.readouterr().out
    _assert_same_run(tmp_path / "straight", tmp_path / "r")
    assert len(train_labels) == len(straight_order)
    assert all(np.array_equal(a, b) for a, b in zip(train_labels, straight_order))
    peak = train_command.SGD_LR if optimizer == "sgd" else train_command.DEFAULTS["lenet"]["lr"]
    np.testing.assert_allclose(_history(tmp_path / "r")["lr"],
                               [peak * train_command.LR_DECAY ** e for e in range(total)], rtol=1e-12)
    # --lr on a resume puts the remaining epochs on the new rate's curve.
    assert _train(tmp_path / "r", "--epochs", str(total + 2), "--resume", "--lr", "0.01") == 0
    lrs = _history(tmp_path / "r")["lr"]
    np.testing.assert_allclose(lrs[total:], [0.01 * train_command.LR_DECAY ** e for e in (total, total + 1)],
                               rtol=1e-12)


def test_resume_of_an_older_schedule(tmp_path: Path, no_extras: None, capsys: pytest.CaptureFixture[str]) -> None:
    """A checkpoint written when the schedule was a cosine over the run's length (no ``gamma`` in its
    scheduler state) resumes on this version's curve and says so."""
    assert _train(tmp_path / "r", "--epochs", "1") == 0
    ckpt = io.load(tmp_path / "r" / "checkpoint.npz")
    peak = train_command.DEFAULTS["lenet"]["lr"]
    ckpt["scheduler"] = {"T_max": 1, "eta_min": 0.0, "base_lrs": [peak], "last_epoch": 1, "_step_count": 2,
                         "_last_lr": [0.0]}
    ckpt["optimizer"]["param_groups"][0]["lr"] = 0.0  # where the 1-epoch cosine ended
    io.save(ckpt, tmp_path / "r" / "checkpoint.npz")
    capsys.readouterr()
    assert _train(tmp_path / "r", "--epochs", "3", "--resume") == 0
    assert "older version" in capsys.readouterr().out
    np.testing.assert_allclose(_history(tmp_path / "r")["lr"][1:],
                               [peak * train_command.LR_DECAY ** e for e in (1, 2)], rtol=1e-12)


def test_resume_restores_the_random_generator(tmp_path: Path, no_extras: None,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Random draws during training (dropout in a user's model) continue as in an uninterrupted run:
    the checkpoint carries the default generator's state."""
    import tinygrad_conv as tc

    draws: dict[str, list[float]] = {"straight": [], "split": []}
    current = ["straight"]

    class Recorder(train_command._Progress):
        def close(self) -> None:  # once per epoch, after the epoch's batches
            draws[current[0]].append(float(tc.random.default_generator().random()))
            super().close()

    monkeypatch.setattr(train_command, "_Progress", Recorder)
    assert _train(tmp_path / "straight", "--epochs", "3") == 0
    current[0] = "split"
    restore = _interrupt_after(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "split", "--epochs", "3")
    restore()
    assert _train(tmp_path / "split", "--resume") == 0
    assert draws["split"] == draws["straight"]
    _assert_same_run(tmp_path / "straight", tmp_path / "split")


def test_autoencoder_reports_reconstruction_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(tmp_path, "--model", "autoencoder", "--epochs", "2") == 0
    out = capsys.readouterr().out
    assert "reconstruction error" in out
    hist = _history(tmp_path)
    assert hist["test_loss"][-1] < 0.07  # predicting the mean image scores about 0.074
    if (tmp_path / "training.png").exists():
        assert (tmp_path / "reconstructions.png").stat().st_size > 1000


def test_mnist_format_files(tmp_path: Path, no_extras: None) -> None:
    rng = np.random.default_rng(0)
    data = tmp_path / "mnist"
    data.mkdir()
    for split, n in (("train", 48), ("t10k", 16)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        images = np.zeros((n, 28, 28), np.uint8)
        for i, lab in enumerate(labels):  # a learnable pattern: a bright bar whose row is the label
            images[i, 2 + 2 * lab: 4 + 2 * lab, 4:24] = 255
        write_idx(data / f"{split}-images-idx3-ubyte.gz", images)
        write_idx(data / f"{split}-labels-idx1-ubyte", labels)
    out = tmp_path / "run"
    assert _train(out, "--data", "mnist", "--data-dir", str(data), "--epochs", "1", "--batch-size", "16") == 0
    ckpt = io.load(out / "checkpoint.npz")
    assert ckpt["config"]["data"] == "mnist" and ckpt["model"]["classifier.1.weight"].shape == (120, 16 * 7 * 7)


def test_errors_are_clear(tmp_path: Path, no_extras: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert _train(tmp_path / "m", "--data", "mnist") == 2
    assert "--data-dir" in capsys.readouterr().err
    assert _train(tmp_path / "m", "--data", "mnist", "--data-dir", str(tmp_path / "nowhere")) == 2
    assert "not found" in capsys.readouterr().err
    assert _train(tmp_path / "r", "--resume") == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert _train(tmp_path / "e", "--epochs", "0") == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err
    assert _train(tmp_path / "e", "--threads", "-1") == 2
    assert "--threads must be 0 or more" in capsys.readouterr().err
    assert _train(tmp_path / "ok", "--epochs", "1") == 0
    assert _train(tmp_path / "ok", "--epochs", "2", "--resume", "--model", "autoencoder") == 2
    assert "trained with --model lenet" in capsys.readouterr().err
    (tmp_path / "ok" / "checkpoint.npz").write_bytes(b"PK\x03\x04 truncated")
    assert _train(tmp_path / "ok", "--epochs", "2", "--resume") == 2
    assert "cannot read" in capsys.readouterr().err


def test_missing_matplotlib_skips_only_the_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now raises ImportError
    assert _train(tmp_path, "--epochs", "1") == 0
    out = capsys.readouterr().out
    assert "matplotlib is not installed" in out and "pip install" in out
    assert not (tmp_path / "training.png").exists()
    assert (tmp_path / "checkpoint.npz").exists() and (tmp_path / "metrics.json").exists()


def test_help_lists_every_option() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    text = sub.choices["train"].format_help()
    for option in ("--data", "--data-dir", "--model", "--epochs", "--batch-size", "--lr", "--optimizer",
                   "--seed", "--out", "--resume", "--label-smoothing", "--threads", "examples:"):
        assert option in text, option


def test_example_two_convs_become_the_given_5x5_filter(capsys: pytest.CaptureFixture[str]) -> None:
    import runpy

    runpy.run_path(str(Path(__file__).resolve().parents[1] / "examples" / "fit_two_convs.py"), run_name="__main__")
    out = capsys.readouterr().out
    difference = float(out.strip().splitlines()[-1].split(":")[1])
    assert difference < 1e-4, out
