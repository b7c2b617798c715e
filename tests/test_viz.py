"""Graph drawings: the DOT text is parsed and compared with what the tape recorded; rendering runs the
real ``dot`` program when it is installed (CI installs Debian's graphviz), and hiding it from PATH
must give a clear error while DOT output keeps working."""

from __future__ import annotations

import html
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphviz
import numpy as np
import pytest

import tinygrad_conv as tc
import tinygrad_conv.functional as F
from tinygrad_conv import nn, viz
from tinygrad_conv.autograd.tape import Node
from tinygrad_conv.viz.labels import STYLE_BACKWARD_OP, STYLE_FORWARD_REUSED, STYLE_INPUT, STYLE_PARAM

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="the Graphviz `dot` program is not installed")


# --------------------------------------------------------------------------- reading DOT text
@dataclass
class Dot:
    nodes: dict[str, list[str]] = field(default_factory=dict)   # id -> label lines (plain text)
    attrs: dict[str, str] = field(default_factory=dict)         # id -> the attribute text
    cluster_of: dict[str, str] = field(default_factory=dict)    # id -> innermost cluster ('' = none)
    clusters: dict[str, str] = field(default_factory=dict)      # cluster path -> parent path
    cluster_labels: dict[str, str] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)

    def ids(self, prefix: str) -> list[str]:
        """Node ids with this prefix, by their number (for ops: the order the tape recorded them)."""
        found = [n for n in self.nodes if re.fullmatch(prefix + r"\d+", n)]
        return sorted(found, key=lambda n: int(n[len(prefix):]))

    def text(self, node_id: str) -> str:
        return "\n".join(self.nodes[node_id])

    def find(self, first_line: str) -> list[str]:
        """Ids of nodes whose label starts with this line (an op name, a leaf name)."""
        return [n for n, lines in self.nodes.items() if lines and lines[0] == first_line]


def label_lines(label: str) -> list[str]:
    """The text of an HTML-like label, one entry per table row."""
    rows = re.split(r"</TD></TR>", label)
    out = []
    for row in rows:
        text = html.unescape(re.sub(r"<[^>]*>", "", row)).strip()
        if text:
            out.append(text)
    return out


def parse(source: str) -> Dot:
    dot = Dot()
    stack: list[str] = []
    for raw in source.splitlines():
        line = raw.strip()
        if line.startswith("digraph "):
            stack.append("")
            continue
        m = re.match(r'subgraph "?cluster_(.+?)"? \{$', line)
        if m:
            dot.clusters[m.group(1)] = stack[-1]
            stack.append(m.group(1))
            continue
        if line == "}":
            stack.pop()
            continue
        m = re.match(r"graph \[.*label=<(.*)>", line)
        if m and len(stack) > 1:
            dot.cluster_labels[stack[-1]] = html.unescape(re.sub(r"<[^>]*>", "", m.group(1)))
            continue
        m = re.match(r"(\w+) -> (\w+)", line)
        if m:
            dot.edges.append((m.group(1), m.group(2)))
            continue
        m = re.match(r"(\w+) \[label=<(.*)>((?: \w+=(?:\"[^\"]*\"|\S+))*)\]$", line)
        if m and m.group(1) not in ("graph", "node", "edge"):
            dot.nodes[m.group(1)] = label_lines(m.group(2))
            dot.attrs[m.group(1)] = m.group(3)
            dot.cluster_of[m.group(1)] = stack[-1]
    assert stack == [], "unbalanced braces in the DOT text"
    return dot


def fill(dot: Dot, node_id: str) -> str:
    m = re.search(r'fillcolor="([^"]+)"', dot.attrs[node_id])
    return m.group(1) if m else ""


# --------------------------------------------------------------------------- the tape, independently
def tape_of(*roots: tc.Tensor) -> list[Node]:
    """Every node behind the roots (walked here, not with the drawer's code), by sequence number."""
    found: dict[int, Node] = {}
    todo = [r.grad_fn for r in roots if r.grad_fn is not None]
    while todo:
        n = todo.pop()
        if id(n) in found:
            continue
        found[id(n)] = n
        todo += [e[0] for e in n.next if isinstance(e, tuple)]
    return sorted(found.values(), key=lambda n: n.seq)


