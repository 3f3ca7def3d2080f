"""``forcelab demo``: the main job end to end (simulator on ptys -> drivers -> recorder -> store ->
analysis) recovers the simulated asymmetry."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from forcelab.store import open_session, read_analyses


def _demo(*args, cwd=None, timeout=90):
    return subprocess.run(
        [sys.executable, "-m", "forcelab", "demo", *args],
        capture_output=True, text=True, timeout=timeout, cwd=cwd,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


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


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--asymmetry", "8"], "fraction"),
        (["--duration", "0"], "duration"),
        (["--speed", "40"], "speed"),
        (["--body-mass", "-70"], "body mass"),
    ],
)
def test_demo_nonsense_gives_one_line_and_exit_2(tmp_path, args, message):
    r = _demo(*args, "-o", str(tmp_path / "x.h5"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in r.stderr
    assert not (tmp_path / "x.h5").exists()


def test_demo_never_overwrites(tmp_path, monkeypatch):
    out = tmp_path / "keep.h5"
    out.write_bytes(b"earlier")
    r = _demo("--duration", "1", "-o", str(out))
    assert r.returncode == 2 and "never overwrites" in r.stderr
    assert out.read_bytes() == b"earlier"
    # the default name is new even when one with the same time stamp exists
    from forcelab.commands.demo import default_output_path

    monkeypatch.chdir(tmp_path)
    first = default_output_path()
    open(first, "wb").close()
    second = default_output_path()
    assert second != first and not os.path.exists(second)
    assert os.path.dirname(second) == str(tmp_path)
