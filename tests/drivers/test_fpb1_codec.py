"""FPB1 codec, DATA decoding, calibration maths and clock fit (no I/O)."""

from __future__ import annotations

import binascii
import struct

import numpy as np
import pytest
from forcelab.drivers.clock import ClockFit
from forcelab.drivers.errors import ProtocolError
from forcelab.drivers.protocols import fpb1
from forcelab.drivers.protocols.fpb1 import crc16_ccitt_false
from forcelab.drivers.protocols.ins1 import crc16_modbus
from forcelab.drivers.sim.fpb1_sim import make_calibration
from hypothesis import given, settings
from hypothesis import strategies as st


def test_crc_check_values_from_the_protocol():
    assert crc16_ccitt_false(b"123456789") == 0x29B1
    assert crc16_modbus(b"123456789") == 0x4B37


def test_encode_frame_layout():
    f = fpb1.encode_frame(0x08, b"\x01\x02\x03", token=7)
    assert f[:2] == b"\xa5\x5a"
    assert f[2] == 0x08 and f[3] == 7
    assert struct.unpack_from("<H", f, 4)[0] == 3
    assert f[6:9] == b"\x01\x02\x03"
    assert struct.unpack_from("<H", f, 9)[0] == binascii.crc_hqx(f[2:9], 0xFFFF)
    with pytest.raises(ValueError):
        fpb1.encode_frame(0x40, bytes(1025))


def _frames(n: int, seed: int = 0) -> list[bytes]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        body = rng.integers(0, 256, int(rng.integers(0, 60)), dtype=np.uint8).tobytes()
        out.append(fpb1.encode_frame(int(rng.integers(0, 256)), body, i % 256))
    return out


def test_codec_byte_by_byte_and_whole():
    frames = _frames(30)
    stream = b"".join(frames)
    c1, c2 = fpb1.FPB1Codec(), fpb1.FPB1Codec()
    got1 = c1.feed(stream)
    got2 = [f for b in stream for f in c2.feed(bytes([b]))]
    assert got1 == got2
    assert [fpb1.encode_frame(f.type, f.payload, f.token) for f in got1] == frames
    assert c1.crc_errors == c1.resyncs == c1.bytes_discarded == 0
    assert c1.frames == 30 and c1.pending_bytes == 0


def test_bad_crc_advances_one_byte_and_finds_embedded_frame():
    good = fpb1.encode_frame(0x40, b"payload", 0)
    # A header claiming 30 bytes whose "payload" contains a complete valid frame: skipping the
    # claimed length would lose it.
    fake = b"\xa5\x5a\x40\x00" + struct.pack("<H", 30)
    stream = fake + good + bytes(30)
    c = fpb1.FPB1Codec()
    got = c.feed(stream)
    assert [f.payload for f in got] == [b"payload"]
    assert c.crc_errors == 1
    assert c.resyncs >= 1
    assert c.bytes_discarded >= len(fake)


def test_oversized_length_is_not_a_frame():
    good = fpb1.encode_frame(0x41, b"x", 0)
    stream = b"\xa5\x5a\x40\x00" + struct.pack("<H", 5000) + good
    c = fpb1.FPB1Codec()
    assert [f.payload for f in c.feed(stream)] == [b"x"]
    assert c.bad_lengths == 1


def test_garbage_between_frames_is_counted():
    frames = _frames(5, seed=3)
    garbage = b"\x00\x11\x22\x33"
    c = fpb1.FPB1Codec()
    got = c.feed(garbage.join(frames))
    assert len(got) == 5
    assert c.bytes_discarded == 4 * len(garbage)
    assert c.resyncs == 4


def test_lone_sync_byte_is_kept_for_the_next_chunk():
    f = fpb1.encode_frame(0x42, b"log", 0)
    c = fpb1.FPB1Codec()
    assert c.feed(b"junk" + f[:1]) == []
    assert c.pending_bytes == 1
    assert [x.payload for x in c.feed(f[1:])] == [b"log"]


@settings(max_examples=120, deadline=None)
@given(
    st.integers(0, 2**31),
    st.lists(st.integers(1, 97), min_size=1, max_size=30),
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=6),
)
def test_fuzz_corrupted_stream_yields_only_sent_frames(seed, cuts, flips):
    frames = _frames(25, seed=seed % 1000)
    stream = bytearray(b"".join(frames))
    damaged_at = set()
    for pos, val in flips:
        p = pos % len(stream)
        stream[p] ^= (val or 1)
        damaged_at.add(p)
    c = fpb1.FPB1Codec()
    got, pos, k = [], 0, 0
    while pos < len(stream):
        n = cuts[k % len(cuts)]
        got += c.feed(bytes(stream[pos:pos + n]))
        pos += n
        k += 1
    # A damaged LEN may claim up to 1024 bytes: the parser waits for them before it can reject
    # the frame and re-hunt from the next byte. A live stream goes on; here, pad it.
    got += c.feed(bytes(fpb1.MAX_LEN + 8))
    sent = set(frames)
    enc = [fpb1.encode_frame(f.type, f.payload, f.token) for f in got]
    assert all(e in sent for e in enc), "a frame that was never sent came out"
    # every frame not touched by a flip is recovered, in order
    starts = np.cumsum([0] + [len(f) for f in frames])
    intact = [f for f, a, b in zip(frames, starts[:-1], starts[1:], strict=True)
              if not any(a <= p < b for p in damaged_at)]
    assert [e for e in enc if e in set(intact)] == intact


