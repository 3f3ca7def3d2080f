"""The compiled frame scanners (forcelab.drivers._frames) behind FPB1Codec and Ins1Codec:
byte-exact frames written from docs/protocols.md, garbage, splits at every byte, bad CRCs,
and the same frames and counters as the pure-Python reference parsers on any input."""

from __future__ import annotations

import binascii
import struct
from collections.abc import Callable

import numpy as np
import pytest
from driver_helpers import feed_in_cuts
from forcelab.drivers import _frames
from forcelab.drivers.protocols import fpb1, ins1
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_codecs import ReferenceFPB1Codec, ReferenceIns1Codec
from reference_codecs import crc16_modbus as reference_crc16_modbus

FPB1_COUNTERS = ("frames", "crc_errors", "bad_lengths", "resyncs", "bytes_discarded",
                 "pending_bytes")
INS1_COUNTERS = ("frames", "crc_errors", "resyncs", "bytes_discarded", "bytes_received",
                 "pending_bytes")


def test_the_codecs_use_the_compiled_scanner():
    assert _frames.__file__.endswith((".so", ".pyd"))
    assert fpb1.scan_fpb1 is _frames.scan_fpb1 and ins1.scan_ins1 is _frames.scan_ins1


# -- FPB1 frames as docs/protocols.md writes them ---------------------------------------------
def fpb1_frame(frame_type: int, token: int, payload: bytes) -> bytes:
    """SYNC A5 5A, TYPE, TOKEN, LEN u16, PAYLOAD, CRC-16/CCITT-FALSE over TYPE..PAYLOAD."""
    body = bytes([frame_type, token]) + struct.pack("<H", len(payload)) + payload
    return b"\xa5\x5a" + body + struct.pack("<H", binascii.crc_hqx(body, 0xFFFF))


def fpb1_data(seq: int, t_us: int, status: int, values: list, fmt: int = 0) -> bytes:
    """DATA 0x40: u32 seq, u64 t_us, u8 n, u8 fmt, u16 status, n x 6 x (i32 | f32)."""
    n = len(values) // 6
    head = struct.pack("<IQBBH", seq, t_us, n, fmt, status)
    return fpb1_frame(0x40, 0, head + struct.pack(f"<{6 * n}{'i' if fmt == 0 else 'f'}",
                                                  *values))


PING_REPLY = fpb1_frame(0x88, 7, b"\x00" + struct.pack("<QQ", 123456789, 42))
EVENT = fpb1_frame(0x41, 0, struct.pack("<IBI", 16, 5, 3))


def fpb1_stream() -> tuple[bytes, list[tuple[int, int, int, list]]]:
    frames = [(8 * k, 10**9 + 4000 * k, 0x40 if k == 2 else 0,
               list(range(-24 * k, -24 * k + 48))) for k in range(4)]
    stream = b"".join(fpb1_data(*f) for f in frames[:2]) + PING_REPLY + \
        b"".join(fpb1_data(*f) for f in frames[2:]) + EVENT
    return stream, frames


def test_fpb1_scan_decodes_data_frames_written_from_the_protocol_text():
    stream, frames = fpb1_stream()
    codec = fpb1.FPB1Codec()
    items, malformed = codec.scan(stream)
    assert malformed == 0 and codec.frames == 6 and codec.pending_bytes == 0
    assert [type(x) for x in items] == [fpb1.DataRun, fpb1.Frame, fpb1.DataRun, fpb1.Frame]
    assert items[1] == fpb1.Frame(0x88, 7, b"\x00" + struct.pack("<QQ", 123456789, 42))
    assert items[3] == fpb1.Frame(0x41, 0, struct.pack("<IBI", 16, 5, 3))
    for run, sent in ((items[0], frames[:2]), (items[2], frames[2:])):
        assert (run.fmt, run.n) == (0, 8)
        assert run.seq.tolist() == [f[0] for f in sent]
        assert run.t_us.tolist() == [f[1] for f in sent]
        assert run.status.tolist() == [f[2] for f in sent]
        assert run.seq.dtype == run.t_us.dtype == run.status.dtype == np.int64
        assert run.values.dtype == np.dtype("<i4") and run.values.shape == (2, 8, 6)
        np.testing.assert_array_equal(run.values, np.array([f[3] for f in sent]).reshape(2, 8, 6))


