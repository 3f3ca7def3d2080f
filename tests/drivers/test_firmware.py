"""The reference CSV4 firmware (drivers/firmware) compiled natively with g++ against the HAL shim
(fake HX711 chips fed from a gait trace, Serial on a real pty), answering the protocol byte by byte
and recorded by ``forcelab record`` with tare, calibration and streaming done by its own code."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import serial
from forcelab.drivers.csv4 import Csv4Device
from forcelab.drivers.sim.gait import GaitModel, GaitParams
from forcelab.drivers.units import STANDARD_GRAVITY_M_S2

from forcelab.analysis import analyze_recording
from forcelab.interop import load_recording
from forcelab.store import open_session

FIRMWARE = Path(__file__).resolve().parents[2] / "drivers" / "firmware"
TRUE_OFFSETS = np.array([81234.0, -40567.0, 12890.0, -99001.0])  # counts: bridge + dead load
TRUE_SCALES = np.array([431.7, 409.2, 425.5, 418.9])  # counts per N
WIDTH_M, LENGTH_M = 0.40, 0.60

pytestmark = pytest.mark.skipif(
    shutil.which("g++") is None,
    reason="no C++ compiler (g++) here: the firmware test compiles the sketch natively",
)


@pytest.fixture(scope="module")
def firmware_binary(tmp_path_factory):
    build = tmp_path_factory.mktemp("fw-build")
    r = subprocess.run(["make", "-s", "-C", str(FIRMWARE), f"BUILD={build}"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return build / "fpdiy_csv4_native"


def run_trace(duration_s=9.0, rate_hz=1000.0, seed=4):
    """Cell forces (N) of a runner on the plate and the truth. Nobody stands on it for the first
    2.5 s: the recording starts meanwhile, however slow the machine is."""
    gait = GaitModel(GaitParams(mode="run", speed_m_s=3.0, strike="mid", start_s=2.5), seed=seed)
    t = np.arange(0.0, duration_s, 1.0 / rate_hz)
    p = gait.plate(t)
    fz = np.clip(p["fz"], 0.0, None)
    u = 0.5 + np.clip(np.nan_to_num(p["cop_x"]), -0.18, 0.18) / WIDTH_M  # toward the right
    v = 0.5 + np.clip(np.nan_to_num(p["cop_y"]), -0.27, 0.27) / LENGTH_M  # toward the front
    cells = np.stack([fz * (1 - u) * v, fz * u * v, fz * (1 - u) * (1 - v), fz * u * (1 - v)],
                     axis=1)
    stances = [s for s in gait.stances(0.0, duration_s) if s.end_s < duration_s - 0.05]
    cells[t >= stances[-1].end_s] = 0.0  # the runner steps off after the last whole stance
    return rate_hz, cells, stances


@pytest.fixture
def board(firmware_binary, tmp_path):
    """The native firmware running; yields (pty path, control file, eeprom file)."""
    rate_hz, cells, stances = run_trace()
    trace = tmp_path / "trace.txt"
    with open(trace, "w") as fh:
        fh.write(f"{rate_hz}\n{' '.join(map(str, TRUE_OFFSETS))}\n"
                 f"{' '.join(map(str, TRUE_SCALES))}\n")
        np.savetxt(fh, cells, fmt="%.3f")
    control = tmp_path / "control.txt"
    control.write_text("scene empty\n")
    eeprom = tmp_path / "eeprom.bin"
    env = {**os.environ, "FPDIY_TRACE": str(trace), "FPDIY_CONTROL": str(control),
           "FPDIY_EEPROM": str(eeprom), "FPDIY_NOISE": "25"}
    proc = subprocess.Popen([str(firmware_binary)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        m = re.fullmatch(r"pty (/dev/pts/\d+)\n", first)
        assert m, first
        yield {"port": m.group(1), "control": control, "eeprom": eeprom, "stances": stances,
               "cells": cells, "rate_hz": rate_hz}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        proc.stdout.close()
    assert proc.returncode == 0


def set_scene(control, text, timeout_s=5.0):
    """Change what stands on the plate and wait until the firmware's HAL has applied it."""
    control.write_text(text)
    ack = control.with_name(control.name + ".ack")
    deadline = time.monotonic() + timeout_s
    while not (ack.exists() and ack.read_text() == text):
        assert time.monotonic() < deadline, f"the HAL did not apply {text!r}"
        time.sleep(0.005)


