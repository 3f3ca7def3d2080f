"""XDF files: one written here in the XDF chunk format (two force streams and a marker stream,
from a real treadmill run), read by pyxdf (the outside reader) and by forcelab; and the XDF
project's own example files, which hold no force data."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pytest
import pyxdf

from forcelab.analysis import analyze_recording
from forcelab.errors import FileFormatError, InputError
from forcelab.interop import load_recording
from forcelab.recording import Recording, Stream
from forcelab.store import open_session

RATE_HZ = 300.0
#: The sender's clock runs this far from the recording computer's (ClockOffset chunks).
CLOCK_OFFSET_S = -12.5
BOUNDARY = bytes([0x43, 0xA5, 0x46, 0xDC, 0xCB, 0xF5, 0x41, 0x0F, 0xB3, 0x0E, 0xD5, 0x46,
                  0x73, 0x83, 0xCB, 0xE4])


# ------------------------------------------------------------------ an XDF writer (the spec)


def _varlen(n: int) -> bytes:
    if n < 256:
        return struct.pack("<BB", 1, n)
    if n < 2**32:
        return struct.pack("<BI", 4, n)
    return struct.pack("<BQ", 8, n)


def _chunk(tag: int, content: bytes) -> bytes:
    return _varlen(len(content) + 2) + struct.pack("<H", tag) + content


def _header_xml(name, stype, channels, rate_hz, fmt, source_id) -> bytes:
    chans = "".join(
        "<channel>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in zip(
            ("label", "unit", "type"), ch, strict=False)) + "</channel>"
        for ch in channels
    )
    n = len(channels) if channels else 1
    return (
        f'<?xml version="1.0"?><info><name>{escape(name)}</name><type>{stype}</type>'
        f"<channel_count>{n}</channel_count><nominal_srate>{rate_hz}</nominal_srate>"
        f"<channel_format>{fmt}</channel_format><source_id>{source_id}</source_id>"
        f"<created_at>100.0</created_at><desc><channels>{chans}</channels></desc></info>"
    ).encode()


def _samples_chunk(sid: int, stamps, values, fmt: str) -> bytes:
    body = struct.pack("<I", sid) + _varlen(len(stamps))
    for t, row in zip(stamps, values, strict=True):
        body += struct.pack("<Bd", 8, t)
        if fmt == "string":
            raw = row.encode()
            body += _varlen(len(raw)) + raw
        else:
            body += np.asarray(row, dtype="<f4").tobytes()
    return _chunk(3, body)


def write_xdf(path: Path, streams: list[dict]) -> Path:
    """Write streams (``name, type, channels [(label, unit, type)], rate_hz, format,
    stamps, values``) in the XDF chunk format, with clock offsets and footers."""
    out = bytearray(b"XDF:")
    out += _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
    for sid, s in enumerate(streams, start=1):
        out += _chunk(2, struct.pack("<I", sid) + _header_xml(
            s["name"], s["type"], s["channels"], s["rate_hz"], s["format"], f"src{sid}"))
    for sid, s in enumerate(streams, start=1):
        stamps, values = s["stamps"], s["values"]
        for a in range(0, len(stamps), 250):  # samples in chunks, as LabRecorder writes them
            out += _samples_chunk(sid, stamps[a:a + 250], values[a:a + 250], s["format"])
        out += _chunk(5, BOUNDARY)
        for t in (float(stamps[0]), float(stamps[-1])):
            out += _chunk(4, struct.pack("<Idd", sid, t - CLOCK_OFFSET_S, CLOCK_OFFSET_S))
    for sid, s in enumerate(streams, start=1):
        footer = (
            f'<?xml version="1.0"?><info><first_timestamp>{s["stamps"][0]}</first_timestamp>'
            f"<last_timestamp>{s['stamps'][-1]}</last_timestamp>"
            f"<sample_count>{len(s['stamps'])}</sample_count></info>"
        ).encode()
        out += _chunk(6, struct.pack("<I", sid) + footer)
    path.write_bytes(bytes(out))
    return path


# ------------------------------------------------------------------ the test file


@pytest.fixture(scope="module")
def run(shared_data):
    d = np.loadtxt(shared_data / "fukuchi2017_running" / "RBDS001runT25forces.txt", skiprows=1)
    n = int(10 * RATE_HZ)
    # Fy is vertical (N); COPz (mm) is medio-lateral, larger = right (data README)
    return d[:n, 2].astype(np.float32).astype(float), d[:n, 6].astype(np.float32).astype(float)


@pytest.fixture(scope="module")
def xdf_file(tmp_path_factory, run):
    fz, cop_mm = run
    t = 5000.0 + np.arange(fz.size) / RATE_HZ  # the sender's LSL clock
    second = slice(600, 2400)
    path = tmp_path_factory.mktemp("xdf") / "lab.xdf"
    return write_xdf(path, [
        {"name": "Treadmill", "type": "Force", "rate_hz": 300, "format": "float32",
         "channels": [("Fz", "N", "Force"), ("COPx", "mm", "Position"), ("temp", "C", "")],
         "stamps": t, "values": np.column_stack([fz, cop_mm, np.full(fz.size, 21.0)])},
        {"name": "AMTI right", "type": "ForcePlate", "rate_hz": 300, "format": "float32",
         "channels": [("Force X", "kN", ""), ("Force Y", "kN", ""), ("Force Z", "kN", "")],
         "stamps": t[second],
         "values": np.column_stack([np.zeros(1800), np.zeros(1800), fz[second] / 1000.0])},
        {"name": "Events", "type": "Markers", "rate_hz": 0, "format": "string",
         "channels": [("Marker", "", "")], "stamps": [5001.0, 5004.5, 5008.25],
         "values": ["start", "shoe B", '{"event": "stop"}']},
        {"name": "EEG", "type": "EEG", "rate_hz": 300, "format": "float32",
         "channels": [("C3", "uV", "EEG")], "stamps": t[:30], "values": np.ones((30, 1))},
    ])


def test_pyxdf_reads_the_written_file(xdf_file, run):
    fz, cop_mm = run
    streams, header = pyxdf.load_xdf(str(xdf_file), dejitter_timestamps=False)
    by_name = {s["info"]["name"][0]: s for s in streams}
    assert set(by_name) == {"Treadmill", "AMTI right", "Events", "EEG"}
    tm = by_name["Treadmill"]
    np.testing.assert_array_equal(tm["time_series"][:, 0], fz.astype(np.float32))
    np.testing.assert_array_equal(tm["time_series"][:, 1], cop_mm.astype(np.float32))
    # pyxdf applied the clock offsets: sender time + offset
    assert tm["time_stamps"][0] == pytest.approx(5000.0 + CLOCK_OFFSET_S, abs=1e-6)
    assert by_name["Events"]["time_series"] == [["start"], ["shoe B"], ['{"event": "stop"}']]
    labels = [c["label"][0] for c in tm["info"]["desc"][0]["channels"][0]["channel"]]
    assert labels == ["Fz", "COPx", "temp"]


def test_forcelab_reads_force_streams_units_and_markers(xdf_file, run):
    fz, cop_mm = run
    rec = load_recording(xdf_file)
    assert [s.name for s in rec.streams] == ["treadmill", "amti_right"]
    tm, plate = rec.streams
    assert tm.rate_hz == RATE_HZ and tm.side is None and tm.t0_s == 0.0
    np.testing.assert_allclose(tm.fz, fz, rtol=1e-6)
    np.testing.assert_allclose(tm.channels["cop_ml"], cop_mm / 1000.0, rtol=1e-6)
    assert tm.units["cop_ml"] == "m" and tm.units["temp"] == "C"
    assert plate.side == "right" and plate.t0_s == pytest.approx(600 / RATE_HZ, abs=1e-6)
    np.testing.assert_allclose(plate.fz, fz[600:2400], rtol=1e-5, atol=1e-3)  # kN -> N
    assert set(plate.channels) == {"fz", "fml", "fap"}
    assert rec.meta["markers"] == [
        {"label": "start", "t_s": 1.0, "stream": "Events"},
        {"label": "shoe B", "t_s": 4.5, "stream": "Events"},
        {"label": '{"event": "stop"}', "t_s": 8.25, "stream": "Events"},
    ]
    (only,) = load_recording(xdf_file, stream="AMTI right").streams
    assert only.name == "amti_right"


def test_stances_from_the_xdf_file_equal_those_of_the_run(xdf_file, run):
    fz, cop_mm = run
    via_xdf = analyze_recording(load_recording(xdf_file, stream="Treadmill", body_mass_kg=62))
    direct = analyze_recording(Recording(
        [Stream("plate", RATE_HZ, {"fz": fz, "cop_ml": cop_mm / 1000.0})], body_mass_kg=62.0))
    key = [(round(s["start_s"] * RATE_HZ), s["side"], s["valid"]) for s in direct.stances]
    assert len(key) >= 25
    assert [(round(s["start_s"] * RATE_HZ), s["side"], s["valid"]) for s in via_xdf.stances] \
        == key


def test_cli_analyze_import_export_and_report_an_xdf_file(xdf_file, tmp_path):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    r = subprocess.run([sys.executable, "-m", "forcelab", "analyze", str(xdf_file), "--stream",
                        "Treadmill", "--body-mass", "62"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    assert "left" in r.stdout and "right" in r.stdout
    out = tmp_path / "lab.h5"
    r = subprocess.run([sys.executable, "-m", "forcelab", "import", str(xdf_file), "-o",
                        str(out), "--stream", "Treadmill"],
                       capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, r.stderr
    with open_session(out) as f:
        assert [(m["label"], round(m["t_s"], 3)) for m in f.markers] == [
            ("start", 1.0), ("shoe B", 4.5), ('{"event": "stop"}', 8.25)]
    csv = tmp_path / "lab.csv"
    html = tmp_path / "lab.html"
    for args in (["export", str(xdf_file), "--format", "csv", "-o", str(csv)],
                 ["report", str(xdf_file), "-o", str(html)]):
        r = subprocess.run([sys.executable, "-m", "forcelab", *args],
                           capture_output=True, text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr
    header = csv.read_text().splitlines()[0]
    assert "fz" in header and "cop_ml" in header
    assert "stances were analysed" in html.read_text(encoding="utf-8")


def test_bad_stream_name_and_options_are_clear(xdf_file, shared_data):
    with pytest.raises(InputError, match="`stream` 'Nope': no stream with samples"):
        load_recording(xdf_file, stream="Nope")
    with pytest.raises(InputError, match="`vertical` Fq names no channel"):
        load_recording(xdf_file, stream="Treadmill", vertical="Fq")
    with pytest.raises(InputError, match="`stream` cannot be used"):
        load_recording(shared_data / "fukuchi2017_running" / "RBDS001runT25forces.txt",
                       stream="x", vertical="Fy")


@pytest.mark.parametrize("name", ["minimal.xdf", "clock_resets.xdf", "empty_streams.xdf"])
def test_example_files_without_force_data_say_so_in_one_line(name, shared_data):
    path = shared_data / "xdf_examples" / name
    with pytest.raises(FileFormatError, match="no force stream in this XDF file .* `stream`"):
        load_recording(path)
    r = subprocess.run([sys.executable, "-m", "forcelab", "analyze", str(path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "no force stream" in r.stderr
    assert "Traceback" not in r.stderr


def test_clock_resets_are_handled_when_a_stream_is_named(shared_data):
    rec = load_recording(shared_data / "xdf_examples" / "clock_resets.xdf", stream="BioSemi",
                         vertical="1")
    (s,) = rec.streams
    assert s.rate_hz == 100.0
    # 27815 samples, the time line goes forward only (pyxdf undid the resets)
    finite = np.count_nonzero(np.isfinite(s.fz))
    assert finite >= 27815 - 50 and s.n_samples >= finite
    t = [m["t_s"] for m in rec.meta["markers"]]
    assert len(t) == 175 and t == sorted(t) and t[0] >= -1.0
    assert t[-1] <= s.t0_s + s.duration_s + 60


def test_empty_force_stream_and_damaged_file(tmp_path, shared_data):
    path = shared_data / "xdf_examples" / "empty_streams.xdf"
    with pytest.raises(FileFormatError, match="hold no samples"):
        load_recording(path, stream="Empty data stream: test stream 0 counter")
    bad = tmp_path / "cut.xdf"
    bad.write_bytes(b"XDF:\x01\x05\x01\x00<x")
    with pytest.raises(FileFormatError, match="not a readable XDF file"):
        load_recording(bad)