def rand(*shape: int, dtype: Any = np.float32, seed: int = 0, requires_grad: bool = True) -> tc.Tensor:
    data = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return tc.Tensor(data, requires_grad=requires_grad)


def lenet_and_input() -> tuple[nn.Module, tc.Tensor]:
    from tinygrad_conv.nn.models import build_model

    nn.init.manual_seed(0)
    return build_model("lenet", "digits"), rand(2, 1, 8, 8, requires_grad=False)


# --------------------------------------------------------------------------- structure
def test_nodes_and_edges_are_what_the_tape_recorded():
    a, b = rand(2, 3, seed=1), rand(3, seed=2)
    c = rand(2, 3, seed=3, requires_grad=False)   # a constant tensor argument
    y = ((a * b + c) * a).sum() + (a * 2.0).mean() - c.sum()
    dot = parse(viz.make_dot(y, params={"a": a, "b": b}).source)
    nodes = tape_of(y)

    assert set(dot.ids("op")) == {f"op{n.seq}" for n in nodes}
    assert len(dot.ids("leaf")) == 2
    consts = [m for n in nodes for m in n.input_meta if m is not None and m[0] == "const"]
    assert len(dot.ids("const")) == len(consts) == 2   # c enters 'add', c.sum() (unrecorded) 'sub'

    # Every edge of the tape, as (source, op) with leaves known by name; x * x style repeats count.
    (leaf_a,), (leaf_b,) = dot.find("a"), dot.find("b")
    leaf_ids = {id(a): leaf_a, id(b): leaf_b}
    expected = Counter()
    for n in nodes:
        for e in n.next:
            if isinstance(e, tuple):
                expected[(f"op{e[0].seq}", f"op{n.seq}")] += 1
            elif e is not None:
                expected[(leaf_ids[id(e)], f"op{n.seq}")] += 1
    drawn = Counter(e for e in dot.edges if not e[0].startswith("const"))
    assert drawn == expected
    assert sum(expected.values()) + len(consts) == len(dot.edges)
    # (a * b + c) * a: 'a' enters the last mul once, and the first mul once.
    assert sum(1 for src, _ in dot.edges if src == leaf_a) == 3


def test_op_labels_carry_name_params_and_output_shape():
    x = rand(2, 3, 9, 9, dtype=np.float64)
    w = rand(4, 3, 3, 3, dtype=np.float64, seed=1)
    y = F.conv2d(x, w, stride=2, padding=1)
    s = y.sum(dim=1, keepdim=True) * 2.0
    dot = parse(viz.make_dot(s.sum()).source)
    (conv,) = dot.find("conv2d")
    text = dot.text(conv)
    for part in ("stride=2", "padding=1", "dilation=1", "groups=1", "(2, 4, 5, 5) float64"):
        assert part in text, (part, text)
    (summed,) = [n for n in dot.find("sum") if "dim=1" in dot.text(n)]
    assert "keepdim=True" in dot.text(summed) and "(2, 1, 5, 5) float64" in dot.text(summed)
    (total,) = [n for n in dot.find("sum") if n != summed]
    assert "keepdim" not in dot.text(total) and "dim=" not in dot.text(total)  # off switches at default
    (mul,) = dot.find("mul")
    assert "b=2" in dot.text(mul)                                              # the plain scalar operand
    # Leaves: shape, dtype and requires_grad; without names they are inputs, not parameters.
    for leaf in dot.ids("leaf"):
        assert "requires_grad=True" in dot.text(leaf)
        assert fill(dot, leaf) == STYLE_INPUT["fillcolor"]
    assert {dot.nodes[n][0] for n in dot.ids("leaf")} == {"(2, 3, 9, 9) float64", "(4, 3, 3, 3) float64"}