def _reply(port, command, timeout_s=3.0):
    """Send one command line; return the first '#' line that answers it (data lines skipped)."""
    port.write(command.encode() + b"\n")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = port.readline()
        if line.startswith(b"#"):
            assert line.endswith(b"\r\n"), line
            return line[:-2].decode()
    raise AssertionError(f"no reply to {command!r}")


def test_every_command_and_reply_of_the_protocol(board):
    with serial.Serial(board["port"], 115200, timeout=0.5) as port:
        # the boot banner and the stream so far wait in the port: stop, then start clean
        while _reply(port, "x") != "# ok stop":
            pass
        time.sleep(0.05)
        port.reset_input_buffer()
        banner = _reply(port, "?")
        assert re.fullmatch(r"# fpdiy v1\.0 id=FPDIY-[0-9A-F]{6} cells=4 rate=80 units=raw",
                            banner)
        pairs = [
            ("x", "# ok stop"),
            ("i", banner),
            ("k", "# cal off=0,0,0,0 scale=420.0000,420.0000,420.0000,420.0000"),
            ("r 5", "# err rate must be 10 or 80"),
            ("r 10", "# ok rate=10"),
            ("?", banner.replace("rate=80", "rate=10")),
            ("r 80", "# ok rate=80"),
            ("u kg", "# err units must be raw or N"),
            ("u N", "# ok units=N"),
            ("u raw", "# ok units=raw"),
            ("c 7 10", "# err cell must be 0..3"),
            ("c 1", "# err usage: c <cell 0-3> <newtons>"),
            ("c 1 -5", "# err load must be > 0 N"),
            ("c 1 ten", "# err usage: c <cell 0-3> <newtons>"),
            ("zz", "# err unknown 'zz'"),
            ("s 1", "# err unknown 's 1'"),
        ]
        for sent, want in pairs:
            assert _reply(port, sent) == want, sent
        # stopped: nothing but replies; tare averages 40 samples of the empty plate
        port.reset_input_buffer()
        tare = _reply(port, "t")
        offsets = np.array([float(v) for v in tare.split("off=")[1].split(",")])
        assert tare.startswith("# ok tare off=")
        np.testing.assert_allclose(offsets, TRUE_OFFSETS, atol=25)  # noise SD 25 / sqrt(40)
        assert _reply(port, "s") == "# ok start"
        lines = [port.readline() for _ in range(20)]
        data = [ln for ln in lines if not ln.startswith(b"#")][-10:]
        for ln in data:
            assert re.fullmatch(rb"\d+,-?\d+,-?\d+,-?\d+,-?\d+\r\n", ln), ln
        t_ms = np.array([int(ln.split(b",")[0]) for ln in data])
        assert np.all(np.abs(np.diff(t_ms) - 12.5) <= 2)  # 80 Hz
        counts = np.array([[int(v) for v in ln.split(b",")[1:]] for ln in data])
        assert np.all(np.abs(counts - TRUE_OFFSETS) < 150)  # nothing on the plate
        assert _reply(port, "x") == "# ok stop"


