"""Generic serial line boards (``lines:``) on real ptys: the sketches people run (one number per
line, ``Reading: 12.3 kg``, a CSV of four cells with a header, ``{"w": ...}`` JSON,
``time_ms,force_N``), bad lines counted and never turned into samples, unplug/replug, and
calibration in forcelab kept in the session and in the board's calibration file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.parse

import numpy as np
import pytest
from forcelab.drivers import open_devices
from forcelab.drivers.errors import ConnectionLost, DeviceError, ProtocolError
from forcelab.drivers.line_formats import LineFormat, role_of
from forcelab.drivers.lines import board_file
from forcelab.drivers.sim.base import Simulator
from forcelab.drivers.sim.pty import SimPort, free_name
from forcelab.drivers.units import STANDARD_GRAVITY_M_S2
from hypothesis import given, settings
from hypothesis import strategies as st

from forcelab.interop import load_recording
from forcelab.store import open_session

G = STANDARD_GRAVITY_M_S2


class SketchSim(Simulator):
    """A DIY board running a sketch that prints one line per sample, paced on its crystal.

    ``make_line(k, t_ms, cells_n)`` makes line ``k`` from the true load on each cell (N);
    ``inject(text)`` slips a line between two samples; the board restarts (millis from 0,
    header again) when it is plugged back in and when a driver opens the port.
    """

    def __init__(self, port, make_line, rate_hz, header=None):
        super().__init__(port, seed=5, drift_ppm=40.0, period_s=0.004)
        self.make_line, self.rate_hz, self.header = make_line, rate_hz, header
        self.load_n = np.zeros(4)
        self.lines_sent: list[tuple[int, int, str]] = []  # (boot, k, line)
        self.injected: list[str] = []
        self._inject: list[str] = []
        self.boots = 0

    def on_boot(self):
        self.boots += 1
        self.boot_offset_s = -self.model_time_s()  # millis() restarts at 0
        self._k = 0
        if self.header:
            self.send((self.header + "\r\n").encode(), faults=False)
        self.streaming_started()

    def on_opened(self):
        self.on_boot()  # opening the port resets the board (Arduino auto-reset)

    def on_command_bytes(self, data):
        pass  # these sketches take no commands

    def set_load(self, cells_n):
        with self._lock:
            self.load_n = np.asarray(cells_n, float)

    def inject(self, text):
        with self._lock:
            self._inject.append(text)

    def produce(self, crystal_now_s):
        k_end = int(np.floor(crystal_now_s * self.rate_hz)) + 1
        for k in range(self._k, k_end):
            while self._inject:
                text = self._inject.pop(0)
                self.injected.append(text)
                self.send((text + "\r\n").encode("latin-1"), faults=False)
            line = self.make_line(k, int(k * 1000 / self.rate_hz), self.load_n.copy())
            if line is None:  # this line is lost on the way
                continue
            self.lines_sent.append((self.boots, k, line))
            self.send((line + "\r\n").encode(), seq=k, n=1)
        self._k = max(self._k, k_end)

    def sent_lines(self, boot=None):
        with self._lock:
            return [s for s in self.lines_sent if boot is None or s[0] == boot]


@pytest.fixture
def board():
    sims = []

    def start(make_line, rate_hz, header=None, serial="LC-0001"):
        port = SimPort(free_name("lines-board"), description="DIY load-cell board",
                       serial_number=f"{serial}-{os.getpid()}-{len(sims)}").open()
        sim = SketchSim(port, make_line, rate_hz, header).start()
        sims.append(sim)
        return sim

    yield start
    for sim in sims:
        sim.stop()


def lines_url(sim, **opts):
    return f"lines://{sim.port.device}?" + urllib.parse.urlencode(opts)


def read_until_loaded(dev, column, above, timeout_s=10.0):
    """Read until the newest sample's ``column`` exceeds ``above`` (a weight was put on)."""
    deadline = time.monotonic() + timeout_s
    while True:
        blocks = dev.read(0.05)
        if blocks and blocks[-1].samples[-1, column] > above:
            return
        assert time.monotonic() < deadline, "the load never showed"


def read_until(dev, n_samples, timeout_s=15.0):
    blocks = []
    deadline = time.monotonic() + timeout_s
    while sum(b.n for b in blocks) < n_samples:
        assert time.monotonic() < deadline, f"only {sum(b.n for b in blocks)} samples"
        blocks += dev.read(0.05)
    return blocks


