"""Every ```python block in docs/*.md and README.md runs, in order, one namespace per page.

Pages run in a temporary working directory, so files they write (pictures, checkpoints) land there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import graphviz
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", [p for p in PAGES if p.exists()], ids=lambda p: p.name)
def test_page_code_runs(page: Path, tmp_path: Path) -> None:
    code = blocks(page)
    if not code:
        pytest.skip(f"{page.name} has no python blocks")
    namespace: dict[str, object] = {"__name__": f"docs_{page.stem}"}
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        for i, src in enumerate(code):
            try:
                exec(compile(src, f"{page.name}[block {i}]", "exec"), namespace)
            except graphviz.ExecutableNotFound:  # only where Graphviz is not installed (.ci/run may skip it)
                pytest.skip(f"{page.name}, code block {i} renders a drawing, and the Graphviz `dot` program is not "
                            "installed")
            except Exception as exc:
                raise AssertionError(f"{page.name}, code block {i} failed: {exc!r}\n{src}") from exc
    finally:
        os.chdir(cwd)