def test_fpb1_scan_splits_runs_by_shape_and_decodes_calibrated_floats():
    a = fpb1_data(0, 5, 0, list(range(48)))
    b = fpb1_data(8, 6, 0, [0.5 * v for v in range(12)], fmt=1)
    c = fpb1_data(10, 7, 0, [1.25] * 12, fmt=1)
    wrong = bytearray(fpb1_data(12, 8, 0, list(range(12))))  # n says 2, LEN says 3 samples
    wrong = fpb1_frame(0x40, 0, bytes(wrong[6:6 + 16]) + bytes(72))
    items, malformed = fpb1.FPB1Codec().scan(a + b + wrong + c)
    assert malformed == 1  # dropped, and it does not split the float run around it
    assert [(r.fmt, r.n, len(r.seq)) for r in items] == [(0, 8, 1), (1, 2, 2)]
    assert items[1].values.dtype == np.dtype("<f4")
    np.testing.assert_array_equal(items[1].values[0].ravel(), [0.5 * v for v in range(12)])
    np.testing.assert_array_equal(items[1].values[1].ravel(), [1.25] * 12)


def test_fpb1_u64_time_and_u32_sequence_keep_every_bit():
    f = fpb1_data(0xFFFFFFFF, (1 << 63) - 1, 0xFFFF, [-(2**31), 2**31 - 1] * 3)
    (run,), _ = fpb1.FPB1Codec().scan(f)
    assert (int(run.seq[0]), int(run.t_us[0]), int(run.status[0])) == \
        (0xFFFFFFFF, (1 << 63) - 1, 0xFFFF)
    assert run.values.ravel().tolist() == [-(2**31), 2**31 - 1] * 3


def _fpb1_summary(codec) -> tuple:
    return tuple(getattr(codec, k) for k in FPB1_COUNTERS)


def test_fpb1_split_at_every_byte_gives_the_same_frames_and_counters():
    stream, _ = fpb1_stream()
    stream = b"\x00\xa5\x11" + stream[:50] + b"\xa5\x5a\x40" + stream[50:]  # garbage, a dud
    whole = fpb1.FPB1Codec()
    want = whole.feed(stream)
    for cut in range(len(stream) + 1):
        codec, ref = fpb1.FPB1Codec(), ReferenceFPB1Codec()
        got = codec.feed(stream[:cut]) + codec.feed(stream[cut:])
        assert got == ref.feed(stream[:cut]) + ref.feed(stream[cut:]) == want, cut
        assert _fpb1_summary(codec) == _fpb1_summary(ref) == _fpb1_summary(whole), cut
        # the hot path: the same frames, DATA decoded
        scanner = fpb1.FPB1Codec()
        items = scanner.scan(stream[:cut])[0] + scanner.scan(stream[cut:])[0]
        flat = [f for f in items if isinstance(f, fpb1.Frame)]
        assert flat == [f for f in want if f.type != fpb1.DATA]
        seqs = [s for r in items if isinstance(r, fpb1.DataRun) for s in r.seq.tolist()]
        assert seqs == [struct.unpack_from("<I", f.payload)[0] for f in want
                        if f.type == fpb1.DATA]
        assert _fpb1_summary(scanner) == _fpb1_summary(whole)


def test_fpb1_garbage_and_bad_crc_are_counted_as_before():
    stream, _ = fpb1_stream()
    bad = bytearray(PING_REPLY)
    bad[8] ^= 0x10  # a flipped payload bit: CRC error, advance one byte
    data = b"junk" + bytes(bad) + stream + b"\xa5\x5a\x00\x00\xff\xff" + EVENT + b"\xa5"
    codec, ref = fpb1.FPB1Codec(), ReferenceFPB1Codec()
    assert codec.feed(data) == ref.feed(data)
    assert _fpb1_summary(codec) == _fpb1_summary(ref)
    assert codec.crc_errors == 1 and codec.bad_lengths == 1 and codec.pending_bytes == 1
    assert codec.bytes_discarded == 4 + len(bad) + 6  # the junk, the dud, the bad-LEN header


