"""Layers added for issue 15 against PyTorch: LayerNorm, GroupNorm, Embedding (padding_idx, max_norm,
scale_grad_by_freq, from_pretrained), ModuleDict, ParameterList, ParameterDict and Identity: values,
gradients of inputs and parameters with random upstream gradients, defaults, state_dict names, errors."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv import nn
from tinygrad_conv.testing import check_op


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("op", ["layer_norm", "group_norm", "embedding"])
def test_registered_and_checked(op: str) -> None:
    report = check_op(op, raise_on_failure=False)
    assert report.ok, str(report)
    assert tc.ops.registry()[op].twice_differentiable


def _copy_params(torch, ours: nn.Module, theirs) -> None:
    theirs.load_state_dict({k: torch.tensor(np.array(v.detach().numpy())) for k, v in ours.state_dict().items()})


def _module_pair(torch, ours: nn.Module, theirs, x: np.ndarray, perturb: bool = True) -> None:
    """Same parameters (perturbed from their defaults so that affine terms matter), then compare the
    output and every gradient with a random upstream gradient."""
    rng = np.random.default_rng(11)
    if perturb:
        for p in ours.parameters():
            p.detach().numpy()[...] = p.detach().numpy() + rng.standard_normal(p.shape).astype(p.dtype) * 0.3
    _copy_params(torch, ours, theirs)
    xt, tx = tc.Tensor(x, requires_grad=x.dtype.kind == "f"), torch.tensor(x, requires_grad=x.dtype.kind == "f")
    y, ty = ours(xt), theirs(tx)
    g = rng.standard_normal(y.shape).astype(y.dtype)
    y.backward(tc.Tensor(g))
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    if x.dtype.kind == "f":
        np.testing.assert_allclose(xt.grad.detach().numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for (name, p), (tname, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert name == tname
        if tp.grad is None:
            assert p.grad is None or not p.grad.detach().numpy().any(), name
        else:
            np.testing.assert_allclose(p.grad.detach().numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name)


# ------------------------------------------------------------------------------------------ LayerNorm
@pytest.mark.parametrize("shape,normalized,kw", [((4, 6), 6, {}), ((2, 3, 4, 5), (4, 5), {}),
                                                 ((3, 5), [5], {"elementwise_affine": False}),
                                                 ((3, 5), 5, {"bias": False}), ((2, 7), 7, {"eps": 1e-2})])
def test_layer_norm_matches_torch(torch, shape, normalized, kw) -> None:
    ours, theirs = nn.LayerNorm(normalized, **kw), torch.nn.LayerNorm(normalized, **kw)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = (np.random.default_rng(0).standard_normal(shape) * 3 + 1).astype(np.float32)
    _module_pair(torch, ours, theirs, x)


def test_layer_norm_defaults_are_torchs(torch) -> None:
    ours, theirs = nn.LayerNorm((3, 4)), torch.nn.LayerNorm((3, 4))
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v.detach().numpy(), theirs.state_dict()[k].numpy())
    assert ours.eps == theirs.eps and ours.normalized_shape == theirs.normalized_shape


def test_layer_norm_second_derivative_matches_torch(torch) -> None:
    x = np.random.default_rng(1).standard_normal((3, 5))
    w = np.random.default_rng(2).standard_normal(5)
    g, gg = np.random.default_rng(3).standard_normal((2, 3, 5))
    t, tw = tc.Tensor(x, requires_grad=True), tc.Tensor(w, requires_grad=True)
    (dx,) = tc.grad(F.layer_norm(t, (5,), tw), t, tc.Tensor(g), create_graph=True)
    (d2,) = tc.grad(dx, tw, tc.Tensor(gg))
    tx, tww = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    (tdx,) = torch.autograd.grad(torch.nn.functional.layer_norm(tx, (5,), tww), tx, torch.tensor(g), create_graph=True)
    (td2,) = torch.autograd.grad(tdx, tww, torch.tensor(gg))
    np.testing.assert_allclose(d2.detach().numpy(), td2.numpy(), rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------ GroupNorm
@pytest.mark.parametrize("groups,channels,shape,kw", [(2, 4, (3, 4, 5), {}), (3, 6, (2, 6, 3, 3), {}),
                                                      (1, 4, (2, 4, 2, 2), {"affine": False}),
                                                      (4, 4, (5, 4), {"eps": 1e-3}),
                                                      (2, 4, (2, 4, 3), {"bias": False})])
def test_group_norm_matches_torch(torch, groups, channels, shape, kw) -> None:
    ours, theirs = nn.GroupNorm(groups, channels, **kw), torch.nn.GroupNorm(groups, channels, **kw)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    x = (np.random.default_rng(4).standard_normal(shape) * 2 - 1).astype(np.float32)
    _module_pair(torch, ours, theirs, x)


def test_normalization_errors_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"layer_norm: given normalized_shape=\[4\], expected an input of shape "
                                         r"\[\*, 4\], but got an input of shape \(2, 3\)"):
        F.layer_norm(tc.ones(2, 3), [4])
    with pytest.raises(ValueError, match=r"layer_norm: expected weight of shape \(3,\)"):
        F.layer_norm(tc.ones(2, 3), [3], tc.ones(4))
    with pytest.raises(ValueError, match="num_channels \\(4\\) must be divisible by num_groups \\(3\\)"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match=r"group_norm: expected the number of channels in the input to be divisible"):
        F.group_norm(tc.ones(2, 6, 4), 4)
    with pytest.raises(ValueError, match="GroupNorm: input has 6 channels"):
        nn.GroupNorm(2, 4)(tc.ones(2, 6, 3))
    with pytest.raises(ValueError, match="device='cuda' is not available"):
        nn.LayerNorm(3, device="cuda")


# ------------------------------------------------------------------------------------------ Embedding
@pytest.mark.parametrize("kw", [{}, {"padding_idx": 1}, {"padding_idx": -2}, {"scale_grad_by_freq": True},
                                {"padding_idx": 0, "scale_grad_by_freq": True}])
def test_embedding_matches_torch(torch, kw) -> None:
    ours, theirs = nn.Embedding(7, 4, **kw), torch.nn.Embedding(7, 4, **kw)
    assert repr(ours) == repr(theirs)
    idx = np.array([[1, 5, 1, 0], [6, 1, 5, 5]], dtype=np.int64)
    _module_pair(torch, ours, theirs, idx)


def test_embedding_init_follows_torch() -> None:
    emb = nn.Embedding(1000, 8, padding_idx=3)
    w = emb.weight.detach().numpy()
    assert w.dtype == np.float32 and emb.weight.requires_grad
    assert not w[3].any()  # the padding row starts at zero
    assert abs(w.mean()) < 0.05 and abs(w.std() - 1.0) < 0.05  # N(0, 1), as PyTorch


def test_embedding_max_norm_renormalises_the_looked_up_rows_as_torch(torch) -> None:
    w = (np.random.default_rng(5).standard_normal((6, 3)) * 2).astype(np.float32)
    idx = np.array([0, 2, 2, 5])
    ours = nn.Embedding.from_pretrained(tc.Tensor(w), freeze=False, max_norm=1.0)
    theirs = torch.nn.Embedding.from_pretrained(torch.tensor(w), freeze=False, max_norm=1.0)
    assert repr(ours) == repr(theirs)
    _module_pair(torch, ours, theirs, idx, perturb=False)
    np.testing.assert_allclose(ours.weight.detach().numpy(), theirs.weight.detach().numpy(),
                               rtol=1e-6)  # changed in place
    assert np.allclose(ours.weight.detach().numpy()[1], w[1])  # rows not looked up are untouched


def test_embedding_from_pretrained_freezes_by_default(torch) -> None:
    w = np.arange(12, dtype=np.float32).reshape(4, 3)
    emb = nn.Embedding.from_pretrained(tc.Tensor(w))
    assert not emb.weight.requires_grad and emb.weight.detach().numpy() is not w
    np.testing.assert_array_equal(emb(tc.Tensor([3, 0])).detach().numpy(), w[[3, 0]])
    assert nn.Embedding.from_pretrained(tc.Tensor(w), freeze=False).weight.requires_grad


def test_embedding_errors() -> None:
    emb = nn.Embedding(5, 2)
    with pytest.raises(IndexError, match=r"embedding: index out of range: indices must be in \[0, 5\)"):
        emb(tc.Tensor([1, 5]))
    with pytest.raises(TypeError, match="embedding: indices must be an integer tensor"):
        emb(tc.Tensor([1.0]))
    with pytest.raises(ValueError, match="padding_idx must be within num_embeddings"):
        nn.Embedding(5, 2, padding_idx=5)
    with pytest.raises(NotImplementedError, match="sparse=True is not supported"):
        nn.Embedding(5, 2, sparse=True)
    with pytest.raises(ValueError, match="embeddings must be 2-d"):
        nn.Embedding.from_pretrained(tc.ones(3))


def test_embedding_in_a_model_trains_like_torch(torch) -> None:
    # An embedding bag by hand: embed, mean over the sequence, classify; one SGD step each side.
    rng = np.random.default_rng(6)
    idx = rng.integers(0, 10, (4, 5))
    labels = rng.integers(0, 3, 4)
    ours = nn.Sequential(nn.Embedding(10, 6, padding_idx=0), nn.Flatten(), nn.Linear(30, 3))
    theirs = torch.nn.Sequential(torch.nn.Embedding(10, 6, padding_idx=0), torch.nn.Flatten(), torch.nn.Linear(30, 3))
    _copy_params(torch, ours, theirs)
    loss = nn.CrossEntropyLoss()(ours(tc.Tensor(idx)), tc.Tensor(labels))
    loss.backward()
    tloss = torch.nn.CrossEntropyLoss()(theirs(torch.tensor(idx)), torch.tensor(labels))
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
    np.testing.assert_allclose(ours[0].weight.grad.detach().numpy(), theirs[0].weight.grad.numpy(), rtol=1e-5,
                               atol=1e-7)


# ------------------------------------------------------------------------------------------ containers
def test_module_dict_registers_and_behaves_like_a_dict(torch) -> None:
    d = nn.ModuleDict({"b": nn.Linear(2, 3), "a": nn.ReLU()})
    td = torch.nn.ModuleDict({"b": torch.nn.Linear(2, 3), "a": torch.nn.ReLU()})
    assert list(d.keys()) == list(td.keys()) == ["b", "a"]
    assert [k for k, _ in d.named_parameters()] == [k for k, _ in td.named_parameters()]
    assert repr(d) == repr(td)
    d["c"] = nn.Linear(3, 1)
    d.update([("e", nn.Tanh())])
    assert list(d) == ["b", "a", "c", "e"] and "c" in d and len(d) == 4
    assert [k for k, _ in d.named_parameters()] == ["b.weight", "b.bias", "c.weight", "c.bias"]
    popped = d.pop("c")
    assert isinstance(popped, nn.Linear) and "c" not in d and len(list(d.parameters())) == 2
    del d["a"]
    assert list(d) == ["b", "e"] and [type(m).__name__ for m in d.values()] == ["Linear", "Tanh"]
    y = d["e"](d["b"](tc.ones(1, 2)))
    assert y.shape == (1, 3)
    with pytest.raises(KeyError):
        d["missing"]
    with pytest.raises(TypeError, match="ModuleDict: values must be Modules"):
        d["x"] = 3
    d.clear()
    assert len(d) == 0


def test_parameter_list_registers_and_converts_tensors(torch) -> None:
    pl = nn.ParameterList([nn.Parameter(tc.ones(2)), tc.zeros(3)])
    assert isinstance(pl[1], nn.Parameter) and pl[1].requires_grad  # a Tensor became a Parameter
    pl.append(nn.Parameter(tc.ones(1, 2)))
    pl.extend([tc.ones(4)])
    assert len(pl) == 4 and [k for k, _ in pl.named_parameters()] == ["0", "1", "2", "3"]
    assert [p.shape for p in pl] == [(2,), (3,), (1, 2), (4,)] and pl[-1].shape == (4,)
    pl[0] = nn.Parameter(tc.zeros(5))
    assert pl[0].shape == (5,) and list(pl.state_dict()) == ["0", "1", "2", "3"]
    with pytest.raises(IndexError, match="out of range"):
        pl[4]

    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.scales = nn.ParameterList([nn.Parameter(tc.ones(3)) for _ in range(2)])

        def forward(self, x):
            for s in self.scales:
                x = x * s
            return x

    m = Model()
    m(tc.ones(3)).sum().backward()
    assert [k for k, _ in m.named_parameters()] == ["scales.0", "scales.1"]
    assert all(p.grad is not None for p in m.parameters())
    tm = torch.nn.ParameterList([torch.nn.Parameter(torch.ones(3)) for _ in range(2)])
    assert list(tm.state_dict()) == list(m.scales.state_dict())


def test_parameter_dict_registers_and_behaves_like_a_dict(torch) -> None:
    pd = nn.ParameterDict({"w": nn.Parameter(tc.ones(2, 3)), "b": tc.zeros(3)})  # a dict: sorted, as PyTorch
    tpd = torch.nn.ParameterDict({"w": torch.nn.Parameter(torch.ones(2, 3)), "b": torch.zeros(3)})
    assert list(pd.keys()) == list(tpd.keys()) and list(pd.state_dict()) == list(tpd.state_dict())
    assert isinstance(pd["b"], nn.Parameter)
    pd.update({"c": nn.Parameter(tc.ones(1))})
    assert "c" in pd and len(pd) == 3 and [k for k, _ in pd.named_parameters()] == ["b", "w", "c"]
    assert pd.pop("w").shape == (2, 3) and list(pd) == ["b", "c"]
    ordered = nn.ParameterDict([("z", tc.ones(1)), ("a", tc.ones(1))])  # pairs keep their order
    assert list(ordered) == ["z", "a"]
    assert pd.get("missing") is None
    with pytest.raises(KeyError):
        pd["missing"]
    pd.clear()
    assert len(pd) == 0 and not list(pd.parameters())


def test_identity_accepts_and_ignores_arguments_as_torch(torch) -> None:
    m, tm = nn.Identity(54, unused_argument1=0.1), torch.nn.Identity(54, unused_argument1=0.1)
    x = tc.ones(2, 3)
    assert m(x) is x and repr(m) == repr(tm)


# ------------------------------------------------------------------------------------------ interpolate
@pytest.mark.parametrize("op", ["interpolate", "upsample", "adaptive_max_pool2d"])
def test_resampling_ops_registered_and_checked(op: str) -> None:
    report = check_op(op, raise_on_failure=False)
    assert report.ok, str(report)
    assert tc.ops.registry()[op].twice_differentiable


INTERP = [
    ((1, 2, 4, 5), {"scale_factor": 2}), ((2, 1, 5, 3), {"size": (7, 4)}), ((1, 1, 6, 6), {"size": 4}),
    ((1, 2, 5, 5), {"scale_factor": 1.7}), ((1, 2, 5, 5), {"scale_factor": 1.7, "recompute_scale_factor": True}),
    ((1, 1, 7, 4), {"scale_factor": (0.5, 2.5)}), ((2, 3, 9), {"scale_factor": 0.4}),
    ((1, 2, 4, 4), {"scale_factor": 3, "mode": "bilinear"}),
    ((1, 2, 5, 3), {"size": (8, 7), "mode": "bilinear", "align_corners": True}),
    ((1, 2, 5, 3), {"size": (8, 7), "mode": "bilinear", "align_corners": False}),
    ((2, 1, 8, 6), {"size": (3, 2), "mode": "bilinear"}),
    ((1, 1, 5, 5), {"scale_factor": 1.3, "mode": "bilinear"}),
    ((1, 1, 5, 5), {"scale_factor": 1.3, "mode": "bilinear", "recompute_scale_factor": True}),
    ((1, 1, 4, 4), {"size": (1, 1), "mode": "bilinear", "align_corners": True}),
    ((2, 2, 6), {"size": 11, "mode": "linear"}), ((1, 1, 3, 4, 2), {"scale_factor": 2, "mode": "trilinear"}),
    ((1, 2, 5, 5), {"scale_factor": 1.5, "mode": "nearest-exact"}), ((1, 2, 6, 6), {"size": (3, 2), "mode": "area"}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,kw", INTERP, ids=[f"{s}-{kw}" for s, kw in INTERP])
def test_interpolate_matches_torch(torch, shape, kw, dtype) -> None:
    rng = np.random.default_rng(13)
    x = rng.standard_normal(shape).astype(dtype)
    xt, tx = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = F.interpolate(xt, **kw)
    ty = torch.nn.functional.interpolate(tx, **kw)
    assert y.shape == tuple(ty.shape) and y.dtype == dtype
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(tc.Tensor(g))
    ty.backward(torch.from_numpy(g))
    tol = {"rtol": 2e-6, "atol": 2e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-12}
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(xt.grad.detach().numpy(), tx.grad.numpy(), **tol)


def test_interpolate_nearest_keeps_integer_dtypes(torch) -> None:
    x = np.arange(6, dtype=np.int64).reshape(1, 1, 2, 3)
    y = F.interpolate(tc.Tensor(x), scale_factor=2)
    ref = torch.nn.functional.interpolate(torch.tensor(x).float(), scale_factor=2).long().numpy()
    assert y.dtype == np.int64 and (y.detach().numpy() == ref).all()


def test_interpolate_errors_name_the_rule() -> None:
    x = tc.ones(1, 1, 4, 4)
    with pytest.raises(ValueError, match="either size or scale_factor should be defined"):
        F.interpolate(x)
    with pytest.raises(ValueError, match="only one of size or scale_factor should be defined"):
        F.interpolate(x, size=3, scale_factor=2)
    with pytest.raises(ValueError, match="align_corners option can only be set with the interpolating modes"):
        F.interpolate(x, size=3, align_corners=True)
    with pytest.raises(ValueError, match=r"same number of spatial dimensions, but got input with spatial dimensions "
                                         r"of \[4, 4\] and output size of \(3,\)"):
        F.interpolate(x, size=(3,))
    with pytest.raises(NotImplementedError, match="mode='bicubic' is not supported"):
        F.interpolate(x, size=3, mode="bicubic")
    with pytest.raises(ValueError, match="unknown mode 'cubic'"):
        F.interpolate(x, size=3, mode="cubic")
    with pytest.raises(NotImplementedError, match="got 3D input, but bilinear mode needs 4D input"):
        F.interpolate(tc.ones(1, 1, 4), size=3, mode="bilinear")
    with pytest.raises(NotImplementedError, match="got 4D input, but linear mode needs 3D input"):
        F.interpolate(x, size=3, mode="linear")
    with pytest.raises(NotImplementedError, match="antialias=True is not supported"):
        F.interpolate(x, size=3, mode="bilinear", antialias=True)


@pytest.mark.parametrize("kw", [{"scale_factor": 2}, {"size": (5, 3), "mode": "bilinear"},
                                {"scale_factor": 1.5, "mode": "bilinear", "align_corners": True},
                                {"scale_factor": (2, 3)}, {"size": 4}])
def test_upsample_module_matches_torch(torch, kw) -> None:
    ours, theirs = nn.Upsample(**kw), torch.nn.Upsample(**kw)
    assert repr(ours) == repr(theirs)
    _module_pair(torch, ours, theirs, np.random.default_rng(14).standard_normal((1, 2, 3, 4)).astype(np.float32))


@pytest.mark.parametrize("name", ["UpsamplingNearest2d", "UpsamplingBilinear2d"])
def test_upsampling_2d_modules_match_torch(torch, name) -> None:
    ours, theirs = getattr(nn, name)(scale_factor=2), getattr(torch.nn, name)(scale_factor=2)
    assert repr(ours) == repr(theirs)
    _module_pair(torch, ours, theirs, np.random.default_rng(15).standard_normal((1, 2, 3, 3)).astype(np.float32))


# ------------------------------------------------------------------------------------------ AdaptiveMaxPool2d
@pytest.mark.parametrize("shape,out", [((2, 3, 7, 5), (3, 2)), ((1, 2, 8, 8), 4), ((2, 4, 5), (None, 2)),
                                       ((1, 1, 3, 3), 1), ((1, 2, 4, 6), (6, 7))])
def test_adaptive_max_pool2d_matches_torch(torch, shape, out) -> None:
    rng = np.random.default_rng(16)
    x = rng.standard_normal(shape).astype(np.float32)
    ours, theirs = nn.AdaptiveMaxPool2d(out, return_indices=True), torch.nn.AdaptiveMaxPool2d(out, return_indices=True)
    assert repr(ours) == repr(theirs)
    xt, tx = tc.Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    (y, idx), (ty, tidx) = ours(xt), theirs(tx)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(idx.detach().numpy(), tidx.numpy())
    assert idx.dtype == np.int64
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(tc.Tensor(g))
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xt.grad.detach().numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(F.adaptive_max_pool2d(tc.Tensor(x), out).detach().numpy(), ty.detach().numpy())


def test_adaptive_max_pool2d_errors() -> None:
    with pytest.raises(ValueError, match="expected a 3-d \\(C, H, W\\) or 4-d"):
        F.adaptive_max_pool2d(tc.ones(4, 4), 2)
    with pytest.raises(ValueError, match="output_size must be an int or a pair"):
        F.adaptive_max_pool2d(tc.ones(1, 4, 4), (1, 2, 3))
