"""tinygrad_conv.utils.data against torch.utils.data: collation (types, dtypes, nesting), data sets,
samplers, random_split, the DataLoader's batches, options and errors, and worker processes."""

from __future__ import annotations

import collections
import time
import warnings
from typing import Any

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv.utils import data as ud

Point = collections.namedtuple("Point", ["x", "y"])


def _norm(obj: Any) -> Any:
    """A comparable form of a batch from either library: tensors become (dtype name, values)."""
    if isinstance(obj, tc.Tensor):
        return ("tensor", str(obj.dtype), obj.tolist())
    if type(obj).__module__.startswith("torch") and hasattr(obj, "dtype"):
        return ("tensor", str(obj.dtype).replace("torch.", ""), obj.tolist())
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return (type(obj).__name__,) + tuple(_norm(v) for v in obj)
    if isinstance(obj, tuple):
        return ("tuple",) + tuple(_norm(v) for v in obj)
    if isinstance(obj, list):
        return [_norm(v) for v in obj]
    if isinstance(obj, dict):
        return {k: _norm(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return ("ndarray", str(obj.dtype), obj.tolist())
    return obj


def _to_torch(torch: Any, obj: Any) -> Any:
    """The same sample with tinygrad_conv Tensors replaced by torch tensors."""
    if isinstance(obj, tc.Tensor):
        return torch.from_numpy(np.array(obj.detach().numpy()))
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return type(obj)(*(_to_torch(torch, v) for v in obj))
    if isinstance(obj, (tuple, list)):
        return type(obj)(_to_torch(torch, v) for v in obj)
    if isinstance(obj, dict):
        return {k: _to_torch(torch, v) for k, v in obj.items()}
    return obj


SAMPLES = {
    "ints": [1, 2, 3],
    "floats": [1.5, 2.0],
    "bools": [True, False],
    "np_float32": [np.float32(1.5), np.float32(2)],
    "np_int32": [np.int32(4), np.int32(5)],
    "np_arrays": [np.arange(3, dtype=np.float64), np.ones(3, dtype=np.float64)],
    "np_int_arrays": [np.arange(3), np.arange(3, 6)],
    "tensors": [tc.ones(2, 3), tc.zeros(2, 3)],
    "int_tensors": [tc.Tensor(np.array([1, 2])), tc.Tensor(np.array([3, 4]))],
    "tuples": [(1, "a", 2.5), (2, "b", 3.5)],
    "lists": [[1, 2], [3, 4]],
    "dicts": [{"x": np.float32(1), "label": 3, "name": "a"}, {"x": np.float32(2), "label": 4, "name": "b"}],
    "namedtuples": [Point(1, 2.0), Point(3, 4.0)],
    "nested": [({"a": [1, 2]}, np.zeros(2)), ({"a": [3, 4]}, np.ones(2))],
    "strings": ["x", "y"],
}


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_default_collate_matches_torch(torch: Any, kind: str) -> None:
    from torch.utils.data import default_collate

    batch = SAMPLES[kind]
    assert _norm(ud.default_collate(batch)) == _norm(default_collate(_to_torch(torch, batch)))


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_default_convert_matches_torch(torch: Any, kind: str) -> None:
    from torch.utils.data import default_convert

    for sample in SAMPLES[kind]:
        assert _norm(ud.default_convert(sample)) == _norm(default_convert(_to_torch(torch, sample)))


@pytest.mark.parametrize("batch", [[object(), object()], [np.array(["a"]), np.array(["b"])], [[1, 2], [3]], []],
                         ids=["object", "str-array", "ragged", "empty"])
def test_default_collate_errors_match_torch(torch: Any, batch: list[Any]) -> None:
    from torch.utils.data import default_collate

    with pytest.raises(Exception) as theirs:
        default_collate(batch)
    with pytest.raises(type(theirs.value)) as ours:
        ud.default_collate(batch)
    assert str(theirs.value).split(";")[0].split(" (")[0] in str(ours.value)


def test_default_collate_of_tensors_that_require_grad_is_recorded(torch: Any) -> None:
    rng = np.random.default_rng(0)
    rows = [rng.standard_normal(3) for _ in range(4)]
    ours = [tc.Tensor(r.copy(), requires_grad=True) for r in rows]
    theirs = [torch.tensor(r.copy(), requires_grad=True) for r in rows]
    out, tout = ud.default_collate(ours), torch.utils.data.default_collate(theirs)
    g = rng.standard_normal((4, 3))
    out.backward(tc.Tensor(g.copy()))
    tout.backward(torch.tensor(g.copy()))
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy())
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        ud.default_collate([tc.ones(2), tc.ones(3)])


# ------------------------------------------------------------------ data sets
def test_datasets_match_torch(torch: Any) -> None:
    tdata = torch.utils.data
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    y = np.arange(6)
    ours = ud.TensorDataset(tc.Tensor(x), tc.Tensor(y))
    theirs = tdata.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))
    assert len(ours) == len(theirs)
    assert _norm(ours[4]) == _norm(theirs[4])
    assert _norm(ours[-1]) == _norm(theirs[-1])
    for make in (lambda d, t: d.Subset(t, [5, 0, 3]), lambda d, t: d.ConcatDataset([t, t]),
                 lambda d, t: t + t, lambda d, t: d.StackDataset(t, t), lambda d, t: d.StackDataset(a=t, b=t)):
        a, b = make(ud, ours), make(tdata, theirs)
        assert len(a) == len(b)
        for i in range(len(a)):
            assert _norm(a[i]) == _norm(b[i])
    assert ud.ConcatDataset([ours, ours]).cumulative_sizes == tdata.ConcatDataset([theirs, theirs]).cumulative_sizes
    assert _norm(ud.ConcatDataset([ours, ours])[-7]) == _norm(tdata.ConcatDataset([theirs, theirs])[-7])


