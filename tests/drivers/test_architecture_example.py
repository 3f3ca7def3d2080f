"""The worked example of docs/architecture.md ("adding a device = one driver module + one
SCHEMES line") runs as written: the module from the page, the SCHEMES line from the page."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from driver_helpers import read_samples
from forcelab.drivers import open_devices
from forcelab.drivers.base import ROLE_VERTICAL
from forcelab.drivers.errors import DeviceError
from forcelab.drivers.registry import SCHEMES

PAGE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def _blocks() -> list[str]:
    text = PAGE.read_text(encoding="utf-8")
    section = text[text.index("### Adding a device"):]
    return re.findall(r"```python\n(.*?)```", section, re.S)


@pytest.fixture
def replay_scheme(tmp_path, monkeypatch):
    module_src, schemes_line = _blocks()[:2]
    package = tmp_path / "example_drivers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "replay.py").write_text(module_src)
    monkeypatch.syspath_prepend(str(tmp_path))
    # the page's SCHEMES line, pointed at where this test saved the page's module
    (scheme, (target, help_line)), = ast.literal_eval("{" + schemes_line.strip() + "}").items()
    assert target == "forcelab.drivers.replay:open_replay"
    monkeypatch.setitem(SCHEMES, scheme, ("example_drivers.replay:open_replay", help_line))
    yield scheme
    sys.modules.pop("example_drivers.replay", None)
    sys.modules.pop("example_drivers", None)
    importlib.invalidate_caches()


def test_the_worked_example_opens_through_the_registry_and_streams(replay_scheme, tmp_path):
    t = np.arange(0, 0.6, 0.005)  # 200 Hz
    fz = 700 + 300 * np.sin(2 * np.pi * 2.5 * t)
    csv = tmp_path / "run.csv"
    np.savetxt(csv, np.column_stack([t, fz]), delimiter=",")
    (dev,) = open_devices(f"{replay_scheme}://{csv}?side=left")
    try:
        assert dev.info.kind == "plate" and dev.info.side == "left"
        assert dev.info.rate_hz == pytest.approx(200.0)
        assert dev.info.columns_by_role() == {ROLE_VERTICAL: [0]}
        dev.start()
        blocks = read_samples(dev, len(t), 10.0)
        got = np.concatenate([b.samples[:, 0] for b in blocks])
        np.testing.assert_allclose(got, fz)
        assert [b.seq for b in blocks] == list(np.cumsum([0] + [b.n for b in blocks[:-1]]))
    finally:
        dev.close()
    with pytest.raises(DeviceError, match="unknown replay option"):
        open_devices(f"{replay_scheme}://{csv}?colour=red")