def test_forcelab_records_the_firmware_with_its_own_tare_and_calibration(board, tmp_path):
    url = f"csv4://{board['port']}?width={WIDTH_M}&length={LENGTH_M}"
    control = board["control"]
    # calibration through the firmware's own commands: tare, then a known 10 kg on each cell;
    # the tare and the first cell as a user does it (forcelab calibrate), the others by the driver
    load_n = 10 * STANDARD_GRAVITY_M_S2

    def weight_on(cell):
        set_scene(control, "scene empty\n" + "".join(
            f"load {c} {load_n if c == cell else 0}\n" for c in range(4)))

    def calibrate_cli(*args):
        r = subprocess.run([sys.executable, "-m", "forcelab", "calibrate", "--device", url, *args],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    assert "(in the board's EEPROM)" in calibrate_cli("--tare")
    weight_on(0)
    calibrate_cli("--known-kg", "10", "--cell", "TL")
    dev = Csv4Device(board["port"], width_m=WIDTH_M, length_m=LENGTH_M)
    try:
        for cell in (1, 2, 3, None):  # the weight on one cell at a time, then off
            weight_on(cell)
            if cell is not None:
                dev.calibrate_cell(cell, load_n)
        scales = dev.scales_counts_per_n.tolist()
        np.testing.assert_allclose(dev.offsets_counts, TRUE_OFFSETS, atol=25)  # the CLI's tare
    finally:
        dev.close()
    np.testing.assert_allclose(scales, TRUE_SCALES, rtol=0.003)
    assert board["eeprom"].stat().st_size == 512  # kept in the board's EEPROM
    # record as a user does: tare with the plate empty, then the runner steps on
    path = tmp_path / "run.h5"
    proc = subprocess.Popen(
        [sys.executable, "-m", "forcelab", "record", "--device", url, "--tare",
         "--athlete", "Runner", "--body-mass", "70", "--duration", "10.5", "--interval", "0",
         "-o", str(path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    out = []
    try:
        for line in proc.stdout:
            out.append(line)
            if line.startswith("devices zeroed"):
                control.write_text("scene walk\n")
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        err = proc.stderr.read()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == 0, "".join(out) + err
    rec = load_recording(path)
    assert len(rec.streams) == 1
    stream = rec.streams[0]
    res = analyze_recording(rec)
    truth = board["stances"]
    true_start = np.array([s.start_s for s in truth])
    valid = [s for s in res.stances if s["valid"]]
    # On a starved machine the native "board" can miss HX711 conversions (a real MCU would
    # not): those are explicit gaps, and a stance crossing one is invalid, never wrong.
    with open_session(path) as f:
        missing = f.read_stream(f.streams[0]).gaps["n_missing"].sum()
    gap_stances = [s for s in res.stances if not s["valid"] and s["reason"] == "gap"]
    assert all(s["reason"] == "gap" for s in res.stances if not s["valid"])
    assert missing > 0 or not gap_stances  # a stance is invalid only where samples are missing
    assert len(valid) >= 0.8 * len(truth)
    # the recording starts before the runner steps on: its first stance is the first true one
    offset = res.stances[0]["start_s"] - true_start[0]
    k = np.array([np.argmin(np.abs(true_start + offset - s["start_s"])) for s in valid])
    assert len(set(k.tolist())) == len(valid)  # each valid stance is a different true one
    # every stance starts where the truth says, within 2 samples, all through the recording
    start_err = np.array([s["start_s"] for s in valid]) - (true_start[k] + offset)
    assert np.all(np.abs(start_err - np.median(start_err)) < 2.5 / 80)
    found = set(k.tolist()) | {int(np.argmin(np.abs(true_start + offset - s["start_s"])))
                               for s in gap_stances}
    assert found == set(range(len(truth)))  # every true stance: found, or crossed by a gap
    peaks = np.array([s["peak_force_n"] for s in valid])
    true_peaks = np.array([truth[i].peak_n for i in k])
    assert peaks.mean() == pytest.approx(true_peaks.mean(), rel=0.03)
    contact = np.array([s["end_s"] - s["start_s"] for s in valid])
    true_contact = np.array([truth[i].contact_time_s for i in k])
    assert abs(contact.mean() - true_contact.mean()) < 1.5 / 80  # within ~one sample at 80 Hz
    # the tare was the firmware's: the empty plate reads ~0 N between steps
    fz = stream.fz[np.isfinite(stream.fz)]
    flight = fz[fz < 0.5 * 9.81 * 70 * 0.2]
    assert abs(np.median(flight)) < 3.0
    # the session keeps the calibration the firmware reported (its EEPROM and its tare)
    with open_session(path) as f:
        cal = f.stream_info(f.streams[0])["calibration"]
    np.testing.assert_allclose(cal["scales_counts_per_n"], np.round(scales, 4))
    np.testing.assert_allclose(cal["offsets_counts"], TRUE_OFFSETS, atol=25)