def test_dataset_errors_match_torch(torch: Any) -> None:
    tdata = torch.utils.data

    class Stream(ud.IterableDataset):
        def __iter__(self) -> Any:
            return iter(range(3))

    class TStream(tdata.IterableDataset):
        def __iter__(self) -> Any:
            return iter(range(3))

    cases = [
        (lambda d, lib: d.TensorDataset(lib.ones(3), lib.ones(4)), "Size mismatch between tensors"),
        (lambda d, lib: d.ConcatDataset([]), "datasets should not be an empty iterable"),
        (lambda d, lib: d.ConcatDataset([d is ud and Stream() or TStream()]), "does not support IterableDataset"),
        (lambda d, lib: d.ConcatDataset([[1, 2]])[-3], "absolute value of index should not exceed dataset length"),
        (lambda d, lib: d.StackDataset([1], [1, 2]), "Size mismatch between datasets"),
        (lambda d, lib: d.StackDataset(), "At least one dataset should be passed"),
        (lambda d, lib: d.Dataset()[0], "Subclasses of Dataset should implement __getitem__"),
    ]
    for make, message in cases:
        with pytest.raises(Exception, match=message) as theirs:
            make(tdata, torch)
        with pytest.raises(type(theirs.value), match=message):
            make(ud, tc)
    assert list(Stream() + Stream()) == list(TStream() + TStream())


def test_random_split_lengths_and_errors_match_torch(torch: Any) -> None:
    tdata = torch.utils.data
    for lengths in ([3, 7], [0.3, 0.3, 0.4], [0.5, 0.5], [1 / 3] * 3, [0.25, 0.75]):
        for n in (10, 11, 7):
            if all(isinstance(v, int) for v in lengths) and sum(lengths) != n:
                continue
            ours = ud.random_split(range(n), lengths)
            theirs = tdata.random_split(range(n), lengths)
            assert [len(s) for s in ours] == [len(s) for s in theirs]
            items = sorted(i for s in ours for i in s)
            assert items == list(range(n))  # disjoint, and together the whole data set
    for lengths, message in (([3, 3], "Sum of input lengths does not equal"),
                             ([1.5, -0.5], "Fraction at index 0 is not between 0 and 1")):
        with pytest.raises(ValueError, match=message):
            tdata.random_split(range(10), lengths)
        with pytest.raises(ValueError, match=message):
            ud.random_split(range(10), lengths)
    with pytest.warns(UserWarning, match="Length of split at index 1 is 0"):
        ud.random_split(range(2), [1.0, 0.0])


