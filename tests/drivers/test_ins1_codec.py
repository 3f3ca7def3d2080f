"""INS1 codec, payload codecs and clock fit: pure functions, no I/O."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from driver_helpers import feed_in_cuts
from forcelab.drivers.clock import ClockFit
from forcelab.drivers.errors import ProtocolError
from forcelab.drivers.ins1 import CHANNELS
from forcelab.drivers.protocols import ins1
from hypothesis import given, settings
from hypothesis import strategies as st


def _sample_records(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    s = np.zeros(n, ins1.SAMPLE_DTYPE)
    s["side"] = ord("L")
    s["seq"] = (65530 + np.arange(n)) % 65536
    s["t_dev_us"] = (2**32 - 20_000 + 10_000 * np.arange(n)) % 2**32
    s["p"] = rng.integers(0, 400, (n, 16))
    s["acc"] = rng.integers(-8000, 8000, (n, 3))
    s["gyr"] = rng.integers(-3000, 3000, (n, 3))
    s["f_total"] = rng.integers(0, 4000, n)
    s["cop"] = rng.integers(-5000, 5000, (n, 2))
    s["battery_pct"] = 80
    s["flags"] = 1
    return s


def _sample_frames(n: int, seed: int = 0) -> list[bytes]:
    payloads = ins1.encode_samples(_sample_records(n, seed))
    return [ins1.encode_frame(ins1.SAMPLE, p) for p in payloads]


def _crc16_modbus_bitwise(data: bytes) -> int:
    """The CRC as the protocol text defines it: reflected poly 0xA001, init 0xFFFF, bit by bit."""
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_crc_check_value_matches_the_protocol_and_a_bitwise_reference():
    assert ins1.crc16_modbus(b"123456789") == 0x4B37
    for data in (bytes(range(256)) * 3, bytes(range(7))):  # even and odd lengths
        assert ins1.crc16_modbus(data) == _crc16_modbus_bitwise(data)


def test_frame_layout_is_magic_version_type_length_payload_crc():
    fr = ins1.encode_frame(0x81, b"\x07\x00abc")
    assert fr[:4] == b"INS1" and fr[4] == 1 and fr[5] == 0x81
    assert struct.unpack_from("<H", fr, 6)[0] == 5
    assert fr[8:13] == b"\x07\x00abc"
    assert struct.unpack_from("<H", fr, 13)[0] == ins1.crc16_modbus(fr[:13])
    with pytest.raises(ValueError, match="exceeds 512"):
        ins1.encode_frame(0x50, bytes(513))


def test_codec_decodes_frames_split_at_every_byte():
    frames = _sample_frames(5)
    stream = b"".join(frames)
    codec = ins1.Ins1Codec()
    out = []
    for i in range(len(stream)):
        out += codec.feed(stream[i : i + 1])
    assert [ins1.encode_frame(f.type, f.payload) for f in out] == frames
    assert codec.crc_errors == codec.bytes_discarded == codec.resyncs == 0


def test_codec_batch_path_equals_the_small_path():
    frames = _sample_frames(200, seed=3)
    stream = b"".join(frames)
    big = ins1.Ins1Codec().feed(stream)  # many candidates: vectorised CRC
    small = []
    codec = ins1.Ins1Codec()
    for k in range(0, len(stream), 100):  # few candidates per call: scalar CRC
        small += codec.feed(stream[k : k + 100])
    assert [f.payload for f in big] == [f.payload for f in small] == [f[8:-2] for f in frames]


def test_bad_crc_advances_one_byte_and_recovers_a_frame_hidden_inside():
    good = _sample_frames(3)
    # A fake header claiming a long payload, whose "payload" contains real frames.
    fake = b"INS1" + bytes([1, 0x50]) + struct.pack("<H", 150)
    stream = fake + good[0] + good[1] + good[2] + bytes(40)
    codec = ins1.Ins1Codec()
    out = codec.feed(stream)
    assert [f.payload for f in out] == [g[8:-2] for g in good]
    assert codec.crc_errors == 1
    assert codec.bytes_discarded == len(fake) + 40 - 3  # 3 tail bytes held as a partial magic
    assert codec.resyncs == 1


def test_wrong_version_and_oversized_length_are_not_frames():
    good = _sample_frames(1)[0]
    bad_ver = bytearray(good)
    bad_ver[4] = 2
    too_long = b"INS1\x01\x50" + struct.pack("<H", 600)
    codec = ins1.Ins1Codec()
    out = codec.feed(bytes(bad_ver) + too_long + good)
    assert len(out) == 1 and out[0].payload == good[8:-2]
    assert codec.crc_errors == 0
    assert codec.bytes_discarded == len(bad_ver) + len(too_long)


@settings(max_examples=120, deadline=None)
@given(
    st.lists(st.tuples(st.binary(max_size=60), st.booleans()), min_size=1, max_size=25),
    st.integers(0, 2**32 - 1),
    st.lists(st.integers(1, 300), max_size=20),
)
def test_fuzz_frames_in_garbage_with_random_splits_are_all_recovered(items, seed, cuts):
    """Frames separated by garbage (without the magic) are all found, in order, and nothing
    else; random chunking does not change the result."""
    rng = np.random.default_rng(seed)
    frames, stream = [], b""
    for garbage, corrupt in items:
        garbage = garbage.replace(b"INS1", b"XXXX")
        payload = rng.integers(0, 256, int(rng.integers(0, 80)), dtype=np.uint8).tobytes()
        fr = ins1.encode_frame(int(rng.integers(0, 256)), payload)
        if corrupt:
            b = bytearray(fr)
            b[int(rng.integers(8, len(b)))] ^= 1 << int(rng.integers(0, 8))
            fr = bytes(b)
        else:
            frames.append(fr)
        stream += garbage + fr
    codec = ins1.Ins1Codec()
    out = [f for frames in feed_in_cuts(codec.feed, stream, cuts) for f in frames]
    assert [ins1.encode_frame(f.type, f.payload) for f in out] == frames
    assert codec.crc_errors >= sum(1 for _, c in items if c)


def test_bit_flips_at_1e_4_per_byte_recover_every_undamaged_frame_exactly():
    rng = np.random.default_rng(7)
    frames = _sample_frames(20_000, seed=1)
    sent = bytearray()
    damaged = set()
    for k, fr in enumerate(frames):
        b = bytearray(fr)
        hits = np.flatnonzero(rng.random(len(b)) < 1e-4)
        for h in hits:
            b[h] ^= 1 << int(rng.integers(0, 8))
        if hits.size:
            damaged.add(k)
        sent += b
    assert 50 < len(damaged) < 250
    codec = ins1.Ins1Codec()
    out = []
    for k in range(0, len(sent), 4096):
        out += codec.feed(bytes(sent[k : k + 4096]))
    payloads = {f.payload for f in out}
    expected = [fr[8:-2] for k, fr in enumerate(frames) if k not in damaged]
    assert [f.payload for f in out] == expected
    assert not payloads & {frames[k][8:-2] for k in damaged}
    # each damaged frame is either a CRC error or had its header broken (no candidate)
    assert codec.crc_errors <= len(damaged)
    assert codec.crc_errors >= 0.8 * len(damaged)


def test_samples_round_trip_and_physical_units():
    s = _sample_records(50, seed=5)
    s["p"][3, 7] = ins1.SENSOR_FAULT
    dec = ins1.decode_samples(ins1.encode_samples(s))
    assert np.array_equal(dec, s)
    phys = ins1.samples_to_physical(dec)
    names = [c.name for c in CHANNELS]
    assert names[:3] == ["fz", "cop_x", "cop_y"] and names[3] == "p01" and names[-1] == "gyr_z"
    assert np.allclose(phys[:, 0], s["f_total"] * 0.5)
    assert np.allclose(phys[:, 1:3], s["cop"] * 1e-4)
    assert np.isnan(phys[3, 3 + 7]) and np.isfinite(np.delete(phys[:, 3:19], 7, axis=1)).all()
    assert np.allclose(phys[:, 19:22], s["acc"] / 4096)
    assert np.allclose(phys[:, 22:25], s["gyr"] * 0.1)
    with pytest.raises(ProtocolError, match="expected 59"):
        ins1.decode_samples([bytes(58)])


def test_info_and_layout_round_trip_and_reject_garbage():
    f32 = float(np.float32(0.1))  # the wire carries f32
    info = ins1.Ins1Info("right", 0xABCD1234, 42, "SERIAL123456", "1.2.0", 16, 200, 2.5,
                         1 / 4096, f32)
    assert ins1.Ins1Info.unpack(info.pack()) == info
    bad = bytearray(info.pack())
    bad[0] = ord("X")
    with pytest.raises(ProtocolError, match="side"):
        ins1.Ins1Info.unpack(bytes(bad))
    with pytest.raises(ProtocolError, match="bytes"):
        ins1.Ins1Info.unpack(b"L")
    layout = [{"x_mm": -10 * k, "y_mm": 12 * k, "area_mm2": 400 + k, "region": ins1.REGIONS[k % 9]}
              for k in range(16)]
    assert ins1.unpack_layout(ins1.pack_layout(layout)) == layout
    with pytest.raises(ProtocolError, match="truncated"):
        ins1.unpack_layout(ins1.pack_layout(layout)[:-3])


def test_force_cross_check_flags_only_real_mismatches():
    area = np.full(16, 500.0)
    p = np.full((3, 16), 100.0)  # 100 kPa on 500 mm² = 50 N per sensor, 800 N total
    f_sum = ins1.force_from_pressures(p, area)
    assert np.allclose(f_sum, 800.0)
    mism = ins1.force_mismatch(np.array([800.0, 805.0, 1000.0]), f_sum)
    assert mism.tolist() == [False, False, True]
    p[0, 2] = np.nan  # a faulty sensor: cannot check, never flagged
    assert not ins1.force_mismatch(np.array([0.0]), ins1.force_from_pressures(p[:1], area))[0]


@pytest.mark.parametrize("ppm", [-150.0, 35.0, 400.0])
def test_clock_fit_recovers_drift_and_offset_from_noisy_round_trips(ppm):
    rng = np.random.default_rng(int(ppm) + 1000)
    fit = ClockFit()
    host0 = 1.7e9
    dev0 = 123.456
    for k in range(120):  # one round trip every 0.5 s for 60 s
        host_send = host0 + 0.5 * k + rng.uniform(0, 0.01)
        up = 0.0002 + rng.exponential(0.0005)  # one-way delays (USB), occasionally long
        down = 0.0002 + rng.exponential(0.0005)
        host_rx = host_send + up
        dev_rx = dev0 + (host_rx - host0) * (1 + ppm * 1e-6)
        dev_tx = dev_rx + 20e-6
        host_recv = host_rx + 20e-6 / (1 + ppm * 1e-6) + down
        fit.add(host_send, host_recv, dev_rx, dev_tx)
    assert fit.drift_ppm == pytest.approx(ppm, abs=5.0)
    dev_t = dev0 + 30.0 * (1 + ppm * 1e-6)
    assert fit.to_host(dev_t) == pytest.approx(host0 + 30.0, abs=0.5e-3)


def test_clock_fit_needs_a_round_trip_before_mapping():
    with pytest.raises(ProtocolError, match="TIME_SYNC"):
        ClockFit().to_host(1.0)


def test_pushed_bytes_parse_later_exactly_like_fed_bytes():
    rng = np.random.default_rng(3)
    frames = [ins1.encode_frame(ins1.SAMPLE, bytes(rng.integers(0, 256, ins1.SAMPLE_SIZE,
                                                                 dtype=np.uint8)))
              for _ in range(40)]
    stream = b"\x00junk" + b"".join(frames[:20]) + b"INS1\x01" + b"".join(frames[20:])
    fed = ins1.Ins1Codec()
    want = fed.feed(stream)
    pushed = ins1.Ins1Codec()
    cuts = np.sort(rng.integers(0, len(stream), 12))
    got = []
    bounds = np.concatenate(([0], cuts, [len(stream)]))
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        pushed.push(stream[a:b])
        if a % 2:  # parse at arbitrary points; frames come out once, in order
            got += pushed.feed(b"")
    got += pushed.feed(b"")
    assert got == want and len(want) == 40
    assert (pushed.bytes_received, pushed.bytes_discarded, pushed.frames) == \
        (fed.bytes_received, fed.bytes_discarded, fed.frames) == (len(stream), 10, 40)
    with pytest.raises(TypeError):
        pushed.push("text")


def _fake_headers(n: int, seed: int) -> bytes:
    """Garbage made of plausible INS1 headers (magic, version 1, lengths up to 512) with no
    payload behind them: every one is a candidate frame whose CRC fails."""
    rng = np.random.default_rng(seed)
    out = bytearray()
    while len(out) < n:
        out += b"INS1" + bytes([1, 0x50]) + struct.pack("<H", int(rng.integers(0, 513)))
    return bytes(out[:n])


def _dense_headers(n: int, seed: int) -> bytes:
    """The worst case: a header claiming the longest payload every 8 bytes."""
    return (b"INS1\x01\x50\x00\x02" * (n // 8 + 1))[:n]


def _damaged_frames(n: int, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    stream = bytearray(b"".join(_sample_frames(n // 69 + 1, seed)))[:n]
    for pos in rng.integers(0, len(stream), len(stream) // 50):
        stream[pos] ^= 1 << int(rng.integers(0, 8))
    return bytes(stream)


def _random_bytes(n: int, seed: int) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.mark.parametrize("make", [_fake_headers, _dense_headers, _damaged_frames, _random_bytes])
def test_parse_work_is_linear_in_the_input_whatever_the_damage(make):
    """The work (bytes scanned for the magic + bytes run through the CRC) per byte received is
    bounded, and 4x the input costs 4x the work (64 KiB of headers took 16.7 s before)."""
    work = {}
    for size in (16 * 1024, 64 * 1024):
        data = make(size, 7)
        codec = ins1.Ins1Codec()
        for at in range(0, size, 4096):  # as the device delivers it: 4 KiB reads
            codec.feed(data[at:at + 4096])
        codec.feed(b"")
        assert codec.bytes_received == size
        work[size] = codec.bytes_examined
        assert codec.bytes_examined <= ins1.WORST_CASE_WORK_PER_BYTE * size
    assert work[64 * 1024] <= 4 * work[16 * 1024] * 1.1