def stacked(blocks):
    seq = np.concatenate([b.seq + np.arange(b.n) for b in blocks])
    return seq, np.concatenate([b.samples for b in blocks])


# ---------------------------------------------------------------------------- pure parsing
def test_parsers_read_the_usual_sketches_and_refuse_the_rest():
    f = LineFormat("ws")
    assert f.parse("12.5").values == (12.5,) and f.value_roles == ["force"]
    assert [f.parse(x).kind for x in ("", "abc", "nan", "1 2", "inf")] == \
        ["empty", "bad", "bad", "bad", "bad"]
    f = LineFormat("regex", pattern=r"Reading:\s*(?P<force>[-0-9.]*)\s*kg")
    assert f.parse("Reading: 12.3 kg").values == (12.3,)
    assert f.parse("HX711 ready").reason == "no match"
    assert f.parse("Reading:  kg").reason == "not a number"
    f = LineFormat("csv")
    assert f.parse("Scale0,Scale1,Scale2,Scale3").kind == "header"
    assert f.value_roles == ["cell"] * 4 and not f.has_time
    assert f.parse("-812.50,1042.20,998.10,-12.00").values == (-812.5, 1042.2, 998.1, -12.0)
    assert f.parse("1,2,3").reason == "3 fields, not 4"
    assert f.parse("Scale0,Scale1,Scale2,Scale3").kind == "header"  # printed again at reboot
    f = LineFormat("csv")
    assert f.parse("time_ms,force_N").kind == "header" and f.has_time
    p = f.parse("123456,701.5")
    assert (p.t, p.values) == (123.456, (701.5,))
    f = LineFormat("json", ["w"])
    assert f.parse('{"w": 123456}').values == (123456.0,)
    assert [f.parse(x).reason for x in ('{"w": 1', '[1]', '{"x": 1}', '{"w": "a"}',
                                        '{"w": true}')] == \
        ["not JSON", "not a JSON object", "key missing", "not a number", "not a number"]
    assert LineFormat("json").parse('{"w": 5, "id": "A"}').values == (5.0,)  # one number key
    assert role_of("ms:t_ms") == "t_ms" and role_of("Force [N]") == "force"
    with pytest.raises(ValueError, match="say what it is"):
        role_of("humidity")
    with pytest.raises(ValueError, match="named group"):
        LineFormat("regex", pattern="Reading: (.*)")


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["ws", "csv", "json", "regex"]))
def test_no_line_crashes_a_parser_or_becomes_a_wrong_sample(text, fmt):
    pattern = r"Reading:\s*(?P<force>[-0-9.]*)" if fmt == "regex" else None
    f = LineFormat(fmt, ["t_ms", "force"] if fmt == "csv" else None, pattern)
    p = f.parse(text)
    assert p.kind in ("data", "header", "empty", "bad")
    if p.kind == "data":  # only finite numbers that stand in the line
        assert all(np.isfinite(v) for v in p.values) and len(p.values) == 1


# ------------------------------------------------------------------- real ptys, each format
FORMATS = {
    "number": (lambda k, t, c: f"{c.sum() / G:.2f}", None,
               {"format": "ws", "units": "kg", "rate": "80"},
               lambda c: [round(c.sum() / G, 2) * G]),
    "reading": (lambda k, t, c: f"Reading: {c.sum() / G:.1f} kg", None,
                {"format": "regex", "pattern": r"Reading:\s*(?P<force>[-0-9.]*)\s*kg",
                 "units": "kg", "rate": "10"}, lambda c: [round(c.sum() / G, 1) * G]),
    "cells": (lambda k, t, c: ",".join(f"{v:.2f}" for v in c), "Scale0,Scale1,Scale2,Scale3",
              {"format": "csv", "rate": "80", "cells": "TL,TR,BL,BR", "width_mm": "400",
               "length_mm": "600"}, lambda c: [*np.round(c, 2), np.round(c, 2).sum()]),
    "json": (lambda k, t, c: json.dumps({"w": int(round(c.sum() * 100))}), None,
             {"format": "json", "keys": "w", "units": "raw", "rate": "1280", "baud": "921600"},
             lambda c: [round(c.sum() * 100)]),
    "time_force": (lambda k, t, c: f"{t},{c.sum():.1f}", "time_ms,force_N",
                   {"format": "csv"}, lambda c: [round(c.sum(), 1)]),
}