def test_random_split_follows_manual_seed_and_generator() -> None:
    tc.manual_seed(3)
    a = [list(s) for s in ud.random_split(range(20), [0.5, 0.5])]
    tc.manual_seed(3)
    b = [list(s) for s in ud.random_split(range(20), [0.5, 0.5])]
    c = [list(s) for s in ud.random_split(range(20), [0.5, 0.5])]
    assert a == b and a != c
    g1 = [list(s) for s in ud.random_split(range(20), [5, 15], generator=np.random.default_rng(1))]
    g2 = [list(s) for s in ud.random_split(range(20), [5, 15], generator=np.random.default_rng(1))]
    assert g1 == g2
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        ud.random_split(range(4), [2, 2], generator=1)  # type: ignore[arg-type]


# ------------------------------------------------------------------ samplers
def test_samplers_match_torch(torch: Any) -> None:
    tdata = torch.utils.data
    data = list(range(7))
    assert list(ud.SequentialSampler(data)) == list(tdata.SequentialSampler(data))
    for bs in (1, 2, 3, 7, 8):
        for drop in (False, True):
            ours = ud.BatchSampler(ud.SequentialSampler(data), bs, drop)
            theirs = tdata.BatchSampler(tdata.SequentialSampler(data), bs, drop)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)
    for kwargs in ({}, {"num_samples": 17}, {"num_samples": 3}, {"replacement": True, "num_samples": 40}):
        ours_r, theirs_r = ud.RandomSampler(data, **kwargs), tdata.RandomSampler(data, **kwargs)
        drawn = list(ours_r)
        assert len(drawn) == len(ours_r) == len(theirs_r) == len(list(theirs_r))
        assert set(drawn) <= set(data)
        if not kwargs.get("replacement") and kwargs.get("num_samples", 7) >= 7:
            assert sorted(drawn[:7]) == data  # whole permutations first
    sub = ud.SubsetRandomSampler([2, 4, 6])
    assert sorted(sub) == [2, 4, 6] and len(sub) == 3
    weighted = list(ud.WeightedRandomSampler([0.0, 1.0, 0.0, 3.0], 50))
    assert set(weighted) <= {1, 3} and len(weighted) == 50


def test_sampler_errors_match_torch(torch: Any) -> None:
    tdata = torch.utils.data
    cases = [
        (lambda d: d.RandomSampler([1, 2], replacement=1), "replacement should be a boolean value"),
        (lambda d: d.RandomSampler([1, 2], num_samples=0), "num_samples should be a positive integer value"),
        (lambda d: d.RandomSampler([]), "num_samples should be a positive integer value"),
        (lambda d: d.BatchSampler([1, 2], 0, False), "batch_size should be a positive integer value"),
        (lambda d: d.BatchSampler([1, 2], True, False), "batch_size should be a positive integer value"),
        (lambda d: d.BatchSampler([1, 2], 2, 1), "drop_last should be a boolean value"),
        (lambda d: d.WeightedRandomSampler([1.0], 0), "num_samples should be a positive integer value"),
        (lambda d: d.WeightedRandomSampler([[1.0]], 1), "weights should be a 1d sequence"),
    ]
    for make, message in cases:
        with pytest.raises(Exception, match=message) as theirs:
            make(tdata)
        with pytest.raises(type(theirs.value), match=message):
            make(ud)


def test_random_sampler_follows_manual_seed_and_epochs_differ() -> None:
    sampler = ud.RandomSampler(range(50))
    tc.manual_seed(0)
    first, second = list(sampler), list(sampler)
    tc.manual_seed(0)
    assert list(sampler) == first and list(sampler) == second and first != second
    gen_sampler = ud.RandomSampler(range(50), generator=np.random.default_rng(5))
    assert list(gen_sampler) == list(ud.RandomSampler(range(50), generator=np.random.default_rng(5)))


