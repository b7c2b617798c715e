"""nn: modules, layers and initialisation against PyTorch; module scopes on the tape; a CNN with
BatchNorm trained side by side with PyTorch under SGD with momentum, Adam and AdamW."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

import tinygrad_conv as tc
from tinygrad_conv import nn, optim
from tinygrad_conv.nn.models import ConvAutoencoder, LeNet, build_model
from tinygrad_conv.ops import loss as L
from tinygrad_conv.testing import gradcheck


def _torch():
    return pytest.importorskip("torch")


def _copy_to_torch(torch, ours: nn.Module, theirs):
    theirs.load_state_dict({k: torch.tensor(np.array(v.detach().numpy())) for k, v in ours.state_dict().items()})
    return theirs


def _torch_lenet(torch, image_size: int = 8, channels=(32, 64), hidden: int = 128):
    k = 3 if image_size <= 12 else 5
    tnn = torch.nn

    class LeNet(tnn.Module):  # the same structure, so names, shapes and repr line up
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(
                tnn.Conv2d(1, channels[0], k, padding=k // 2), tnn.ReLU(), tnn.MaxPool2d(2),
                tnn.Conv2d(channels[0], channels[1], k, padding=k // 2), tnn.ReLU(), tnn.MaxPool2d(2))
            side = image_size // 4
            self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(channels[1] * side * side, hidden),
                                             tnn.ReLU(), tnn.Linear(hidden, 10))

        def forward(self, x):
            return self.classifier(self.features(x))

    return LeNet()


# ------------------------------------------------------------------------------------ modules
def test_lenet_names_shapes_and_repr_match_torch() -> None:
    torch = _torch()
    ours, theirs = build_model("lenet", "digits"), _torch_lenet(torch)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert repr(ours) == repr(theirs)
    bn_ours, bn_theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    assert list(bn_ours.state_dict()) == list(bn_theirs.state_dict())
    assert repr(nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1, bias=False)) == \
        repr(torch.nn.ConvTranspose2d(4, 2, 3, stride=2, output_padding=1, bias=False))


def _scopes(root: tc.Tensor) -> dict[str, set[str]]:
    """{op name: scopes it was recorded under} for the graph behind root."""
    seen, out, stack = set(), {}, [root.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        out.setdefault(node.name, set()).add(node.scope)
        stack.extend(e[0] for e in node.next if isinstance(e, tuple))
    return out


def test_ops_are_recorded_under_the_module_path() -> None:
    model = build_model("lenet", "digits")
    loss = L.cross_entropy(model(tc.ones(2, 1, 8, 8)), tc.Tensor([1, 2]))
    scopes = _scopes(loss)
    assert scopes["conv2d"] == {"features.0", "features.3"}
    assert scopes["relu"] == {"features.1", "features.4", "classifier.2"}
    assert scopes["max_pool2d"] == {"features.2", "features.5"}
    assert scopes["linear"] == {"classifier.1", "classifier.3"}
    assert scopes["cross_entropy"] == {""}  # the loss is called outside any module
    assert model.module_types()["features.0"] == "Conv2d" and model.module_types()[""] == "LeNet"
    assert [p for p, _ in model.named_modules()][:3] == ["", "features", "features.0"]


def test_nested_models_get_nested_paths() -> None:
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = nn.Linear(3, 3)

        def forward(self, x):
            return self.inner(x).tanh()

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList([Block(), Block()])
            self.head = nn.Linear(3, 1)

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return self.head(x)

    net = Net()
    for model in (net, copy.deepcopy(net)):
        scopes = _scopes(model(tc.ones(2, 3)).sum())
        assert scopes["tanh"] == {"blocks.0", "blocks.1"}
        assert scopes["linear"] == {"blocks.0.inner", "blocks.1.inner", "head"}
        assert scopes["sum"] == {""}
    # A layer shared by two parents is recorded under the parent that is running.
    shared = nn.Linear(3, 3)
    a, b = nn.Sequential(shared), nn.Sequential(nn.Tanh(), shared)
    outer = nn.Sequential(a, b)
    assert _scopes(outer(tc.ones(1, 3)).sum())["linear"] == {"0.0", "1.1"}


def test_registration_and_errors() -> None:
    class NoInit(nn.Module):
        def __init__(self):
            self.w = nn.Parameter([1.0])

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\) first in NoInit"):
        NoInit()
    lin = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="cannot assign a Tensor as parameter 'weight'"):
        lin.weight = tc.ones(3, 2)
    lin.extra = nn.Parameter(np.zeros(4, np.float32))
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias", "extra"]
    del lin.extra
    assert [n for n, _ in lin.named_parameters()] == ["weight", "bias"]
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, nn.Tanh(), shared)
    assert len(list(twice.parameters())) == 2  # shared parameters are listed once
    assert nn.Linear(2, 3, bias=False).bias is None and "bias" not in nn.Linear(2, 3, bias=False).state_dict()
    with pytest.raises(ValueError, match=r"expected an input of shape \(\.\.\., 2\)"):
        nn.Linear(2, 3)(tc.ones(4, 5))
    with pytest.raises(ValueError, match="divisible by groups"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="num_features=3"):
        nn.BatchNorm2d(3)(tc.ones(2, 4, 2, 2))


def test_train_eval_zero_grad_requires_grad() -> None:
    model = build_model("lenet", "digits")
    model.eval()
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    L.cross_entropy(model(tc.ones(2, 1, 8, 8)), tc.Tensor([0, 1])).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    model.features.requires_grad_(False)
    assert [n for n, p in model.named_parameters() if p.requires_grad] == \
        ["classifier.1.weight", "classifier.1.bias", "classifier.3.weight", "classifier.3.bias"]


def test_containers() -> None:
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[-1], nn.Linear) and len(seq[:2]) == 2
    seq.append(nn.Sigmoid())
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.insert(0, nn.Tanh())
    ml.append(nn.ReLU())
    assert [type(m).__name__ for m in ml] == ["Tanh", "Linear", "ReLU"]
    assert [n for n, _ in ml.named_parameters()] == ["1.weight", "1.bias"]
    del ml[0]
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias"]


# ------------------------------------------------------------------------------------ init
def test_default_initialisation_follows_torch() -> None:
    nn.init.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    assert np.abs(lin.weight.detach().numpy()).max() <= bound and np.abs(lin.bias.detach().numpy()).max() <= bound
    assert lin.weight.detach().numpy().std() == pytest.approx(bound / math.sqrt(3), rel=0.02)  # U(-b, b)
    conv = nn.Conv2d(6, 8, (3, 5), groups=2)  # fan_in = 3 * 3 * 5
    assert np.abs(conv.weight.detach().numpy()).max() <= 1 / math.sqrt(45)
    assert np.abs(conv.weight.detach().numpy()).max() > 0.9 / math.sqrt(45)
    convt = nn.ConvTranspose2d(16, 4, 3)  # weight (16, 4, 3, 3): PyTorch takes fan_in = 4 * 9
    assert convt.weight.shape == (16, 4, 3, 3)
    assert np.abs(convt.weight.detach().numpy()).max() <= 1 / math.sqrt(36)
    assert np.abs(convt.weight.detach().numpy()).max() > 0.9 / math.sqrt(36)
    w = tc.zeros(2000, 500)
    nn.init.kaiming_normal_(w, nonlinearity="relu")
    assert w.detach().numpy().std() == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    nn.init.xavier_uniform_(w)
    assert np.abs(w.detach().numpy()).max() <= math.sqrt(6 / 2500)
    assert nn.init.calculate_gain("leaky_relu", math.sqrt(5)) == pytest.approx(math.sqrt(1 / 3))


def test_torch_init_bounds_agree() -> None:
    torch = _torch()
    for ours, theirs in [(nn.Conv2d(3, 5, 4), torch.nn.Conv2d(3, 5, 4)),
                         (nn.ConvTranspose2d(6, 4, 2, groups=2), torch.nn.ConvTranspose2d(6, 4, 2, groups=2)),
                         (nn.Linear(7, 2), torch.nn.Linear(7, 2))]:
        for (k, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
            fan_in = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)[0]
            assert np.abs(p.detach().numpy()).max() <= 1 / math.sqrt(fan_in) + 1e-7, k
            assert p.shape == tuple(tp.shape), k


def test_same_seed_same_weights() -> None:
    nn.init.manual_seed(7)
    a = build_model("autoencoder", "digits").state_dict()
    nn.init.manual_seed(7)
    b = build_model("autoencoder", "digits").state_dict()
    nn.init.manual_seed(8)
    c = build_model("autoencoder", "digits").state_dict()
    assert all(np.array_equal(a[k].detach().numpy(), b[k].detach().numpy()) for k in a)
    assert not np.array_equal(a["encoder.0.weight"].detach().numpy(), c["encoder.0.weight"].detach().numpy())


# ------------------------------------------------------------------------------------ layers vs torch
def _layer_pair(torch, ours: nn.Module, theirs, x: np.ndarray, **call) -> None:
    """Forward, input gradient and parameter gradients of one layer against PyTorch."""
    _copy_to_torch(torch, ours, theirs)
    xo = tc.Tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    yo, yt = ours(xo, **call), theirs(xt, **call)
    assert yo.shape == tuple(yt.shape)
    g = np.random.default_rng(0).standard_normal(yo.shape).astype(x.dtype)
    yo.backward(tc.Tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(yo.detach().numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xo.grad.detach().numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    for (k, p), (_, tp) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.detach().numpy(), tp.grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)


LAYERS = [
    ("Linear", (3, 7), lambda m: m.Linear(7, 4)),
    ("Linear 3d", (2, 3, 7), lambda m: m.Linear(7, 4, bias=False)),
    ("Conv2d", (2, 3, 9, 8), lambda m: m.Conv2d(3, 4, 3)),
    ("Conv2d strided", (2, 4, 9, 8), lambda m: m.Conv2d(4, 6, (3, 2), stride=2, padding=(1, 0), dilation=(1, 2),
                                                     groups=2)),
    ("Conv2d same", (1, 2, 7, 7), lambda m: m.Conv2d(2, 3, 4, padding="same", bias=False)),
    ("ConvTranspose2d", (2, 4, 4, 5), lambda m: m.ConvTranspose2d(4, 3, 4, stride=2, padding=1)),
    ("ConvTranspose2d groups", (2, 4, 3, 3), lambda m: m.ConvTranspose2d(4, 6, 3, stride=2, output_padding=1,
                                                                          groups=2)),
    ("MaxPool2d", (2, 3, 7, 7), lambda m: m.MaxPool2d(3, stride=2, padding=1)),
    ("AvgPool2d", (2, 3, 6, 6), lambda m: m.AvgPool2d(2)),
    ("AdaptiveAvgPool2d", (2, 3, 7, 5), lambda m: m.AdaptiveAvgPool2d((3, 2))),
    ("Flatten", (2, 3, 4, 5), lambda m: m.Flatten()),
    ("BatchNorm2d", (4, 3, 5, 5), lambda m: m.BatchNorm2d(3)),
    ("BatchNorm1d", (6, 5), lambda m: m.BatchNorm1d(5, momentum=None)),
    ("ReLU", (3, 4), lambda m: m.ReLU()),
    ("LeakyReLU", (3, 4), lambda m: m.LeakyReLU(0.2)),
    ("ELU", (3, 4), lambda m: m.ELU(0.5)),
    ("GELU", (3, 4), lambda m: m.GELU()),
    ("SiLU", (3, 4), lambda m: m.SiLU()),
    ("Softplus", (3, 4), lambda m: m.Softplus(2.0)),
    ("Hardtanh", (3, 4), lambda m: m.Hardtanh(-0.5, 0.5)),
    ("ReLU6", (3, 4), lambda m: m.ReLU6()),
    ("Sigmoid", (3, 4), lambda m: m.Sigmoid()),
    ("Tanh", (3, 4), lambda m: m.Tanh()),
    ("LogSoftmax", (3, 4), lambda m: m.LogSoftmax(dim=1)),
    ("Softmax", (3, 4), lambda m: m.Softmax(dim=0)),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # PyTorch's note on its own padding copy
@pytest.mark.parametrize("name,shape,make", LAYERS, ids=[n for n, _, _ in LAYERS])
def test_layer_matches_torch(name: str, shape: tuple[int, ...], make) -> None:
    torch = _torch()
    x = (np.random.default_rng(1).standard_normal(shape) * 2).astype(np.float32)
    _layer_pair(torch, make(nn), make(torch.nn), x)


def test_conv_transpose_output_size() -> None:
    torch = _torch()
    x = np.random.default_rng(2).standard_normal((1, 2, 4, 4)).astype(np.float32)
    _layer_pair(torch, nn.ConvTranspose2d(2, 3, 3, stride=2), torch.nn.ConvTranspose2d(2, 3, 3, stride=2), x,
                output_size=(10, 9))
    with pytest.raises(ValueError, match="between 9 and 10"):
        nn.ConvTranspose2d(2, 3, 3, stride=2)(tc.Tensor(x), output_size=(11, 9))


@pytest.mark.parametrize("kwargs", [{}, {"momentum": None}, {"affine": False}, {"track_running_stats": False}])
def test_batchnorm_train_and_eval_match_torch(kwargs: dict) -> None:
    torch = _torch()
    rng = np.random.default_rng(3)
    ours, theirs = nn.BatchNorm2d(3, **kwargs), torch.nn.BatchNorm2d(3, **kwargs)
    for _ in range(4):  # running statistics after several training batches
        x = (rng.standard_normal((5, 3, 4, 4)) * 3 + 1).astype(np.float32)
        np.testing.assert_allclose(ours(tc.Tensor(x)).detach().numpy(), theirs(torch.tensor(x)).detach().numpy(),
                                   rtol=1e-4, atol=1e-5)
    for (k, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_allclose(a.detach().numpy(), b.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal((2, 3, 4, 4)).astype(np.float32)
    _layer_pair(torch, ours, theirs, x)


def test_batchnorm_needs_more_than_one_value_per_channel_in_training() -> None:
    bn = nn.BatchNorm1d(4)
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 4\)"):
        bn(tc.ones(1, 4))
    bn.eval()
    assert bn(tc.ones(1, 4)).shape == (1, 4)


def test_dropout_train_and_eval() -> None:
    drop = nn.Dropout(0.25)
    x = tc.ones(200, 50)
    y = drop(x).detach().numpy()
    assert set(np.unique(y)) <= {0.0, np.float32(1 / 0.75)}
    assert abs((y == 0).mean() - 0.25) < 0.02
    drop.eval()
    assert np.array_equal(drop(x).detach().numpy(), x.detach().numpy())
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)


def test_modules_differentiate_twice() -> None:
    nn.init.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
                          nn.Linear(8, 2)).double()
    x = tc.Tensor(np.random.default_rng(4).standard_normal((2, 1, 4, 4)), requires_grad=True)
    assert gradcheck(lambda inp: model(inp), [x])
    (g,) = tc.grad(model(x).sum(), x, create_graph=True)
    (gg,) = tc.grad((g * g).sum(), x)
    assert gg.shape == x.shape


# ------------------------------------------------------------------------------------ training vs torch
class _BNNet(nn.Module):
    def __init__(self):
        super().__init__()
        # no bias before BatchNorm: its gradient is zero in exact arithmetic, so Adam would
        # amplify rounding noise differently in the two frameworks
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(),
                                      nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU())
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(24, 5))

    def forward(self, x):
        return self.classifier(self.features(x))


def _torch_bnnet(torch):
    tnn = torch.nn

    class Net(tnn.Module):
        def __init__(self):
            super().__init__()
            self.features = tnn.Sequential(tnn.Conv2d(1, 4, 3, padding=1, bias=False), tnn.BatchNorm2d(4), tnn.ReLU(),
                                           tnn.MaxPool2d(2), tnn.Conv2d(4, 6, 3), tnn.ReLU())
            self.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(24, 5))

        def forward(self, x):
            return self.classifier(self.features(x))

    return Net()


@pytest.mark.parametrize("name,kwargs", [("SGD", {"lr": 0.05, "momentum": 0.9}),
                                         ("SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True,
                                                  "weight_decay": 1e-3}),
                                         ("Adam", {"lr": 5e-3}), ("AdamW", {"lr": 5e-3, "weight_decay": 0.05})])
def test_cnn_with_batchnorm_trains_like_torch(name: str, kwargs: dict) -> None:
    torch = _torch()
    nn.init.manual_seed(0)
    ours = _BNNet()
    theirs = _copy_to_torch(torch, ours, _torch_bnnet(torch))
    opt = getattr(optim, name)(ours.parameters(), **kwargs)
    topt = getattr(torch.optim, name)(theirs.parameters(), **kwargs)
    rng = np.random.default_rng(5)
    for _ in range(6):
        x = rng.uniform(0, 1, (8, 1, 8, 8)).astype(np.float32)
        y = rng.integers(0, 5, 8)
        loss = L.cross_entropy(ours(tc.Tensor(x)), tc.Tensor(y), label_smoothing=0.1)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = torch.nn.functional.cross_entropy(theirs(torch.tensor(x)), torch.tensor(y), label_smoothing=0.1)
        topt.zero_grad()
        tloss.backward()
        topt.step()
        assert loss.item() == pytest.approx(tloss.item(), rel=1e-5)
    for (k, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_allclose(a.detach().numpy(), b.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
    ours.eval()
    theirs.eval()
    x = rng.uniform(0, 1, (4, 1, 8, 8)).astype(np.float32)
    with tc.no_grad(), torch.no_grad():
        np.testing.assert_allclose(ours(tc.Tensor(x)).detach().numpy(), theirs(torch.tensor(x)).numpy(), rtol=1e-4,
                                   atol=1e-5)


def test_lenet_and_autoencoder_shapes_for_both_datasets() -> None:
    assert build_model("lenet", "mnist")(tc.zeros(2, 1, 28, 28)).shape == (2, 10)
    assert build_model("autoencoder", "mnist")(tc.zeros(2, 1, 28, 28)).shape == (2, 1, 28, 28)
    assert isinstance(build_model("lenet"), LeNet) and isinstance(build_model("autoencoder"), ConvAutoencoder)
    assert any(isinstance(m, nn.ConvTranspose2d) for m in build_model("autoencoder").modules())
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        build_model("resnet", "digits")
    with pytest.raises(ValueError, match="unknown data set 'cifar'"):
        build_model("lenet", "cifar")


@pytest.mark.parametrize("make", [
    lambda nn: nn.Linear(2, 3), lambda nn: nn.Conv2d(1, 2, 3), lambda nn: nn.ConvTranspose2d(1, 2, 3),
    lambda nn: nn.BatchNorm2d(3), lambda nn: nn.LayerNorm(3), lambda nn: nn.GroupNorm(1, 3),
    lambda nn: nn.LSTM(2, 3), lambda nn: nn.GRUCell(2, 3), lambda nn: nn.Embedding(3, 2), lambda nn: nn.PReLU(),
], ids=["Linear", "Conv2d", "ConvTranspose2d", "BatchNorm2d", "LayerNorm", "GroupNorm", "LSTM", "GRUCell",
        "Embedding", "PReLU"])
def test_layers_follow_the_default_dtype(make, torch):
    before = tc.get_default_dtype()
    tc.set_default_dtype(tc.float64)
    torch.set_default_dtype(torch.float64)
    try:
        ours, theirs = make(tc.nn), make(torch.nn)
        our_dtypes = {k: str(v.dtype) for k, v in ours.state_dict().items()}
        their_dtypes = {k: str(v.dtype).replace("torch.", "") for k, v in theirs.state_dict().items()}
        assert our_dtypes == their_dtypes
    finally:
        tc.set_default_dtype(before)
        torch.set_default_dtype(torch.float32)
