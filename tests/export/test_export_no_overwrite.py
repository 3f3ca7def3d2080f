"""Existing files are never overwritten by surprise (issue 16, item 6) and forcelab makes up no
folders (item 14): ``export x.csv -o x.csv --force`` refuses to replace its own source,
``analyze --summary`` refuses an existing CSV, a missing output folder is one error line."""

from __future__ import annotations

import hashlib

import pytest
from subprocesses import run_cli


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.fixture
def csv_export(sessions, tmp_path):
    r = run_cli("export", sessions["plate"], "--format", "csv", "-o", tmp_path / "x.csv")
    assert r.returncode == 0, r.stderr
    return tmp_path / "x.csv"


def test_export_force_never_targets_its_own_source(csv_export):
    before = _digest(csv_export)
    r = run_cli("export", csv_export, "--format", "csv", "-o", csv_export, "--force")
    assert "file being exported" in _one_line_error(r)
    assert _digest(csv_export) == before


def test_analyze_summary_refuses_an_existing_csv(sessions, tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("my own table\n")
    r = run_cli("analyze", sessions["plate"], "--summary", out)
    assert "already exists" in _one_line_error(r)
    assert out.read_text() == "my own table\n"
    r = run_cli("analyze", sessions["plate"], "--summary", sessions["plate"], "--force")
    assert "one of the files to analyse" in _one_line_error(r)
    r = run_cli("analyze", sessions["plate"], "--summary", out, "--force")
    assert r.returncode == 0, r.stderr
    assert out.read_text() != "my own table\n"


@pytest.mark.parametrize("command", [
    ("export", "{plate}", "--format", "json", "-o", "{missing}/deeper/x.json"),
    ("export", "{plate}", "--format", "c3d", "-o", "{missing}/x.c3d"),
    ("analyze", "{plate}", "--summary", "{missing}/s.csv"),
    ("check", "{plate}", "--recover", "{missing}/r.h5"),
    ("import", "{plate}", "-o", "{missing}/i.h5"),
    ("report", "{plate}", "-o", "{missing}/r.html"),
])
def test_a_missing_output_folder_is_one_error_line_and_never_created(sessions, tmp_path,
                                                                       command):
    missing = tmp_path / "no-such-folder"
    args = [a.format(plate=sessions["plate"], missing=missing) for a in command]
    r = run_cli(*args)
    assert "does not exist" in _one_line_error(r) or "No such file" in r.stderr
    assert not missing.exists()


def test_export_creates_the_folder_it_was_named(sessions, tmp_path):
    r = run_cli("export", sessions["plate"], "--format", "json", "-o", tmp_path / "new")
    assert r.returncode == 0, r.stderr
    assert len(list((tmp_path / "new").iterdir())) == 1
