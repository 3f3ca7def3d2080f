"""CI runs the tests on real recordings: with FORCELAB_REQUIRE_SHARED_DATA=1 a missing
../shared/data fails them instead of skipping them (issue 16, item 15)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run_pytest(tmp_path: Path, require: str | None, *options: str,
                test: str = "def test_reads_real_data(shared_data):\n"
                            "    assert shared_data.is_dir()\n") -> subprocess.CompletedProcess:
    tests = tmp_path / "tests"
    tests.mkdir()
    for name in ("conftest.py", "real_recordings.py"):  # the fixture and where it looks
        (tests / name).write_text((ROOT / "tests" / name).read_text())
    (tests / "test_uses_data.py").write_text(test)
    env = dict(os.environ, FORCELAB_SHARED_DATA=str(tmp_path / "no-such-folder"))
    env.pop("FORCELAB_REQUIRE_SHARED_DATA", None)
    if require is not None:
        env["FORCELAB_REQUIRE_SHARED_DATA"] = require
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rs", *options,
         str(tests)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_missing_shared_data_skips_outside_ci(tmp_path):
    r = _run_pytest(tmp_path, None)
    assert r.returncode == 0, r.stdout
    assert "1 skipped" in r.stdout and "real recordings not found" in r.stdout


def test_missing_shared_data_fails_when_ci_requires_it(tmp_path):
    r = _run_pytest(tmp_path, "1")
    assert r.returncode == 1, r.stdout
    assert "1 error" in r.stdout and "FORCELAB_REQUIRE_SHARED_DATA" in r.stdout


def test_missing_shared_data_fails_in_parallel_workers_too(tmp_path):
    """The README's command runs the tests in pytest-xdist workers: they see the requirement."""
    r = _run_pytest(tmp_path, "1", "-n", "2")
    assert r.returncode == 1, r.stdout
    assert "1 error" in r.stdout and "FORCELAB_REQUIRE_SHARED_DATA" in r.stdout


def test_the_helper_outside_fixtures_requires_shared_data_like_the_fixture(tmp_path):
    """Test helpers (the LSL tests') find the recordings with real_recordings.shared_data_folder:
    it honours FORCELAB_SHARED_DATA and FORCELAB_REQUIRE_SHARED_DATA as the fixture does."""
    test = ("import real_recordings\n\ndef test_reads_real_data():\n"
            "    real_recordings.shared_data_folder()\n")
    r = _run_pytest(tmp_path, "1", test=test)
    assert r.returncode == 1, r.stdout
    assert "1 failed" in r.stdout and "FORCELAB_REQUIRE_SHARED_DATA" in r.stdout


def test_ci_script_requires_shared_data_and_runs_the_readme_command():
    script = (ROOT / ".ci" / "run").read_text()
    assert "export FORCELAB_REQUIRE_SHARED_DATA=1" in script
    readme = (ROOT / "README.md").read_text()
    command = 'pip install -e ".[test]" && pytest'
    assert command in readme and command in script
    assert script.index("FORCELAB_REQUIRE_SHARED_DATA") < script.index(command)