def test_names_come_from_params_dicts_modules_and_tensor_names():
    nn.init.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    x = rand(5, 3, requires_grad=True)
    x.name = "x"
    out = model(x)
    dot = parse(viz.make_dot(out, params=model).source)
    names = {dot.nodes[n][0]: n for n in dot.ids("leaf")}
    assert set(names) == {"x", "0.weight", "0.bias", "2.weight", "2.bias"}
    assert fill(dot, names["x"]) == STYLE_INPUT["fillcolor"]
    assert all(fill(dot, names[p]) == STYLE_PARAM["fillcolor"] for p, _ in model.named_parameters())
    assert "(4, 3) float32" in dot.text(names["0.weight"])

    by_dict = parse(viz.make_dot(out, params={"w_first": model[0].weight}).source)
    assert "w_first" in {by_dict.nodes[n][0] for n in by_dict.ids("leaf")}
    # Unnamed Parameters are still drawn as parameters.
    plain = parse(viz.make_dot(out).source)
    styles = Counter(fill(plain, n) for n in plain.ids("leaf"))
    assert styles == {STYLE_PARAM["fillcolor"]: 4, STYLE_INPUT["fillcolor"]: 1}
    with pytest.raises(TypeError, match="params"):
        viz.make_dot(out, params=[model[0].weight])


def test_clusters_match_module_paths():
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
            self.head = nn.Linear(2, 1)

        def forward(self, x: tc.Tensor) -> tc.Tensor:
            return self.head(self.body(x)).sigmoid()

    nn.init.manual_seed(0)
    net = Net()
    out = net(rand(5, 3, requires_grad=False))
    dot = parse(viz.make_dot(out, params=net).source)
    nodes = tape_of(out)
    paths = {n.scope for n in nodes if n.scope}
    assert paths == {"body.0", "body.1", "body.2", "head"}
    assert set(dot.clusters) == paths | {"body"}
    assert dot.clusters["body.0"] == "body" and dot.clusters["head"] == ""
    for n in nodes:
        assert dot.cluster_of[f"op{n.seq}"] == n.scope
    assert dot.cluster_labels["body.2"] == "body.2 Linear"
    assert dot.cluster_labels["body"] == "body Sequential"
    # Parameters sit in their module's cluster; the sigmoid (in Net.forward) in none.
    (w,) = dot.find("body.2.weight")
    assert dot.cluster_of[w] == "body.2"
    (sig,) = dot.find("sigmoid")
    assert dot.cluster_of[sig] == ""


def test_collapse_draws_one_node_per_lenet_layer():
    model, x = lenet_and_input()
    out = model(x)
    layers = [p for p, _ in model.named_modules() if p.count(".") == 1]   # features.0 ... classifier.3
    dot = parse(viz.make_dot(out, params=model, collapse=2).source)
    assert dot.ids("op") == [] and dot.ids("leaf") == [] and dot.ids("const") == []
    mods = dot.ids("mod")
    assert len(mods) == len(layers) == 10
    assert [dot.nodes[m][0] for m in mods] == [f"{p} {model.module_types()[p]}" for p in layers]
    assert sorted(dot.edges) == sorted(zip(mods, mods[1:]))               # a chain, one edge per layer
    first = dot.text(mods[0])
    conv0 = model.features[0]
    n_values = conv0.weight.numel() + conv0.bias.numel()
    assert "in (2, 1, 8, 8)" in first and f"out (2, {conv0.weight.shape[0]}, 8, 8)" in first
    assert f"2 params, {n_values:,} values" in first
    assert "out (2, 10)" in dot.text(mods[-1])
    # Collapsed layers stay inside their parents' clusters.
    assert set(dot.clusters) == {"features", "classifier"}
    assert all(dot.cluster_of[m] in ("features", "classifier") for m in mods)

    top = parse(viz.make_dot(out, params=model, collapse=1).source)
    assert [top.nodes[m][0] for m in top.ids("mod")] == ["features Sequential", "classifier Sequential"]
    assert top.edges == [(top.ids("mod")[0], top.ids("mod")[1])]

    # A set of module paths collapses just those; everything else is drawn op by op.
    one = parse(viz.make_dot(out, params=model, collapse={"features.3"}).source)
    (mod,) = one.ids("mod")
    assert "conv2d" in one.text(mod) and f"in (2, {model.features[0].weight.shape[0]}, 4, 4)" in one.text(mod)
    assert len(one.ids("op")) == len(tape_of(out)) - sum(1 for n in tape_of(out) if n.scope == "features.3")