# ------------------------------------------------------------------ DataLoader
class Pairs(ud.Dataset):
    """A map-style data set of (features, label, name) samples (module level: workers pickle it
    under the spawn start method)."""

    def __init__(self, n: int = 11) -> None:
        self.x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> Any:
        return {"x": self.x[i], "label": int(i % 3), "name": f"s{i}", "w": float(i) / 2}


def _pairs_torch(torch: Any) -> Any:
    class TPairs(torch.utils.data.Dataset):
        def __init__(self) -> None:
            self.inner = Pairs()

        def __len__(self) -> int:
            return len(self.inner)

        def __getitem__(self, i: int) -> Any:
            return self.inner[i]

    return TPairs()


@pytest.mark.parametrize("kwargs", [{}, {"batch_size": 4}, {"batch_size": 4, "drop_last": True},
                                    {"batch_size": None}, {"batch_size": 5, "collate_fn": lambda b: len(b)}],
                         ids=["default", "bs4", "drop_last", "no-batching", "collate_fn"])
def test_loader_batches_match_torch(torch: Any, kwargs: dict[str, Any]) -> None:
    ours = ud.DataLoader(Pairs(), **kwargs)
    theirs = torch.utils.data.DataLoader(_pairs_torch(torch), **kwargs)
    assert len(ours) == len(theirs)
    assert [_norm(b) for b in ours] == [_norm(b) for b in theirs]


def test_loader_over_tensor_dataset_matches_torch(torch: Any) -> None:
    x = np.random.default_rng(0).standard_normal((10, 2, 3)).astype(np.float32)
    y = np.arange(10)
    sampler = [9, 3, 0, 4, 4, 1, 7]
    for kwargs in ({"batch_size": 3}, {"batch_size": 3, "sampler": sampler},
                   {"batch_sampler": [[1, 2], [0], [9, 8, 7]]}, {"batch_size": 4, "drop_last": True}):
        ours = ud.DataLoader(ud.TensorDataset(tc.Tensor(x), tc.Tensor(y)), **kwargs)
        theirs = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), **kwargs)
        assert len(ours) == len(theirs)
        assert [_norm(b) for b in ours] == [_norm(b) for b in theirs]


def test_loader_option_errors_match_torch(torch: Any) -> None:
    class Stream(ud.IterableDataset):
        def __iter__(self) -> Any:
            return iter(range(3))

    class TStream(torch.utils.data.IterableDataset):
        def __iter__(self) -> Any:
            return iter(range(3))

    data = list(range(10))
    cases: list[tuple[Any, dict[str, Any]]] = [
        (data, {"num_workers": -1}), (data, {"timeout": -1}), (data, {"prefetch_factor": 2}),
        (data, {"num_workers": 1, "prefetch_factor": -1}), (data, {"persistent_workers": True}),
        ("stream", {"shuffle": True}), ("stream", {"sampler": [0]}), ("stream", {"batch_sampler": [[0]]}),
        (data, {"sampler": [0, 1], "shuffle": True}), (data, {"batch_sampler": [[0]], "batch_size": 2}),
        (data, {"batch_sampler": [[0]], "drop_last": True}), (data, {"batch_sampler": [[0]], "shuffle": True}),
        (data, {"batch_size": None, "drop_last": True}), (data, {"multiprocessing_context": "fork"}),
        (data, {"num_workers": 1, "multiprocessing_context": "nonsense"}),
    ]
    for dataset, kwargs in cases:
        with pytest.raises(Exception) as theirs:
            torch.utils.data.DataLoader(TStream() if dataset == "stream" else dataset, **kwargs)
        with pytest.raises(type(theirs.value)) as ours:
            ud.DataLoader(Stream() if dataset == "stream" else dataset, **kwargs)
        assert str(ours.value).split(" but got")[0] == str(theirs.value).split(" but got")[0], kwargs
    loader = ud.DataLoader(data)
    for attr in ("batch_size", "sampler", "batch_sampler", "drop_last", "dataset", "persistent_workers"):
        with pytest.raises(ValueError, match=f"{attr} attribute should not be set after DataLoader is initialized"):
            setattr(loader, attr, None)