@pytest.mark.parametrize("name", list(FORMATS))
def test_each_sketch_format_on_a_real_pty(board, name, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    make_line, header, opts, expect = FORMATS[name]
    rate = float(opts.get("rate", 80))
    sim = board(make_line, rate_hz=80 if name == "time_force" else rate, header=header)
    sim.set_load([100.0, 200.0, 300.0, 400.0])
    dev, = open_devices(lines_url(sim, **opts))
    try:
        assert dev.info.rate_hz == (80.0 if name == "time_force" else rate)  # time: measured
        assert dev.info.kind == "diyplate"
        dev.start()
        bad0 = dev.stats.bad_lines
        blocks = read_until(dev, max(8, int(rate * 0.3)))
        for text in ("HX711 ready", "nan", "\x7f\x80garbage\x81", "1.2.3", "{broken"):
            sim.inject(text)
        sim.set_load([150.0, 250.0, 350.0, 450.0])
        blocks += read_until(dev, max(16, int(rate * 0.6)))
        blocks += read_until(dev, 4)  # the injected lines have been read
        assert len(sim.injected) == 5
        assert dev.stats.bad_lines - bad0 == 5  # each injected line, in every format
        seq, got = stacked(blocks)
        assert np.all(np.diff(seq) == 1) and dev.stats.dropped_samples == 0
        # every sample is a line the board printed, with its values: nothing invented
        names = [c.name for c in dev.info.channels]
        loads = [np.array([100.0, 200.0, 300.0, 400.0]), np.array([150.0, 250.0, 350.0, 450.0])]
        wanted = [np.array(expect(c), float) for c in loads]
        for row in got:
            cols = row[: len(wanted[0])]
            assert any(np.allclose(cols, w, rtol=1e-9, atol=1e-6) for w in wanted), (names, row)
        assert np.allclose(got[-1][: len(wanted[1])], wanted[1], atol=1e-6)
        if name == "cells":  # COP from the four cells (m from the centre)
            fz = 1200.0
            cop_x = 0.2 * ((250 + 450) - (150 + 350)) / fz
            cop_y = 0.3 * ((150 + 250) - (350 + 450)) / fz
            assert names == ["c0", "c1", "c2", "c3", "fz", "cop_x", "cop_y"]
            np.testing.assert_allclose(got[-1][4:], [fz, cop_x, cop_y], atol=1e-9)
    finally:
        dev.close()


def test_unplug_and_replug_resume_with_the_missing_time_as_a_gap(board, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    sim = board(lambda k, t, c: f"{t},{c.sum():.1f}", rate_hz=80, header="time_ms,force_N")
    sim.set_load([0, 0, 0, 700.0])
    dev, = open_devices(lines_url(sim, format="csv"))
    try:
        dev.start()
        before = read_until(dev, 40)
        sim.unplug()
        t_unplug = time.monotonic()
        blocks, lost = [], None
        deadline = time.monotonic() + 5
        while lost is None and time.monotonic() < deadline:
            try:
                blocks += dev.read(0.05)
            except ConnectionLost as exc:
                lost = str(exc)
        assert lost and "connection lost" in lost and "Plug it back in" in lost
        with pytest.raises(ConnectionLost):
            dev.read(0.05)  # still gone
        time.sleep(0.3)  # the board stays unplugged for a while (0.5 s in all)
        sim.replug()
        t_replug = time.monotonic()
        after = []
        deadline = time.monotonic() + 10
        t_back = None
        while sum(b.n for b in after) < 40:
            assert time.monotonic() < deadline
            try:
                after += dev.read(0.05)
            except ConnectionLost:
                continue
            if after and t_back is None:
                t_back = time.monotonic()  # the first samples after the reconnect are here
        kinds = [e.kind for e in dev.pop_events()]
        assert kinds[:2] == ["unplug", "replug"]
        assert dev.stats.reconnects == 1
        seq_before, _ = stacked(before + blocks)
        seq_after, f_after = stacked(after)
        gap = after[0].gap_before
        assert seq_after[0] == seq_before[-1] + gap + 1
        # the board was off from the unplug to the replug, and its samples came back only once
        # forcelab had reopened the port: the gap (host clock) lies between those two spans
        assert (t_replug - t_unplug) * 80 - 3 <= gap <= (t_back - t_unplug) * 80 + 3
        np.testing.assert_allclose(f_after[:, 0], 700.0)
    finally:
        dev.close()


def test_calibration_in_forcelab_round_trip_file_and_session(board, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    offsets = np.array([81234.0, -40567.0, 12890.0, -99001.0])
    scales = np.array([431.7, 409.2, 425.5, 418.9])
    rng = np.random.default_rng(2)

    def raw_line(k, t, cells_n):
        counts = offsets + scales * cells_n + rng.normal(0, 20, 4)
        return ",".join(str(int(round(v))) for v in counts)

    sim = board(raw_line, rate_hz=80, header="Scale0,Scale1,Scale2,Scale3", serial="LC-CAL")
    opts = dict(format="csv", units="raw", rate="80", width_mm="400", length_mm="600")
    url = lines_url(sim, **opts)
    dev, = open_devices(url)
    try:
        cal = dev.info.calibration
        assert cal["calibrated"] is False and cal["scales"] == [1.0] * 4
        dev.start()
        dev.zero()  # nothing on the plate
        np.testing.assert_allclose(dev.offsets, offsets, atol=10)
        load_n = 98.0665
        for i, pos in enumerate(("TL", "TR", "BL", "BR")):
            sim.set_load([load_n if j == i else 0.0 for j in range(4)])
            read_until_loaded(dev, i, 0.5 * load_n * scales[i])  # still in counts
            got = dev.calibrate(load_n, cell=pos)
        sim.set_load([0, 0, 0, 0])
        np.testing.assert_allclose(got, scales, rtol=0.003)
        path = board_file(dev.board)
        assert path.parent == tmp_path / "config" / "forcelab" / "boards"
        stored = json.loads(path.read_text())
        assert stored["scales"] == got.tolist() and stored["offsets"] == dev.offsets.tolist()
        with pytest.raises(DeviceError, match="cell must be one of TL, TR, BL, BR"):
            dev.calibrate(10.0, cell="XX")
    finally:
        dev.close()
    # a person in the centre of the calibrated plate weighs what they weigh
    sim.set_load([171.6, 171.6, 171.6, 171.6])
    dev, = open_devices(url)
    try:
        assert dev.info.calibration["calibrated"] is True
        np.testing.assert_allclose(dev.scales, got)
        dev.start()
        read_until(dev, 10)
        _, f = stacked(read_until(dev, 40))
        assert np.mean(f[:, 4]) == pytest.approx(4 * 171.6, rel=0.005)
    finally:
        dev.close()
    # forcelab record keeps the calibration in the session
    out = tmp_path / "s.h5"
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    r = subprocess.run([sys.executable, "-m", "forcelab", "record", "--device", url,
                        "--athlete", "A", "--duration", "1", "--interval", "0", "-o", str(out)],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    with open_session(out) as f:
        stored_cal = f.stream_info(f.streams[0])["calibration"]
    assert stored_cal["scales"] == got.tolist() and stored_cal["calibrated"] is True
    assert stored_cal["board"] == dev.board
    stream = load_recording(out).streams[0]  # read back as any plate: COP by its role
    assert stream.sensor == "plate" and {"fz", "cop_ml", "cop_ap"} <= set(stream.channels)
    assert np.nanmean(stream.fz) == pytest.approx(4 * 171.6, rel=0.005)


def test_centre_calibration_of_a_single_force_board(board, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    sim = board(lambda k, t, c: str(int(round(5000 + 212.5 * c.sum()))), rate_hz=80)
    dev, = open_devices(lines_url(sim, units="raw", rate="80"))
    try:
        dev.zero()
        sim.set_load([0, 0, 0, 196.133])
        dev.start()
        read_until_loaded(dev, 0, 212.5 * 150)  # counts above the tare
        scales = dev.calibrate(196.133)
        np.testing.assert_allclose(scales, [212.5], rtol=0.002)
        assert dev.info.calibration["method"]["scale"] == "centre 196.133 N"
    finally:
        dev.close()


def test_bad_lines_strings_are_clear(board, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    sim = board(lambda k, t, c: "12.5", rate_hz=80)
    with pytest.raises(DeviceError, match="unknown lines option.*valid: baud"):
        open_devices(lines_url(sim, speed="1"))
    with pytest.raises(DeviceError, match="units='lb'"):
        open_devices(lines_url(sim, units="lb"))
    with pytest.raises(DeviceError, match="carry no time: give the board's rate"):
        open_devices(lines_url(sim))
    with pytest.raises(ProtocolError, match="no lines in format=json"):
        open_devices(lines_url(sim, format="json", rate="80", boot_timeout="0.5"))
    with pytest.raises(DeviceError, match="cells= names 4 positions but the lines carry 1"):
        open_devices(lines_url(sim, rate="80", cells="TL,TR,BL,BR"))
    r = subprocess.run([sys.executable, "-m", "forcelab", "record", "--device",
                        "lines:///dev/forcelab-no-such-port?rate=80", "--athlete", "A",
                        "--duration", "1", "-o", str(tmp_path / "x.h5")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "x.h5").exists()


def test_time_field_gaps_are_explicit(board, tmp_path, monkeypatch):
    """Lines lost on the wire show as gaps of exactly the missing samples (from the time)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    lost = {30, 31, 32, 77}
    sim = board(lambda k, t, c: None if k in lost else f"{t},{c.sum():.1f}", rate_hz=80,
                header="time_ms,force_N")
    dev, = open_devices(lines_url(sim, format="csv", rate="80"))
    try:
        dev.start()
        blocks = read_until(dev, 90)
        # the board's own sample number of each sample: t_ms = floor(k * 12.5)
        ks = np.concatenate([round(b.t_device_s * 80) + np.arange(b.n) for b in blocks])
        missing = set(range(ks[0], ks[-1] + 1)) - set(ks.tolist())
        assert missing == {k for k in lost if ks[0] < k < ks[-1]} and 77 in missing
        assert dev.stats.dropped_samples == len(missing)
        assert sum(b.gap_before for b in blocks) == len(missing)
        assert dev.stats.gaps == len({30, 77} & missing)
        assert dev.stats.bad_lines == 0
    finally:
        dev.close()


def test_tare_on_a_stopped_device_keeps_reading(board, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    sim = board(lambda k, t, c: f"{c.sum() + 30.0:.2f}", rate_hz=80)
    dev, = open_devices(lines_url(sim, rate="80", average="0.25"))
    try:
        dev.zero()  # not started: the board prints anyway, forcelab reads it for the tare
        assert dev.offsets == pytest.approx([30.0])
        dev.start()
        _, f = stacked(read_until(dev, 10))
        np.testing.assert_allclose(f[:, 0], 0.0, atol=1e-9)
    finally:
        dev.close()


def test_forcelab_calibrate_command_tares_and_scales_a_board(board, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path)}
    sim = board(lambda k, t, c: str(int(round(-3000 + 150.0 * c.sum()))), rate_hz=80,
                serial="LC-CLI")
    url = lines_url(sim, units="raw", rate="80")

    def calibrate(*args):
        r = subprocess.run([sys.executable, "-m", "forcelab", "calibrate", "--device", url,
                            *args], capture_output=True, text=True, timeout=120, env=env)
        return r

    r = calibrate("--tare")
    assert r.returncode == 0, r.stderr
    assert "offsets -3000 counts" in r.stdout and "saved in" in r.stdout
    sim.set_load([0, 0, 0, 20 * G])  # 20 kg on the board before the command opens it
    r = calibrate("--known-kg", "20")
    assert r.returncode == 0, r.stderr
    saved = json.loads(board_file(sim.port.serial_number).read_text())
    assert saved["offsets"] == [-3000.0]
    assert saved["scales"][0] == pytest.approx(150.0, abs=0.5 / (20 * G))
    r = calibrate("--known-kg", "20", "--cell", "TL")
    assert r.returncode == 2 and "cell must be one of (no cells)" in r.stderr
    assert "Traceback" not in r.stderr
    r = subprocess.run([sys.executable, "-m", "forcelab", "calibrate", "--device",
                        "opengo-udp://127.0.0.1:0", "--tare"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2 and "is not one DIY board" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