def test_collapse_rejects_bad_arguments():
    model, x = lenet_and_input()
    out = model(x)
    with pytest.raises(ValueError, match=r"'featurez'.*features\.0"):
        viz.make_dot(out, collapse={"featurez"})
    with pytest.raises(ValueError, match=">= 1"):
        viz.make_dot(out, collapse=0)
    with pytest.raises(TypeError, match="single string"):
        viz.make_dot(out, collapse="features")


def test_show_saved_lists_arrays_and_survives_release():
    a, b = rand(2, 3, seed=1), rand(3, 4, seed=2)
    y = (a @ b).tanh().sum()
    dot = parse(viz.make_dot(y, params={"a": a, "b": b}, show_saved=True).source)
    (mm,) = dot.find("matmul")
    assert "saved a: (2, 3) float32, 24 B" in dot.text(mm)
    assert "saved b: (3, 4) float32, 48 B" in dot.text(mm)
    assert "saved total 72 B" in dot.text(mm)
    (th,) = dot.find("tanh")
    assert "saved output: (2, 4) float32, 32 B" in dot.text(th)

    before = parse(viz.make_dot(y).source)
    y.backward()   # frees the saved arrays; the structure stays
    after = parse(viz.make_dot(y, show_saved=True).source)
    assert set(after.nodes) == set(before.nodes) and after.edges == before.edges
    assert "saved: freed by backward" in after.text(after.find("matmul")[0])


def test_show_grad_gives_gradient_shape_and_norm():
    a, b = rand(2, 3, seed=1), rand(3, seed=2)
    y = (a * b).sum()
    dot = parse(viz.make_dot(y, params={"a": a, "b": b}, show_grad=True).source)
    assert "grad: None" in dot.text(dot.find("a")[0])
    y.backward()
    dot = parse(viz.make_dot(y, params={"a": a, "b": b}, show_grad=True).source)
    norm = float(np.linalg.norm(a.grad.numpy()))
    assert f"grad (2, 3), norm {norm:.4g}" in dot.text(dot.find("a")[0])


def test_multiple_roots_leaf_roots_and_rankdir():
    a = rand(3)
    y1, y2 = a.exp(), (a * a).sum()
    dot = parse(viz.make_dot(y1, [y2], params={"a": a}, rankdir="LR").source)
    roots = {n for n in dot.nodes if "bold" in dot.attrs[n]}
    assert roots == {f"op{y1.grad_fn.seq}", f"op{y2.grad_fn.seq}"}
    assert "rankdir=LR" in viz.make_dot(y1, rankdir="LR").source
    only = parse(viz.make_dot(a, params={"a": a}).source)
    assert list(only.nodes) == ["leaf0"] and only.edges == []
    with pytest.raises(ValueError, match="rankdir"):
        viz.make_dot(y1, rankdir="sideways")
    with pytest.raises(ValueError, match="nothing to draw"):
        viz.make_dot()
    with pytest.raises(TypeError, match="root 0 is a ndarray"):
        viz.make_dot(np.ones(3))


def test_draw_is_make_dot_and_user_text_is_escaped():
    a = rand(3)
    a.name = "a<b & c>"
    y = (a * 3.0).sum()
    g = viz.draw(y)
    assert isinstance(g, graphviz.Digraph)
    assert g.source == viz.make_dot(y).source
    assert "a&lt;b &amp; c&gt;" in g.source
    assert parse(g.source).find("a<b & c>")
    assert "digraph" not in repr(y)     # drawings never leak into the plain repr
    with pytest.raises(TypeError, match="Tensor"):
        viz.draw([y])


