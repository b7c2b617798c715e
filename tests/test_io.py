"""Safe checkpoints: exact round trips, refusal of pickles, clear errors for damaged files, atomic
writes, and load_state_dict mismatches that leave the model unchanged."""

from __future__ import annotations

import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv import io, nn, optim
from tinygrad_conv.io import CheckpointError, load, save


def _model() -> nn.Module:
    nn.init.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 6), nn.BatchNorm1d(6), nn.Tanh(), nn.Linear(6, 3))


def _assert_same(a, b) -> None:
    """Structural equality, with arrays compared bit for bit (dtype and shape included)."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, tc.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        assert np.array_equal(a.detach().numpy(), b.detach().numpy(), equal_nan=True)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    elif isinstance(a, dict):
        assert list(a.keys()) == list(b.keys())
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def test_round_trip_is_exact(tmp_path: Path) -> None:
    model = _model()
    model(tc.randn(8, 4)).sum().backward()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    opt.step()
    obj = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),  # int keys, nested lists, tuples become lists
        "epoch": 7, "lr": 3e-4, "name": "run ü/1", "flags": [True, False, None],
        "specials": (float("nan"), float("inf"), -float("inf"), -0.0),
        "arrays": {"f64": np.linspace(0, 1, 5), "i8": np.arange(-3, 3, dtype=np.int8),
                   "u16": np.array([[1, 2]], np.uint16), "bool": np.array([True, False]),
                   "c64": np.array([1 + 2j], np.complex64), "empty": np.zeros((0, 3), np.float32),
                   "scalar0d": np.array(5.5)},
        "np_scalars": [np.float32(1.5), np.int64(-2)],
        "param": nn.Parameter(np.ones((2, 2), np.float32)),
        "grad_tensor": tc.Tensor([1.0, 2.0], requires_grad=True),
        (1, "tuple key"): "v", 3: "int key", "ordered": OrderedDict([("b", 1), ("a", 2)]),
    }
    path = tmp_path / "ckpt.npz"
    save(obj, path)
    back = load(path)
    _assert_same(obj, back)
    assert isinstance(back["param"], nn.Parameter)
    assert back["model"]["1.num_batches_tracked"].shape == ()
    assert type(back["np_scalars"][0]) is np.float32
    # The state loads into a fresh model and optimizer.
    model2 = _model()
    model2.load_state_dict(back["model"])
    for (k, a), (_, b) in zip(model.state_dict().items(), model2.state_dict().items()):
        assert np.array_equal(a.detach().numpy(), b.detach().numpy()), k


def test_member_names_are_readable(tmp_path: Path) -> None:
    save({"model": _model().state_dict()}, tmp_path / "c.npz")
    with zipfile.ZipFile(tmp_path / "c.npz") as zf:
        names = zf.namelist()
    assert "model/0.weight.npy" in names and "model/1.running_var.npy" in names
    assert io.META_KEY + ".npy" in names


def test_file_with_pickled_object_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    # 1. an npz that hides a pickled object array next to valid metadata
    good = tmp_path / "good.npz"
    save({"w": np.ones(3)}, good)
    with np.load(good) as npz:
        members = {k: npz[k] for k in npz.files}
    evil_arr = np.empty(1, dtype=object)
    evil_arr[0] = Evil()
    members["w"] = evil_arr
    hostile = tmp_path / "hostile.npz"
    np.savez(hostile, **members)
    with pytest.raises(CheckpointError, match="pickled object"):
        load(hostile)
    # 2. a plain pickle file (what torch.save or pickle.dump write)
    pkl = tmp_path / "model.pt"
    pkl.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError, match="pickle"):
        load(pkl)
    assert not marker.exists()


def test_truncated_files_give_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    save({"model": _model().state_dict(), "epoch": 1}, path)
    data = path.read_bytes()
    cut = tmp_path / "cut.npz"
    for n in sorted({0, 1, 10, 100, len(data) // 3, len(data) // 2, len(data) - 30, len(data) - 1}):
        cut.write_bytes(data[:n])
        with pytest.raises(CheckpointError, match="not a valid checkpoint"):
            load(cut)


def test_corrupt_bytes_never_load_silently_wrong(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    obj = {"w": np.arange(40, dtype=np.float32), "epoch": 3}
    save(obj, path)
    data = path.read_bytes()
    bad = tmp_path / "bad.npz"
    rng = np.random.default_rng(0)
    refused = 0
    for pos in rng.choice(len(data), 120, replace=False):
        flipped = bytearray(data)
        flipped[pos] ^= 0xFF
        bad.write_bytes(bytes(flipped))
        try:
            back = load(bad)
        except CheckpointError:
            refused += 1
            continue
        # A flip in a field nobody reads (a timestamp) is harmless; anything else must be caught.
        _assert_same(obj, back)
    assert refused > 60


def test_foreign_and_missing_files(tmp_path: Path) -> None:
    plain = tmp_path / "plain.npz"
    np.savez(plain, a=np.ones(2))
    with pytest.raises(CheckpointError, match="not a tinygrad_conv checkpoint"):
        load(plain)
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load(tmp_path / "nope.npz")
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="truncated"):
        load(text)


def test_unsupported_objects_are_refused_at_save(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Save a model's state_dict"):
        save({"model": _model()}, tmp_path / "m.npz")
    with pytest.raises(TypeError, match="object arrays would need pickle"):
        save({"a": np.array([{}], dtype=object)}, tmp_path / "m.npz")
    assert not list(tmp_path.iterdir())  # nothing half-written is left behind


def test_save_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "ckpt.npz"
    save({"epoch": 1, "w": np.ones(4)}, path)
    before = path.read_bytes()

    def crash(fh, **members):
        fh.write(b"PK\x03\x04 partial")
        raise KeyboardInterrupt  # e.g. Ctrl-C in the middle of the write

    monkeypatch.setattr(io.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        save({"epoch": 2, "w": np.zeros(4)}, path)
    assert path.read_bytes() == before  # the last good checkpoint survives
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.npz"]  # no temp file left
    monkeypatch.undo()
    assert load(path)["epoch"] == 1


def test_save_into_missing_directory_says_so(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save({"a": 1}, tmp_path / "no" / "such" / "c.npz")


def _snapshot(model: nn.Module) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def test_load_state_dict_mismatches_leave_the_model_unchanged() -> None:
    model = _model()
    before = _snapshot(model)
    good = {k: np.full(v.shape, 7, v.dtype) for k, v in before.items()}

    missing = dict(good)
    del missing["3.bias"]
    with pytest.raises(RuntimeError, match=r"missing key\(s\): '3.bias'") as exc:
        model.load_state_dict(missing)
    assert "nothing was changed" in str(exc.value)

    extra = dict(good, **{"4.weight": np.ones(2)})
    with pytest.raises(RuntimeError, match=r"unexpected key\(s\): '4.weight'"):
        model.load_state_dict(extra)

    shaped = dict(good, **{"0.weight": np.ones((4, 6), np.float32)})
    with pytest.raises(RuntimeError, match=r"size mismatch for '0.weight'.*\(4, 6\).*\(6, 4\)"):
        model.load_state_dict(shaped)
    with pytest.raises(RuntimeError, match="size mismatch"):  # shapes must match even when not strict
        model.load_state_dict(shaped, strict=False)

    everything = dict(shaped, **{"4.weight": np.ones(2)})
    del everything["3.bias"]
    with pytest.raises(RuntimeError) as exc:
        model.load_state_dict(everything)
    msg = str(exc.value)
    assert "'3.bias'" in msg and "'4.weight'" in msg and "'0.weight'" in msg  # all listed at once

    with pytest.raises(RuntimeError, match="numeric"):
        model.load_state_dict(dict(good, **{"0.bias": "oops"}))

    after = _snapshot(model)
    for k in before:
        assert np.array_equal(before[k], after[k]), f"{k} changed although loading failed"

    result = model.load_state_dict(missing, strict=False)
    assert result.missing_keys == ["3.bias"] and result.unexpected_keys == []
    assert np.all(model[0].weight.detach().numpy() == 7) and np.array_equal(model[3].bias.detach().numpy(),
                                                                            before["3.bias"])


def test_load_state_dict_keeps_parameter_objects_and_casts_dtype() -> None:
    model = _model()
    weight = model[0].weight
    opt = optim.SGD(model.parameters(), lr=0.1)
    sd = {k: v.detach().numpy().astype(np.float64) + 1 for k, v in model.state_dict().items()}
    model.load_state_dict(sd)
    assert model[0].weight is weight and weight.dtype == np.float32  # the optimizer still holds it
    assert opt.param_groups[0]["params"][0] is weight
    np.testing.assert_allclose(weight.detach().numpy(), sd["0.weight"].astype(np.float32))


def test_checkpoint_file_is_a_plain_npz_for_other_tools(tmp_path: Path) -> None:
    save({"model": _model().state_dict()}, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz", allow_pickle=False) as npz:
        assert npz["model/0.weight"].shape == (6, 4)
    assert os.path.getsize(tmp_path / "c.npz") > 0


def test_load_accepts_torch_load_arguments(tmp_path: Path) -> None:
    """``tc.load(path, map_location=..., weights_only=True)`` as PyTorch programs write it."""
    model = _model()
    save(model.state_dict(), tmp_path / "m.npz")
    want = load(tmp_path / "m.npz")

    class CpuDevice:  # what a device object looks like to load: its .type
        type = "cpu"

        def __str__(self) -> str:
            return "cpu"

    calls: list[str] = []

    def keep_on_cpu(storage, location):  # PyTorch's documented idiom: lambda storage, loc: storage
        calls.append(location)
        return storage

    for kwargs in ({"map_location": "cpu"}, {"map_location": "cpu:0"}, {"map_location": CpuDevice()},
                   {"map_location": {"cuda:0": "cpu"}}, {"map_location": {"cpu": "cpu"}},
                   {"map_location": keep_on_cpu}, {"weights_only": True}, {"weights_only": None},
                   {"map_location": "cpu", "weights_only": True, "mmap": True, "encoding": "latin1"}):
        _assert_same(tc.load(tmp_path / "m.npz", **kwargs), want)
    assert calls == ["cpu"] * len(want)
    doubled = tc.load(tmp_path / "m.npz", map_location=lambda s, loc: s * 2)
    np.testing.assert_array_equal(doubled["0.weight"].detach().numpy(), 2 * want["0.weight"].detach().numpy())


def test_load_signature_is_torch_load() -> None:
    import inspect

    torch = pytest.importorskip("torch")
    ours = inspect.signature(tc.load).parameters
    theirs = inspect.signature(torch.load).parameters
    assert list(ours) == list(theirs)
    assert [p.kind for p in ours.values()] == [p.kind for p in theirs.values()]
    assert [p.default for p in ours.values()] == [p.default for p in theirs.values()]


def test_load_refusals_give_the_reason(tmp_path: Path) -> None:
    save({"w": tc.Tensor([1.0])}, tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"weights_only=False .*unpickl.*run any code"):
        tc.load(tmp_path / "w.npz", weights_only=False)
    with pytest.raises(ValueError, match="pickle_module"):
        tc.load(tmp_path / "w.npz", pickle_module=pickle)
    with pytest.raises(ValueError, match=r"device 'cuda'.*CPU only"):
        tc.load(tmp_path / "w.npz", map_location="cuda")
    with pytest.raises(ValueError, match=r"device 'cuda:1'.*CPU only"):
        tc.load(tmp_path / "w.npz", map_location={"cpu": "cuda:1"})
    with pytest.raises(TypeError, match="map_location must be"):
        tc.load(tmp_path / "w.npz", map_location=3)
    with pytest.raises(TypeError, match=r"array 'w' of shape \(1,\) and must return"):
        tc.load(tmp_path / "w.npz", map_location=lambda s, loc: None)


def test_save_and_load_file_objects(tmp_path: Path) -> None:
    import io as pyio

    model = _model()
    buffer = pyio.BytesIO()
    tc.save(model.state_dict(), buffer)
    buffer.seek(0)
    _assert_same(tc.load(buffer, map_location="cpu"), model.state_dict())
    with open(tmp_path / "f.npz", "wb") as fh:
        tc.save({"epoch": 2}, fh)
    with open(tmp_path / "f.npz", "rb") as fh:
        assert tc.load(fh) == {"epoch": 2}
    with open(tmp_path / "f.npz", encoding="latin1") as text:
        with pytest.raises(TypeError, match="binary mode"):
            tc.load(text)
    with pytest.raises(CheckpointError, match="<file object>.*truncated"):
        tc.load(pyio.BytesIO(b"PK\x03\x04 cut"))
