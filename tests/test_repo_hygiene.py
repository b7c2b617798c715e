"""The repository's own promises: the tools check the Python the package supports, the declared
licence has its text, and every kept experiment is described."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pytest itself depends on tomli before 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_ruff_and_mypy_check_the_oldest_supported_python():
    # A syntax or typing feature newer than requires-python allows must fail the lint tests.
    oldest = re.fullmatch(r">=\s*3\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert oldest, PYPROJECT["project"]["requires-python"]
    minor = oldest.group(1)
    assert PYPROJECT["tool"]["ruff"]["target-version"] == f"py3{minor}"
    assert PYPROJECT["tool"]["mypy"]["python_version"] == f"3.{minor}"


def test_the_declared_licence_has_its_text():
    licence = PYPROJECT["project"]["license"]  # {text = "MIT"}, or the newer plain "MIT"
    assert (licence if isinstance(licence, str) else licence["text"]) == "MIT"
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License\n")


def test_every_kept_experiment_has_a_readme_line():
    folder = ROOT / "benchmarks" / "experiments"
    readme = (folder / "README.md").read_text(encoding="utf-8")
    scripts = sorted(p.name for p in folder.glob("*.py"))
    assert scripts
    for name in scripts:
        assert f"- `{name}`:" in readme, f"{name} has no line in benchmarks/experiments/README.md"
