"""``forcelab demo``: the main job end to end (simulator on ptys -> drivers -> recorder -> store ->
analysis) recovers the simulated asymmetry."""

from __future__ import annotations

import os
import re

import pytest
from subprocesses import run_cli

from forcelab.store import open_session, read_analyses


def _demo(*args, cwd=None, timeout=90):
    return run_cli("demo", *args, cwd=cwd, timeout=timeout)


def test_demo_recovers_the_simulated_asymmetry(tmp_path):
    out = tmp_path / "demo.h5"
    r = _demo("--duration", "14", "--asymmetry", "-0.08", "--quiet", "-o", str(out))
    assert r.returncode == 0, (r.stdout, r.stderr)
    text = r.stdout
    assert " s | plate_left" not in text  # --quiet: no progress lines
    # the coach's summary
    coach = r"Mid-stance peak [\d.]+ BW left, [\d.]+ BW right: [\d.]+ % higher on the left"
    assert re.search(coach, text), text
    # simulated vs recovered, and the recovered value is within 2 points of the setting
    m = re.search(r"recovered from file\s+SI\s+([-+][\d.]+) %", text)
    assert m, text
    assert float(m.group(1)) == pytest.approx(-8.0, abs=2.0)
    assert "simulated setting    SI  -8.0 %" in text
    with open_session(out) as f:
        assert f.state["closed"]
        assert {"plate_left", "plate_right"} <= set(f.streams)
        assert f.trials[0]["tags"] == ["demo", "simulated"]
        assert f.athlete["body_mass_kg"] == pytest.approx(70.0)
    analyses = read_analyses(out)
    assert analyses, "the demo stores its analysis in the session file"


def test_demo_default_name_is_new(tmp_path, monkeypatch):
    # the default name is new even when one with the same time stamp exists (that the demo
    # never overwrites a file it is given: tests/test_cli.py)
    from forcelab.commands.demo import default_output_path

    monkeypatch.chdir(tmp_path)
    first = default_output_path()
    open(first, "wb").close()
    second = default_output_path()
    assert second != first and not os.path.exists(second)
    assert os.path.dirname(second) == str(tmp_path)
