"""Safe checkpoints: ``save(obj, path)`` and ``load(path)`` for state dicts and training state.

The file is a NumPy ``.npz`` archive: every array is stored as one ``.npy`` member (named after its
place in the object, e.g. ``model/features.0.weight``), and the structure around them (dicts,
lists, tuples, numbers, strings, None) is a JSON document stored as a uint8 array. Loading reads
arrays with ``allow_pickle=False`` and parses JSON, so a hostile file can fail to load but can never
run code. Saving writes a temporary file in the target's directory, flushes it to disk and renames
it over the target, so an interrupted save leaves the previous checkpoint intact.

>>> import os, tempfile
>>> import tinygrad_conv as tc
>>> from tinygrad_conv.io import load, save
>>> path = os.path.join(tempfile.mkdtemp(), "ckpt.npz")
>>> save({"epoch": 3, "weights": {"w": tc.Tensor([1.0, 2.0])}, "note": "hi"}, path)
>>> ckpt = load(path)
>>> ckpt["epoch"], ckpt["weights"]["w"].tolist(), ckpt["note"]
(3, [1.0, 2.0], 'hi')
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import zipfile
import zlib
from collections import OrderedDict
from io import BytesIO
from pathlib import Path
from typing import IO, Any

import numpy as np

from .tensor import Tensor

FORMAT = "tinygrad_conv.checkpoint"
VERSION = 1
META_KEY = "__tinygrad_conv_meta__"
_MAX_DEPTH = 64

PathLike = str | os.PathLike


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read safely (corrupt, truncated, hostile or not ours)."""


# ------------------------------------------------------------------------------------------ save
class _Encoder:
    """Turns an object tree into (JSON-able structure, {member name: array})."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}

    def _member(self, path: list[str]) -> str:
        # Readable member names ("model/conv.weight"), restricted to safe characters and made unique.
        base = "/".join(path) or "value"
        base = re.sub(r"[^A-Za-z0-9_.\-/]", "_", base).strip("/") or "value"
        name, k = base, 1
        while name in self.arrays or name == META_KEY:
            name, k = f"{base}~{k}", k + 1
        return name

    def _array(self, arr: np.ndarray, path: list[str]) -> str:
        if arr.dtype.kind not in "biufc":
            where = "/".join(path) or "the object"
            raise TypeError(f"save: {where} is an array of dtype {arr.dtype}; only numeric and bool arrays "
                            "can be saved (object arrays would need pickle, which this format refuses)")
        name = self._member(path)
        # (not np.ascontiguousarray: it turns 0-d arrays into 1-d ones)
        self.arrays[name] = arr if arr.flags.c_contiguous else np.array(arr, order="C")
        return name

    def encode(self, obj: Any, path: list[str], depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise ValueError(f"save: the object is nested more than {_MAX_DEPTH} levels deep (a cycle?)")
        where = "/".join(path) or "the object"
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int):
            return obj
        if isinstance(obj, float):
            if math.isfinite(obj):
                return obj
            return {"t": "float", "v": repr(obj)}  # JSON has no nan/inf
        if isinstance(obj, Tensor):
            from .nn.module import Parameter

            kind = "parameter" if isinstance(obj, Parameter) else "tensor"
            return {"t": kind, "a": self._array(obj._data, path), "rg": bool(obj.requires_grad)}
        if isinstance(obj, np.ndarray):
            return {"t": "ndarray", "a": self._array(obj, path)}
        if isinstance(obj, np.generic):
            return {"t": "scalar", "a": self._array(np.asarray(obj), path)}
        if isinstance(obj, dict):
            items = []
            for k, v in obj.items():
                if not isinstance(k, (str, int, float, bool)) and k is not None and not isinstance(k, tuple):
                    raise TypeError(f"save: dict key {k!r} in {where} is a {type(k).__name__}; keys must be "
                                    "strings, numbers, None or tuples of those")
                items.append([self.encode(k, path + ["key"], depth + 1),
                              self.encode(v, path + [str(k)], depth + 1)])
            return {"t": "odict" if isinstance(obj, OrderedDict) else "dict", "items": items}
        if isinstance(obj, (list, tuple)):
            vals = [self.encode(v, path + [str(i)], depth + 1) for i, v in enumerate(obj)]
            return {"t": "list" if isinstance(obj, list) else "tuple", "v": vals}
        raise TypeError(f"save: cannot store a {type(obj).__name__} ({where}); supported are Tensors, "
                        "NumPy arrays and scalars, numbers, strings, None, and dicts, lists and tuples of "
                        "those. Save a model's state_dict(), not the model object")


def save(obj: Any, path: PathLike | IO[bytes]) -> None:
    """Write ``obj`` (a state dict or a checkpoint dict) to ``path`` atomically, or into a binary
    file object (``io.BytesIO``, an open file), as ``torch.save`` accepts both.

    The temporary file lives next to ``path`` and is renamed over it only once fully written and
    flushed, so the previous file survives a crash or a full disk during the save.
    """
    enc = _Encoder()
    tree = enc.encode(obj, [])
    meta = json.dumps({"format": FORMAT, "version": VERSION, "tree": tree}, allow_nan=False)
    members = dict(enc.arrays)
    members[META_KEY] = np.frombuffer(meta.encode("utf-8"), dtype=np.uint8)
    if hasattr(path, "write"):
        np.savez(path, **members)  # type: ignore[arg-type]
        return
    target = Path(path)  # type: ignore[arg-type]
    directory = target.parent if str(target.parent) else Path(".")
    if not directory.is_dir():
        raise FileNotFoundError(f"save: directory {directory} does not exist; create it first "
                                f"(os.makedirs({str(directory)!r}, exist_ok=True))")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            # mkstemp makes the file private (0600); give it the permissions a plain open() would.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
            np.savez(fh, **members)  # type: ignore[arg-type]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (where the platform allows opening a directory)."""
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dfd)
    except OSError:
        pass
    finally:
        os.close(dfd)


