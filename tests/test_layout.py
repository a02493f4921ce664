"""What runs on Glue and what is the laptop harness, held apart: job code never imports
`retail_etl.local`, and the wheel Glue installs does not carry it."""

from __future__ import annotations

import ast
import zipfile
from pathlib import Path

import pytest

from orchestration import deploy

REPO = Path(__file__).resolve().parents[1]
HARNESS = REPO / "retail_etl" / "local"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


@pytest.mark.parametrize(
    "path",
    [p for p in sorted((REPO / "retail_etl").rglob("*.py")) if HARNESS not in p.parents]
    + sorted((REPO / "jobs").glob("*.py")),
    ids=lambda p: str(p.relative_to(REPO)),
)
def test_job_code_never_imports_the_harness(path: Path) -> None:
    harness = {m for m in imported_modules(path) if m.startswith("retail_etl.local")}
    assert not harness, f"{path.relative_to(REPO)} imports {sorted(harness)}"


def test_the_wheel_holds_only_what_glue_runs(tmp_path: Path) -> None:
    wheel = deploy.build_wheel(tmp_path)
    names = zipfile.ZipFile(wheel).namelist()
    modules = sorted(n for n in names if n.startswith("retail_etl/"))
    assert not [n for n in modules if n.startswith("retail_etl/local/")], modules
    # everything else of the package is there: the job code, its log configuration
    expected = sorted(
        str(p.relative_to(REPO))
        for p in (REPO / "retail_etl").rglob("*")
        if p.is_file()
        and HARNESS not in p.parents
        and "__pycache__" not in p.parts
        and p.suffix in (".py", ".properties")
    )
    assert modules == expected
    assert not [n for n in names if n.endswith("entry_points.txt")]  # no harness command


def test_a_harness_import_in_job_code_is_caught(tmp_path: Path) -> None:
    module = tmp_path / "steps.py"
    module.write_text("def f():\n    from retail_etl.local import sample\n")
    assert "retail_etl.local" in imported_modules(module)