# --------------------------------------------------------------------------- the backward graph
def test_backward_graph_of_a_conv_layer():
    nn.init.manual_seed(0)
    conv = nn.Conv2d(1, 4, 3, stride=2, padding=1)
    x = rand(2, 1, 8, 8)
    x.name = "input"
    loss = (conv(x) ** 2).mean()
    forward = {n.seq for n in tape_of(loss)}
    dot = parse(viz.make_backward_dot(loss, params=conv).source)

    roots = {line: n for n in dot.nodes for line in dot.nodes[n] if line.startswith("grad of ")}
    assert set(roots) == {"grad of input", "grad of weight", "grad of bias"}
    assert dot.nodes[roots["grad of input"]][0] == "conv_transpose2d"
    assert "stride=2" in dot.text(roots["grad of input"])
    assert "(2, 1, 8, 8) float32" in dot.text(roots["grad of input"])
    assert dot.nodes[roots["grad of weight"]][0] == "conv2d_weight_grad"
    assert "(4, 1, 3, 3) float32" in dot.text(roots["grad of weight"])
    assert dot.nodes[roots["grad of bias"]][0] == "sum"
    assert "(4,) float32" in dot.text(roots["grad of bias"])

    # The forward conv is re-used (its output feeds pow's backward) and drawn faded; the ops that
    # backward ran are new nodes, drawn in their own colour.
    (fwd_conv,) = dot.find("conv2d")
    assert int(fwd_conv[2:]) in forward and fill(dot, fwd_conv) == STYLE_FORWARD_REUSED["fillcolor"]
    new_ops = [n for n in dot.ids("op") if int(n[2:]) not in forward]
    assert set(roots.values()) <= set(new_ops)
    assert all(fill(dot, n) == STYLE_BACKWARD_OP["fillcolor"] for n in new_ops if n not in roots.values())
    # The weight gradient reads the input leaf and the upstream gradient; dx reads the weight.
    (leaf_x,), (leaf_w,) = dot.find("input"), dot.find("weight")
    assert (leaf_x, roots["grad of weight"]) in dot.edges
    assert (leaf_w, roots["grad of input"]) in dot.edges

    # Node and edge counts equal the tape of the gradients, recorded by grad(create_graph=True).
    grads = tc.grad(loss, [x, conv.weight, conv.bias], create_graph=True)
    again = tape_of(*grads)
    assert len(dot.ids("op")) == len(again)
    assert len(dot.edges) == sum(1 for n in again for e in n.next if e is not None) + len(dot.ids("const"))
    loss.backward()   # the forward graph was kept for this
    assert conv.weight.grad is not None


def test_backward_graph_needs_an_unreleased_graph():
    a = rand(3)
    y = (a * a).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        viz.make_backward_dot(y)
    with pytest.raises(ValueError, match="no recorded graph"):
        viz.make_backward_dot(rand(3, requires_grad=False).sum())


def test_backward_graph_of_lenet_collapses():
    model, x = lenet_and_input()
    loss = model(x).sum()
    dot = parse(viz.make_backward_dot(loss, params=model, collapse=2).source)
    names = [line for n in dot.nodes for line in dot.nodes[n] if line.startswith("grad of ")]
    assert sorted(names) == sorted(f"grad of {p}" for p, _ in model.named_parameters())
    # Forward layers whose outputs backward re-uses are collapsed; every one is a LeNet layer.
    layers = {p for p, _ in model.named_modules() if p.count(".") == 1}
    mods = dot.ids("mod")
    assert mods and {dot.nodes[m][0].split()[0] for m in mods} <= layers
    assert dot.find("conv_transpose2d")   # the second conv's input gradient, drawn as itself
    assert len(dot.find("conv2d_weight_grad")) == 2


