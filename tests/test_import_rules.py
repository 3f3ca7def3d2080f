"""The house plan's import rules (docs/architecture.md) hold in the source tree."""

from __future__ import annotations

import ast
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Rooms where imports may sit inside functions (``forcelab --help`` stays instant).
LAZY_ROOMS = ("cli.py", "commands", "console")
#: Optional extras, imported where they are used so forcelab runs without them.
OPTIONAL = {"dask.distributed"}


def _imports(path: Path) -> list[tuple[ast.AST, str, bool]]:
    """(node, module, at module top) of every import of a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = set()
    for node in tree.body:
        top.add(node)
        if isinstance(node, ast.Try):  # optional platform modules (fcntl)
            top.update(node.body)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node, a.name, node in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            out.append((node, node.module or "", node in top))
    return out


def test_lint_imports_keeps_every_contract():
    exe = shutil.which("lint-imports")
    if exe is None:
        pytest.fail("lint-imports is not installed: pip install -e '.[test]'")
    r = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-3000:]
    assert "0 broken" in r.stdout
    assert r.stdout.count(" KEPT") >= 6


def test_drivers_import_no_other_forcelab_room():
    files = sorted((ROOT / "drivers").rglob("*.py"))
    assert files
    bad = [
        f"{f.relative_to(ROOT)}: {mod}"
        for f in files
        for _, mod, _ in _imports(f)
        if mod.startswith("forcelab") and not mod.startswith("forcelab.drivers")
    ]
    assert bad == []


def test_imports_sit_at_module_top_outside_cli_and_console():
    pkg = ROOT / "forcelab"
    lazy = []
    for f in sorted(pkg.rglob("*.py")):
        rel = f.relative_to(pkg)
        if rel.parts[0] in LAZY_ROOMS:
            continue
        for node, mod, at_top in _imports(f):
            if not at_top and mod not in OPTIONAL:
                lazy.append(f"forcelab/{rel}:{node.lineno}: {mod}")
    assert lazy == []