def test_loader_shuffle_follows_manual_seed_and_generator() -> None:
    data = list(range(30))
    loader = ud.DataLoader(data, batch_size=30, shuffle=True)
    tc.manual_seed(7)
    epoch1, epoch2 = next(iter(loader)).tolist(), next(iter(loader)).tolist()
    tc.manual_seed(7)
    assert next(iter(loader)).tolist() == epoch1 and next(iter(loader)).tolist() == epoch2
    assert epoch1 != epoch2 and sorted(epoch1) == data
    a = ud.DataLoader(data, batch_size=30, shuffle=True, generator=np.random.default_rng(1))
    b = ud.DataLoader(data, batch_size=30, shuffle=True, generator=np.random.default_rng(1))
    assert [t.tolist() for t in a] == [t.tolist() for t in b]
    with pytest.raises(TypeError, match="generator must be a numpy.random.Generator"):
        ud.DataLoader(data, shuffle=True, generator=3)  # type: ignore[arg-type]


def test_loader_pin_memory_warns_as_torch_without_accelerator() -> None:
    with pytest.warns(UserWarning, match="'pin_memory' argument is set as true but no accelerator is found"):
        list(ud.DataLoader([1, 2], pin_memory=True))


def test_old_data_loader_still_works() -> None:
    from tinygrad_conv.data import DataLoader, TensorDataset

    loader = DataLoader(TensorDataset(np.zeros((5, 2), np.float32), np.arange(5)), batch_size=2, seed=0)
    assert [tuple(x.shape) for x, _ in loader] == [(2, 2), (2, 2), (1, 2)]


# ------------------------------------------------------------------ worker processes
class Shards(ud.IterableDataset):
    """Each worker yields its share of range(n) (via get_worker_info), as PyTorch's docs show."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Any:
        info = ud.get_worker_info()
        if info is None:
            return iter(range(self.n))
        return iter(range(info.id, self.n, info.num_workers))


class Uneven(ud.IterableDataset):
    """Worker 0 yields many items, worker 1 few: batches must still come round robin, as PyTorch."""

    def __iter__(self) -> Any:
        info = ud.get_worker_info()
        wid = 0 if info is None else info.id
        return iter(range(wid * 100, wid * 100 + (9 if wid == 0 else 2)))


class WhoAmI(ud.Dataset):
    """Each sample says which worker read it and a draw from that worker's default generator."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, i: int) -> Any:
        info = ud.get_worker_info()
        return (-1 if info is None else info.id, float(tc.random.default_generator().random()), i)


class Failing(ud.Dataset):
    def __len__(self) -> int:
        return 6

    def __getitem__(self, i: int) -> Any:
        if i == 4:
            raise ValueError(f"bad sample {i}")
        return i


class Slow(ud.Dataset):
    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> Any:
        time.sleep(1.5)
        return i


def _torch_iterable(torch: Any, cls: type) -> Any:
    """The same iterable data set as a torch IterableDataset, reading torch's worker info."""
    class T(torch.utils.data.IterableDataset):
        def __init__(self, *args: Any) -> None:
            self.inner = cls(*args)

        def __iter__(self) -> Any:
            # (runs in a forked torch worker: setting our module's worker info there is private to it)
            info = torch.utils.data.get_worker_info()
            ud._worker._worker_info = None if info is None else ud.WorkerInfo(
                id=info.id, num_workers=info.num_workers, seed=0, dataset=None)
            return iter(list(self.inner))

    return T