# --------------------------------------------------------------------------- rendering
@needs_dot
def test_renders_svg_png_pdf(tmp_path: Path):
    model, x = lenet_and_input()
    g = viz.make_dot(model(x), params=model)
    svg = viz.save(g, tmp_path / "lenet.svg")
    root = ET.parse(svg).getroot()
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    for op in ("conv2d", "relu", "max_pool2d", "linear", "features.0.weight"):
        assert op in texts, op
    assert viz.save(g, tmp_path / "lenet.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert viz.save(g, tmp_path / "lenet.pdf").read_bytes().startswith(b"%PDF")
    assert viz.save(g, tmp_path / "lenet.dot").read_text() == g.source
    assert g.pipe(format="svg").startswith(b"<?xml")


@needs_dot
def test_escaped_names_render_to_well_formed_svg(tmp_path: Path):
    a = rand(3)
    a.name = "a<b & c>"
    svg = viz.save(viz.make_dot((a * 3.0).sum()), tmp_path / "g.svg")
    texts = {t.text for t in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}text")}
    assert "a<b & c>" in texts


def test_without_dot_the_error_says_how_to_install_and_dot_text_still_works(tmp_path: Path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    a = rand(3)
    g = viz.make_dot((a * a).sum(), params={"a": a})
    for call in (lambda: viz.save(g, tmp_path / "g.svg"), lambda: g.pipe(format="png"),
                 lambda: g.render(outfile=tmp_path / "r.pdf")):
        with pytest.raises(viz.GraphvizNotFoundError) as info:
            call()
        message = str(info.value)
        assert "`dot` program was not found" in message
        assert "apt-get install graphviz" in message and "brew install graphviz" in message
        assert isinstance(info.value, graphviz.ExecutableNotFound)
    assert not (tmp_path / "g.svg").exists()
    assert viz.save(g, tmp_path / "g.dot").read_text() == g.source
    assert g.source.startswith("digraph")


def test_save_checks_the_suffix_and_folder(tmp_path: Path):
    g = viz.make_dot(rand(2))
    with pytest.raises(ValueError, match=r"suffix '\.jpeg'.*\.svg"):
        viz.save(g, tmp_path / "g.jpeg")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        viz.save(g, tmp_path / "missing" / "g.dot")


# --------------------------------------------------------------------------- the command
def test_command_writes_forward_backward_and_collapsed(tmp_path: Path, capsys):
    from tinygrad_conv.cli import main

    out = tmp_path / "lenet.dot"
    assert main(["viz", "-o", str(out)]) == 0
    dot = parse(out.read_text())
    assert len(dot.find("conv2d")) == 2
    (root,) = [n for n in dot.nodes if "bold" in dot.attrs[n]]   # the loss: a scalar
    assert "() float32" in dot.text(root)
    assert "features.0.weight" in {dot.nodes[n][0] for n in dot.ids("leaf")}
    assert "wrote" in capsys.readouterr().out

    assert main(["viz", "--collapse", "2", "-o", str(out)]) == 0
    assert len(parse(out.read_text()).ids("mod")) == 10

    assert main(["viz", "--model", "autoencoder", "--backward", "-o", str(out)]) == 0
    dot = parse(out.read_text())
    names = {line for n in dot.nodes for line in dot.nodes[n] if line.startswith("grad of ")}
    assert "grad of decoder.0.weight" in names and "grad of encoder.0.bias" in names

    assert main(["viz", "-o", str(tmp_path / "g.bmp")]) == 2
    assert "suffix" in capsys.readouterr().err


def test_command_without_dot_explains(tmp_path: Path, monkeypatch, capsys):
    from tinygrad_conv.cli import main

    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    assert main(["viz", "-o", str(tmp_path / "g.svg")]) == 1
    err = capsys.readouterr().err
    assert "apt-get install graphviz" in err and ".dot" in err


@needs_dot
def test_command_renders_svg(tmp_path: Path):
    from tinygrad_conv.cli import main

    out = tmp_path / "lenet.svg"
    assert main(["viz", "--collapse", "1", "-o", str(out)]) == 0
    texts = {t.text for t in ET.parse(out).getroot().iter("{http://www.w3.org/2000/svg}text")}
    assert "features" in texts and "classifier" in texts


def test_tensor_draw_method():
    """``tensor.draw()`` (a lazy import of viz.draw in tensor.py) gives the same drawing."""
    a = rand(3)
    y = (a * 3.0).sum()
    assert y.draw().source == viz.make_dot(y).source
    assert y.draw(rankdir="LR").source == viz.make_dot(y, rankdir="LR").source
