"""The layers of docs/design.md, enforced: a module imports only from its own layer or below.

A few imports run upward on purpose, inside a function (so at call time, never at import time);
each is listed in ``LAZY_UPWARD`` with its reason, and design.md lists the same ones. A new
upward import, at module level or inside a function, fails this test until it is either moved
or added to both lists.
"""

from __future__ import annotations

import ast
import pathlib

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "tinygrad_conv"

# Lowest layer first; a module belongs to the first prefix it matches.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("kernels", ("kernels",)),
    ("tape", ("autograd.tape", "autograd.grad_mode", "dtypes", "random", "device", "cuda", "accelerator", "backends")),
    ("tensor", ("tensor",)),
    ("autograd", ("autograd",)),
    ("ops", ("ops", "factories")),
    ("functional", ("functional", "torch_functions")),
    ("models", ("nn", "optim", "data", "utils", "io")),
    ("tools", ("viz", "testing", "cli", "commands", "__init__")),
]

# (importing module, imported module): why it may run upward, lazily.
LAZY_UPWARD: dict[tuple[str, str], str] = {
    ("tensor", "autograd.engine"): "Tensor.backward() runs the engine",
    ("tensor", "autograd.inplace"): "in-place methods rebase history (autograd/inplace.py)",
    ("tensor", "ops.elementwise"): "Tensor.to/clone/copy_ are ops",
    ("tensor", "ops.shape"): "x[key] = v records index_put",
    ("tensor", "viz"): "Tensor.draw() draws the graph",
    ("autograd.engine", "ops.reduce"): "a broadcast gradient is summed back with the sum_to_size op",
    ("autograd.engine", "ops.shape"): "grad(is_grads_batched=True) stacks the gradients",
    ("autograd.inplace", "ops.shape"): "an in-place change of a view records copy_slices on the base",
    ("autograd.functional", "ops.shape"): "jacobian/hessian stack rows with the stack op",
    ("autograd", "testing.gradcheck"): "torch.autograd's gradcheck names, kept with the other checkers",
}


def _module_name(path: pathlib.Path) -> str:
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = rel.parts[:-1] if rel.parts[-1] == "__init__" and len(rel.parts) > 1 else rel.parts
    return ".".join(parts)


def _layer(module: str) -> int:
    for i, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    raise AssertionError(f"{module} belongs to no layer: add it to LAYERS (and docs/design.md)")


def _imports(path: pathlib.Path, module: str) -> list[tuple[str, bool]]:
    """(imported package module, lazy?) for every runtime import of the package in ``path``."""
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    type_checking: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_checking |= {id(n) for n in ast.walk(node)}
    found = []
    for node in ast.walk(tree):
        if id(node) in type_checking or not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        lazy = node.col_offset > 0
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif node.level == 0:
            names = [node.module or ""]
        else:
            base = ["tinygrad_conv", *module.split(".")] if module else ["tinygrad_conv"]
            base = base[:len(base) - node.level + (1 if is_package else 0)]
            prefix = ".".join(base + ([node.module] if node.module else []))
            names = [prefix] if node.module else [f"{prefix}.{a.name}" for a in node.names]
        for name in names:
            if name.startswith("tinygrad_conv.") or name == "tinygrad_conv":
                found.append((name.removeprefix("tinygrad_conv").lstrip("."), lazy))
    # Also the one import done through importlib (the lazy gradcheck names in autograd/__init__).
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("import_module"):
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and str(arg.value).startswith("tinygrad_conv."):
                found.append((str(arg.value).removeprefix("tinygrad_conv."), True))
    return found


def test_every_import_runs_down_the_layers_or_is_a_listed_lazy_one() -> None:
    problems = []
    used = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if module in ("__init__", ""):
            continue  # the package's front door imports everything, last
        for target, lazy in _imports(path, module):
            if not target or _layer(target) <= _layer(module):
                continue
            key = next((k for k in LAZY_UPWARD if (module == k[0] or module.startswith(k[0] + "."))
                        and (target == k[1] or target.startswith(k[1] + "."))), None)
            if key is not None and lazy:
                used.add(key)
                continue
            where = "at module level" if not lazy else "inside a function, and not listed in LAZY_UPWARD"
            problems.append(f"{module} ({LAYERS[_layer(module)][0]}) imports {target} "
                            f"({LAYERS[_layer(target)][0]}) {where}")
    assert not problems, "imports that run up the layers:\n" + "\n".join(problems)
    assert used == set(LAZY_UPWARD), f"listed but no longer used: {set(LAZY_UPWARD) - used}"


def test_design_md_lists_the_layers_and_the_lazy_imports() -> None:
    text = (PACKAGE.parent / "docs" / "design.md").read_text()
    for name, _ in LAYERS:
        assert f"| {name} |" in text, f"docs/design.md has no row for the {name} layer"
    for (module, target) in LAZY_UPWARD:
        assert f"`{module}` → `{target}`" in text, f"docs/design.md does not list {module} -> {target}"