def damaged_stream(seed: int, garbage: bytes, flips: list[tuple[int, int]],
                   any_frame: Callable, data_frame: Callable) -> bytes:
    """Up to 24 parts, each a cut of ``garbage``, ``any_frame(rng, k)`` (any type, random
    payload) or ``data_frame(rng, k)``, with the bits of ``flips`` (position, xor) flipped."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(int(rng.integers(1, 25))):
        kind = int(rng.integers(0, 4))
        if kind == 0:
            parts.append(garbage[: int(rng.integers(0, len(garbage) + 1))])
        else:
            parts.append((any_frame if kind == 1 else data_frame)(rng, k))
    stream = bytearray(b"".join(parts))
    for pos, val in flips:
        if stream:
            stream[pos % len(stream)] ^= val
    return bytes(stream)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**31), st.lists(st.integers(1, 300), max_size=30),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=8),
       st.binary(max_size=40), st.booleans())
def test_fpb1_equals_the_reference_on_damaged_streams(seed, cuts, flips, garbage, expire):
    stream = damaged_stream(
        seed, garbage, flips,
        lambda rng, k: fpb1_frame(int(rng.integers(0, 256)), k % 256, rng.integers(
            0, 256, int(rng.integers(0, 40)), dtype=np.uint8).tobytes()),
        lambda rng, k: fpb1_data(8 * k, 1000 * k, 0,
                                 rng.integers(-9, 9, 6 * int(rng.integers(1, 4))).tolist()))
    codec, ref, scanner = fpb1.FPB1Codec(), ReferenceFPB1Codec(), fpb1.FPB1Codec()
    got = [f for chunk in feed_in_cuts(codec.feed, stream, cuts) for f in chunk]
    want = [f for chunk in feed_in_cuts(ref.feed, stream, cuts) for f in chunk]
    items = [x for chunk in feed_in_cuts(lambda b: scanner.scan(b)[0], stream, cuts)
             for x in chunk]
    if expire:
        got += codec.expire()
        want += ref.expire()
        items += scanner.scan(b"", expire=True)[0]
    assert got == want
    assert _fpb1_summary(codec) == _fpb1_summary(ref) == _fpb1_summary(scanner)
    # DATA frames come out decoded, in order, every one the reference found (less malformed)
    runs = fpb1.decode_data([f.payload for f in want if f.type == fpb1.DATA])
    assert [s for r in items if isinstance(r, fpb1.DataRun) for s in r.seq.tolist()] == \
        [s for r in runs for s in r.seq.tolist()]
    assert [f for f in items if isinstance(f, fpb1.Frame)] == \
        [f for f in want if f.type != fpb1.DATA]


# -- INS1 --------------------------------------------------------------------------------------
def ins1_frame(frame_type: int, payload: bytes) -> bytes:
    """MAGIC 'INS1', VER 1, TYPE, LEN u16, PAYLOAD, CRC-16/MODBUS over MAGIC..PAYLOAD (bit by
    bit, as the protocol text defines it)."""
    body = b"INS1" + struct.pack("<BBH", 1, frame_type, len(payload)) + payload
    crc = 0xFFFF
    for b in body:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return body + struct.pack("<H", crc)


def ins1_sample(seq: int, t_dev_us: int) -> bytes:
    return struct.pack("<BHI16H3h3hH2hBB", ord("R"), seq, t_dev_us, *range(16), 1, 2, 3, 4,
                       5, 6, 700, 10, -20, 90, 1)


def _ins1_summary(codec) -> tuple:
    return tuple(getattr(codec, k) for k in INS1_COUNTERS)


def test_ins1_scan_hands_samples_out_as_records_between_the_other_frames():
    samples = [ins1_sample(65534 + k & 0xFFFF, 5000 * k) for k in range(4)]
    sync_reply = ins1_frame(0x88, b"\x03\x00" + struct.pack("<QII", 99, 1, 2))
    stream = b"".join(ins1_frame(0x50, s) for s in samples[:3]) + sync_reply + \
        ins1_frame(0x50, samples[3]) + ins1_frame(0x50, bytes(58))  # one of the wrong size
    codec = ins1.Ins1Codec()
    items = codec.scan(stream)
    assert [type(x) for x in items] == [ins1.SampleRun, ins1.Frame, ins1.SampleRun, ins1.Frame]
    assert items[0] == ins1.SampleRun(b"".join(samples[:3]), 3)
    assert items[1] == ins1.Frame(0x88, b"\x03\x00" + struct.pack("<QII", 99, 1, 2))
    assert items[2] == ins1.SampleRun(samples[3], 1)
    assert items[3] == ins1.Frame(0x50, bytes(58))
    arr = np.frombuffer(items[0].records, ins1.SAMPLE_DTYPE)
    assert arr["seq"].tolist() == [65534, 65535, 0] and arr["t_dev_us"].tolist() == [0, 5000,
                                                                                      10000]
    assert codec.frames == 6 and codec.crc_errors == codec.bytes_discarded == 0


def test_ins1_split_at_every_byte_gives_the_same_frames_and_counters():
    stream = b"\x00INS" + ins1_frame(0x50, ins1_sample(1, 2)) + b"INS1\x01" + \
        ins1_frame(0x51, b"\x01\x05\x00\x00\x00") + ins1_frame(0x50, ins1_sample(2, 5002))
    bad = bytearray(ins1_frame(0x50, ins1_sample(3, 10002)))
    bad[20] ^= 4
    stream += bytes(bad) + b"INS"
    whole = ins1.Ins1Codec()
    want = whole.feed(stream)
    assert whole.crc_errors == 1 and len(want) == 3
    for cut in range(len(stream) + 1):
        codec, ref = ins1.Ins1Codec(), ReferenceIns1Codec()
        got = codec.feed(stream[:cut]) + codec.feed(stream[cut:])
        assert got == ref.feed(stream[:cut]) + ref.feed(stream[cut:]) == want, cut
        assert _ins1_summary(codec) == _ins1_summary(ref) == _ins1_summary(whole), cut


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**31), st.lists(st.integers(1, 300), max_size=30),
       st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), max_size=8),
       st.binary(max_size=40))
def test_ins1_equals_the_reference_on_damaged_streams(seed, cuts, flips, garbage):
    stream = damaged_stream(
        seed, garbage, flips,
        lambda rng, k: ins1_frame(int(rng.integers(0, 256)), rng.integers(
            0, 256, int(rng.integers(0, 70)), dtype=np.uint8).tobytes()),
        lambda rng, k: ins1_frame(0x50, ins1_sample(k, 5000 * k)))
    codec, ref, scanner = ins1.Ins1Codec(), ReferenceIns1Codec(), ins1.Ins1Codec()
    got = [f for chunk in feed_in_cuts(codec.feed, stream, cuts) for f in chunk]
    want = [f for chunk in feed_in_cuts(ref.feed, stream, cuts) for f in chunk]
    items = [x for chunk in feed_in_cuts(scanner.scan, stream, cuts) for x in chunk]
    assert got == want
    assert _ins1_summary(codec) == _ins1_summary(ref) == _ins1_summary(scanner)
    records = b"".join(x.records for x in items if isinstance(x, ins1.SampleRun))
    assert records == b"".join(f.payload for f in want
                               if f.type == ins1.SAMPLE and len(f.payload) == ins1.SAMPLE_SIZE)
    assert [f for f in items if isinstance(f, ins1.Frame)] == \
        [f for f in want if f.type != ins1.SAMPLE or len(f.payload) != ins1.SAMPLE_SIZE]


@pytest.mark.parametrize("data", [b"", b"123456789", bytes(range(256)) * 3, bytes(7)])
def test_crcs_match_the_references(data):
    assert ins1.crc16_modbus(data) == reference_crc16_modbus(data)
    assert fpb1.crc16_ccitt_false(data) == binascii.crc_hqx(data, 0xFFFF)