def test_workers_return_batches_in_order_as_torch(torch: Any) -> None:
    for kwargs in ({"batch_size": 3}, {"batch_size": 2, "drop_last": True}, {"batch_size": None}):
        ours = ud.DataLoader(Pairs(), num_workers=2, **kwargs)
        theirs = torch.utils.data.DataLoader(_pairs_torch(torch), num_workers=2, **kwargs)
        assert [_norm(b) for b in ours] == [_norm(b) for b in theirs]
    for cls, args in ((Shards, (11,)), (Uneven, ())):
        for bs in (2, None):
            ours = ud.DataLoader(cls(*args), num_workers=2, batch_size=bs)
            theirs = torch.utils.data.DataLoader(_torch_iterable(torch, cls)(*args), num_workers=2, batch_size=bs)
            assert [_norm(b) for b in ours] == [_norm(b) for b in theirs], (cls, bs)


def test_workers_seed_init_fn_and_persistent_epochs() -> None:
    seen = []
    loader = ud.DataLoader(WhoAmI(), batch_size=2, num_workers=2, worker_init_fn=lambda wid: None,
                           persistent_workers=True)
    tc.manual_seed(0)
    for _ in range(2):
        seen.append([(w.tolist(), i.tolist()) for w, _, i in loader])
    # Batches alternate between the two workers, in order; every epoch gives every sample.
    assert [w for w, _ in seen[0]] == [[0, 0], [1, 1], [0, 0], [1, 1]]
    assert [i for batch in seen[1] for i in batch[1]] == list(range(8))
    draws = [d.tolist() for _, d, _ in ud.DataLoader(WhoAmI(), batch_size=2, num_workers=2)]
    assert len({x for pair in draws for x in pair}) == 8  # the workers' generators differ
    tc.manual_seed(1)
    again_a = [d.tolist() for _, d, _ in ud.DataLoader(WhoAmI(), batch_size=2, num_workers=2)]
    tc.manual_seed(1)
    again_b = [d.tolist() for _, d, _ in ud.DataLoader(WhoAmI(), batch_size=2, num_workers=2)]
    assert again_a == again_b  # the workers' seeds follow tc.manual_seed


def test_worker_errors_are_reraised_like_torch(torch: Any) -> None:
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process") as theirs:
        list(torch.utils.data.DataLoader(Failing(), batch_size=2, num_workers=2))
    with pytest.raises(ValueError, match="Caught ValueError in DataLoader worker process 0") as ours:
        list(ud.DataLoader(Failing(), batch_size=2, num_workers=2))
    assert "bad sample 4" in str(ours.value) and "bad sample 4" in str(theirs.value)
    with pytest.raises(RuntimeError, match="DataLoader timed out after 0.3 seconds"):
        list(ud.DataLoader(Slow(), num_workers=1, timeout=0.3))


def test_many_workers_warn_as_torch() -> None:
    import os

    too_many = len(os.sched_getaffinity(0)) + 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ud.DataLoader([1], num_workers=too_many)
    assert any(f"This DataLoader will create {too_many} worker processes" in str(w.message) for w in caught)


def test_loader_over_subsets_of_a_tensor_dataset_matches_torch(torch: Any) -> None:
    """Subsets (what random_split returns) of a TensorDataset, nested, batched as PyTorch does."""
    x = np.random.default_rng(1).standard_normal((12, 3)).astype(np.float32)
    y = np.arange(12) * 10
    outer, inner = [4, 0, 2, 2, 5, -1], [11, 3, 7, 0, 1, 9, 8]
    ours = ud.Subset(ud.Subset(ud.TensorDataset(tc.Tensor(x), tc.Tensor(y)), inner), outer)
    tdata = torch.utils.data
    theirs = tdata.Subset(tdata.Subset(tdata.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), inner), outer)
    for kwargs in ({"batch_size": 4}, {"batch_size": 2, "num_workers": 2}):
        assert ([_norm(b) for b in ud.DataLoader(ours, **kwargs)] ==
                [_norm(b) for b in tdata.DataLoader(theirs, **kwargs)])
    with pytest.raises(IndexError):
        list(ud.DataLoader(ud.Subset(ud.TensorDataset(tc.Tensor(x)), [12]), batch_size=2))
