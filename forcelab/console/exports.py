"""Export buttons of the console: run ``forcelab export`` / ``forcelab report`` on a session file.

The console offers exactly the formats the installed forcelab provides: a format appears when its
command module exists (``forcelab/commands/export.py`` for csv, c3d, mot and json;
``forcelab/commands/report.py`` for the coach's HTML report). Exports run as a child process of
the same Python (``python -m forcelab export ...``), off the GUI thread, so a slow C3D export
never freezes the window and the export code is the one the command line uses.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from forcelab.errors import ExportError

EXPORT_FORMATS = {"csv": "CSV", "c3d": "C3D", "mot": "OpenSim .mot", "json": "JSON"}
EXPORT_TIMEOUT_S = 600.0


def _has_command(name: str) -> bool:
    return importlib.util.find_spec(f"forcelab.commands.{name}") is not None


def available_exports() -> dict[str, str]:
    """``{format: label}`` of the exports this installation provides (may be empty)."""
    formats: dict[str, str] = {}
    if _has_command("export"):
        formats.update(EXPORT_FORMATS)
    if _has_command("report"):
        formats["html"] = "coach report (HTML)"
    return formats


def export_command(fmt: str, path: str, trial: str | None, out_path: str) -> list[str]:
    """The command line that exports ``trial`` (None = every trial) of ``path`` to ``out_path``."""
    if fmt == "html":
        return [sys.executable, "-m", "forcelab", "report", str(path), "-o", str(out_path)]
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {fmt!r}; choose one of {sorted(EXPORT_FORMATS)}")
    cmd = [sys.executable, "-m", "forcelab", "export", str(path), "--format", fmt,
           "-o", str(out_path)]
    if trial:
        cmd += ["--trial", trial]
    return cmd


def run_export(fmt: str, path: str, trial: str | None, out_path: str) -> str:
    """Run one export and return ``out_path``.

    Raises
    ------
    ExportError
        With the command's own one-line error when it fails.
    """
    cmd = export_command(fmt, path, trial, out_path)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=EXPORT_TIMEOUT_S)
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise ExportError(lines[-1] if lines else f"export to {fmt} failed ({proc.returncode})")
    return str(Path(out_path))