# ------------------------------------------------------------------------------------------ load
class _Decoder:
    def __init__(self, arrays: dict[str, np.ndarray], path: str) -> None:
        self.arrays, self.path = arrays, path

    def _bad(self, what: str) -> CheckpointError:
        return CheckpointError(f"load: {self.path} is not a valid checkpoint: {what}")

    def _get(self, node: dict[str, Any]) -> np.ndarray:
        name = node.get("a")
        if not isinstance(name, str) or name not in self.arrays:
            raise self._bad(f"the structure refers to a missing array {name!r}")
        return self.arrays[name]

    def decode(self, node: Any, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH + 2:
            raise self._bad("the structure is nested too deeply")
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if not isinstance(node, dict) or "t" not in node:
            raise self._bad(f"unexpected structure entry {str(node)[:60]!r}")
        t = node["t"]
        if t == "float":
            if node.get("v") not in ("nan", "inf", "-inf"):
                raise self._bad(f"bad float entry {node.get('v')!r}")
            return float(node["v"])
        if t in ("tensor", "parameter"):
            arr = self._get(node)
            if t == "parameter":
                from .nn.module import Parameter

                return Parameter(arr, requires_grad=bool(node.get("rg", True)))
            out = Tensor(arr)
            if node.get("rg") and arr.dtype.kind == "f":
                out.requires_grad_(True)
            return out
        if t == "ndarray":
            return self._get(node)
        if t == "scalar":
            return self._get(node)[()]
        if t in ("dict", "odict"):
            items = node.get("items")
            if not isinstance(items, list):
                raise self._bad("a dict entry without items")
            out_d: dict[Any, Any] = OrderedDict() if t == "odict" else {}
            for item in items:
                if not isinstance(item, list) or len(item) != 2:
                    raise self._bad("a malformed dict item")
                key = self.decode(item[0], depth + 1)
                if isinstance(key, list):
                    raise self._bad("a dict key that is a list")
                out_d[key] = self.decode(item[1], depth + 1)
            return out_d
        if t in ("list", "tuple"):
            vals = node.get("v")
            if not isinstance(vals, list):
                raise self._bad(f"a {t} entry without values")
            seq = [self.decode(v, depth + 1) for v in vals]
            return seq if t == "list" else tuple(seq)
        raise self._bad(f"unknown entry type {t!r} (written by a newer version?)")


def _check_location(where: str, location: Any) -> None:
    """Refuse a device other than the CPU, naming it (there is no other device to load onto)."""
    kind = getattr(location, "type", location)  # a device object (device("cpu").type == "cpu") or a string
    if isinstance(kind, str) and re.fullmatch(r"cpu(:0)?", kind.strip()):
        return
    raise ValueError(f"load: map_location {where}asks for device {str(location)!r}, but tinygrad_conv "
                     "runs on the CPU only (there is no CUDA or other accelerator device); use "
                     "map_location='cpu' or leave it out")


def _apply_map_location(map_location: Any, arrays: dict[str, np.ndarray]) -> None:
    """Check ``map_location`` as ``torch.load`` reads it. Every array is stored for (and loaded onto)
    the CPU, so a CPU target changes nothing; a callable is called as PyTorch calls it, with each
    array (as a Tensor) and the location it was saved from, ``'cpu'``, and must return a Tensor or
    array of the same shape, which is used instead."""
    if map_location is None:
        return
    if isinstance(map_location, dict):
        for key, value in map_location.items():
            if str(key).split(":")[0] == "cpu":  # only a mapping of 'cpu' applies to what we store
                _check_location(f"{{{key!r}: ...}} ", value)
        return
    if callable(map_location) and not hasattr(map_location, "type"):
        for name, arr in arrays.items():
            result = map_location(Tensor(arr), "cpu")
            out = result._data if isinstance(result, Tensor) else result
            if not isinstance(out, np.ndarray) or out.shape != arr.shape:
                raise TypeError(f"load: map_location was called with array {name!r} of shape {arr.shape} "
                                "and must return a Tensor or NumPy array of that shape (or the argument "
                                f"itself), got {type(result).__name__}")
            arrays[name] = out
        return
    if not isinstance(map_location, str) and not hasattr(map_location, "type"):
        raise TypeError(f"load: map_location must be None, a device or a string like 'cpu', a dict of "
                        f"locations, or a callable, got {type(map_location).__name__}")
    _check_location("", map_location)


def load(f: PathLike | IO[bytes], map_location: Any = None, pickle_module: Any = None, *,
         weights_only: bool | None = None, mmap: bool | None = None, **pickle_load_args: Any) -> Any:
    """Read what :func:`save` wrote, from a path or a binary file object; ``torch.load``'s signature.

    This is always what PyTorch calls ``weights_only`` loading, and stricter: the file holds only
    numeric arrays and a JSON structure, and it is never unpickled, so a hostile file can fail to
    load but can never run code. ``weights_only=False`` (which in PyTorch unpickles arbitrary
    objects) is refused, as is a ``pickle_module``; ``pickle_load_args`` configure unpickling, which
    never happens, and are ignored. ``map_location``: None, ``'cpu'``, a CPU device, a dict of
    locations or a callable, as in PyTorch; arrays always load onto the CPU, and asking for another
    device raises. ``mmap`` is accepted and changes nothing: the arrays are read into memory.

    Raises :class:`CheckpointError` (a ValueError) for a truncated, corrupt or foreign file, and
    FileNotFoundError when there is no file.

    >>> import io as pyio
    >>> import tinygrad_conv as tc
    >>> buffer = pyio.BytesIO()
    >>> tc.save({"w": tc.Tensor([1.0, 2.0])}, buffer)
    >>> _ = buffer.seek(0)
    >>> tc.load(buffer, map_location="cpu", weights_only=True)["w"].tolist()
    [1.0, 2.0]
    """
    if weights_only is False:
        raise ValueError("load: weights_only=False is not supported: in PyTorch it unpickles arbitrary "
                         "Python objects, and unpickling can run any code the file contains. tinygrad_conv "
                         "checkpoints hold only arrays, numbers, strings and containers and never need "
                         "pickle; leave weights_only out (or pass True)")
    if pickle_module is not None:
        raise ValueError(f"load: pickle_module={pickle_module!r} is not supported: checkpoints are never "
                         "unpickled (arrays and a JSON structure only)")
    if weights_only not in (None, True) or mmap not in (None, True, False):
        raise TypeError(f"load: weights_only and mmap must be bools or None, got weights_only={weights_only!r}, "
                        f"mmap={mmap!r}")
    if hasattr(f, "read"):
        # A file object: read it whole (zip needs to seek, which a pipe or socket cannot).
        data = f.read()  # type: ignore[union-attr]
        if not isinstance(data, bytes):
            raise TypeError(f"load: the file object must be opened in binary mode ('rb'), its read() "
                            f"returned {type(data).__name__}")
        name = getattr(f, "name", None)
        return _load_source(BytesIO(data), str(name) if isinstance(name, str) else "<file object>", map_location)
    path_s = os.fspath(f)  # type: ignore[arg-type]
    if not os.path.isfile(path_s):
        raise FileNotFoundError(f"load: no checkpoint at {path_s}")
    return _load_source(path_s, path_s, map_location)


def _head(source: str | BytesIO) -> bytes:
    if isinstance(source, BytesIO):
        return source.getvalue()[:2]
    with open(source, "rb") as fh:
        return fh.read(2)


def _load_source(source: str | BytesIO, path_s: str, map_location: Any) -> Any:
    try:
        with zipfile.ZipFile(source) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, EOFError, NotImplementedError, ValueError) as exc:
        head = _head(source)
        hint = (" It looks like a pickle file (e.g. from torch.save or pickle.dump); this loader never "
                "unpickles, because unpickling can run arbitrary code.") if head[:1] == b"\x80" else \
            " The file may be truncated (an interrupted copy) or not a checkpoint at all."
        raise CheckpointError(f"load: {path_s} is not a valid checkpoint ({exc}).{hint}") from None
    for name in names:
        if not name.endswith(".npy"):
            raise CheckpointError(f"load: {path_s} is not a valid checkpoint: unexpected member {name!r} "
                                  "(only .npy arrays are allowed)")
    if META_KEY + ".npy" not in names:
        raise CheckpointError(f"load: {path_s} is not a tinygrad_conv checkpoint: it has no {META_KEY} "
                              "entry (a plain .npz? read it with numpy.load(path, allow_pickle=False))")
    arrays: dict[str, np.ndarray] = {}
    try:
        if isinstance(source, BytesIO):
            source.seek(0)
        with np.load(source, allow_pickle=False) as npz:
            for key in npz.files:
                arrays[key] = npz[key]
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise CheckpointError(f"load: refused {path_s}: it contains a pickled object (an object array), "
                                  "which could run arbitrary code when loaded. Only numeric arrays are "
                                  "accepted.") from None
        raise CheckpointError(f"load: {path_s} is not a valid checkpoint (corrupt array data: {exc})") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError, NotImplementedError) as exc:
        raise CheckpointError(f"load: {path_s} is not a valid checkpoint (truncated or corrupt: "
                              f"{type(exc).__name__}: {exc})") from None
    meta_arr = arrays.pop(META_KEY)
    try:
        if meta_arr.dtype != np.uint8 or meta_arr.ndim != 1:
            raise ValueError(f"metadata has dtype {meta_arr.dtype} and shape {meta_arr.shape}")
        meta = json.loads(meta_arr.tobytes().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"load: {path_s} is not a valid checkpoint: unreadable metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"load: {path_s} is not a tinygrad_conv checkpoint (format "
                              f"{meta.get('format') if isinstance(meta, dict) else None!r})")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"load: {path_s} has format version {meta.get('version')!r}; this version of "
                              f"tinygrad_conv reads version {VERSION}")
    for key, arr in arrays.items():
        if arr.dtype.kind not in "biufc":
            raise CheckpointError(f"load: refused {path_s}: array {key!r} has dtype {arr.dtype}; only "
                                  "numeric arrays are accepted")
    _apply_map_location(map_location, arrays)
    return _Decoder(arrays, path_s).decode(meta.get("tree"))


__all__ = ["CheckpointError", "load", "save"]