def _reference_decode(payload: bytes):
    seq, t_us, n, fmt, status = struct.unpack_from("<IQBBH", payload)
    code = "i" if fmt == 0 else "f"
    vals = struct.unpack_from(f"<{n * 6}{code}", payload, 16)
    return seq, t_us, status, np.array(vals).reshape(n, 6)


def test_decode_data_matches_struct_reference():
    rng = np.random.default_rng(5)
    payloads = []
    for i in range(20):
        fmt = 0 if i < 12 else 1
        n = 8 if i % 5 else 3
        vals = rng.integers(-2**23, 2**23, (n, 6)) if fmt == 0 else rng.normal(0, 500, (n, 6))
        payloads.append(fpb1.encode_data(1000 + 8 * i, 10**9 + 8000 * i, i, vals, fmt))
    payloads.insert(5, b"short")  # malformed: skipped
    runs = fpb1.decode_data(payloads)
    flat = [(int(r.seq[j]), int(r.t_us[j]), int(r.status[j]), r.values[j])
            for r in runs for j in range(len(r.seq))]
    good = [p for p in payloads if p != b"short"]
    assert len(flat) == len(good)
    for (seq, t_us, status, v), p in zip(flat, good, strict=True):
        rs, rt, rst, rv = _reference_decode(p)
        assert (seq, t_us, status) == (rs, rt, rst)
        np.testing.assert_array_equal(v, rv.astype(v.dtype))


def test_calibration_round_trip_and_inverse():
    cal = make_calibration(3)
    back = fpb1.Calibration.unpack(cal.pack())
    np.testing.assert_array_equal(back.matrix, cal.matrix)
    np.testing.assert_array_equal(back.gain, cal.gain)
    assert back.cal_date == "2026-03-14" and back.size_mm == (500, 1600)
    loads = np.array([[10.0, -20.0, 800.0, 5.0, -7.0, 1.5]])
    np.testing.assert_allclose(cal.counts_to_loads(cal.loads_to_counts(loads)), loads,
                               rtol=1e-9, atol=1e-9)
    # mV/V per count follows the protocol formula
    k = 2
    expected = cal.v_ref / 2**23 / cal.gain[k] / cal.v_exc * 1000
    assert cal.mvv_per_count[k] == pytest.approx(expected)


def test_bad_calibration_is_rejected():
    cal = make_calibration(1)
    with pytest.raises(ProtocolError, match="bytes"):
        fpb1.Calibration.unpack(cal.pack()[:-1])
    cal.gain = np.zeros(6)
    with pytest.raises(ProtocolError, match="invalid"):
        fpb1.Calibration.unpack(cal.pack())


def test_cop_and_free_moment_of_a_point_load():
    # A vertical load of 700 N at (x, y) = (0.10, -0.25) m with a shear and a free moment,
    # plate origin (a, b, c) = (0.002, -0.003, -0.04): build the moments by hand.
    a, b, c = 0.002, -0.003, -0.04
    x, y, fx, fy, fz, tz = 0.10, -0.25, 15.0, -40.0, 700.0, 2.5
    my = (x - a) * fz - c * fx
    mx = (y - b) * fz + c * fy
    mz = tz + (x - a) * fy - (y - b) * fx
    out = fpb1.loads_to_samples(np.array([[fx, fy, fz, mx, my, mz],
                                          [1.0, 1.0, 5.0, 0.1, 0.1, 0.1]]),
                                np.array([a, b, c]), threshold_n=20.0)
    np.testing.assert_allclose(out[0, 6:], [x, y, tz], atol=1e-12)
    assert np.isnan(out[1, 6:]).all()  # unloaded: undefined, not garbage
    np.testing.assert_array_equal(out[1, :6], [1.0, 1.0, 5.0, 0.1, 0.1, 0.1])


def test_identity_round_trip_and_version_check():
    ident = fpb1.Identity(1, "FPB1-X", "SN123", "2.0.1")
    assert fpb1.Identity.unpack(ident.pack()) == ident
    with pytest.raises(ProtocolError, match="version 2"):
        fpb1.Identity.unpack(fpb1.Identity(2, "m", "s", "f").pack())
    with pytest.raises(ProtocolError):
        fpb1.Identity.unpack(b"\x01abc")


def test_clock_fit_recovers_offset_and_skew():
    rng = np.random.default_rng(2)
    clock = ClockFit(keep=512, n_bins=8, min_span_s=10.0)  # as FPB1Device uses it
    offset, skew = 1.7e9, 80e-6
    for i in range(200):
        dev = 500.0 + i * 0.2
        host_mid = dev + offset + skew * (dev - 500.0)
        rtt = 0.0004 + rng.exponential(0.003)
        asym = rng.uniform(0, rtt)  # where the device answered inside the round trip
        tx = host_mid - asym
        clock.add(tx, tx + rtt, dev)
    assert clock.skew - 1.0 == pytest.approx(skew, abs=15e-6)
    for dev in (510.0, 530.0):
        truth = dev + offset + skew * (dev - 500.0)
        assert abs(clock.to_host(dev) - truth) < 0.002


def test_expire_frees_a_reply_stuck_behind_a_truncated_frame():
    data = fpb1.encode_frame(0x40, bytes(200), 0)
    reply = fpb1.encode_frame(0x85, b"\x00\x01\x02\x03\x04", 9)
    c = fpb1.FPB1Codec()
    # the DATA frame was cut short; the STOP reply follows and then the line goes quiet
    assert c.feed(data[:40] + reply) == []
    assert c.pending_bytes == 40 + len(reply)
    assert c.expire() == [fpb1.Frame(0x85, 9, b"\x00\x01\x02\x03\x04")]
    assert c.pending_bytes == 0 and c.bytes_discarded == 40 and c.resyncs == 1
    assert c.expire() == []
