"""A sequence number the device clock contradicts: byte-exact frames, written from the docs."""

from __future__ import annotations

import binascii
import struct

import numpy as np
import pytest
from forcelab.drivers.protocols import fpb1, ins1
from forcelab.drivers.sequence import CONFIRM_FRAMES, SequenceCheck

RATE_HZ = 1000
SPF = 8
PERIOD_US = 1e6 / RATE_HZ


def fpb1_data_frame(seq: int, t_us: int) -> bytes:
    """An FPB1 DATA frame as docs/protocols.md lays it out: A5 5A, TYPE 0x40, TOKEN 0, LEN,
    payload (u32 seq, u64 t_us, u8 n, u8 fmt 0, u16 status, n x 6 i32 counts),
    CRC-16/CCITT-FALSE
    over TYPE..payload."""
    payload = struct.pack("<IQBBH", seq % (1 << 32), t_us, SPF, 0, 0) + struct.pack(f"<{6 * SPF}i",
                                                                          *range(6 * SPF))
    body = bytes([0x40, 0]) + struct.pack("<H", len(payload)) + payload
    return b"\xa5\x5a" + body + struct.pack("<H", binascii.crc_hqx(body, 0xFFFF))


def fpb1_judge(frames: list[tuple[int, int]], check: SequenceCheck | None = None) -> list[bool]:
    codec = fpb1.FPB1Codec()
    got = codec.feed(b"".join(fpb1_data_frame(s, t) for s, t in frames))
    assert len(got) == len(frames) and codec.crc_errors == 0  # every CRC is valid
    (run,) = fpb1.decode_data([f.payload for f in got])
    check = check or SequenceCheck(1 << 32, None)
    return check.judge(run.seq, run.t_us, SPF, PERIOD_US, 1000 + 2 * PERIOD_US).tolist()


def test_fpb1_a_wild_sequence_number_with_a_valid_crc_is_the_only_frame_condemned():
    frames = [(k * SPF, 5_000_000 + k * SPF * 1000) for k in range(6)]
    frames[3] = (frames[3][0] + 100_000, frames[3][1])  # seq +100,000, clock continues
    assert fpb1_judge(frames) == [False, False, False, True, False, False]
    frames[3] = (frames[3][0] - 100_000 - 40, frames[3][1])  # a wild step backwards
    assert fpb1_judge(frames) == [False, False, False, True, False, False]


def test_fpb1_real_gaps_and_clock_jumps_are_not_corruption():
    lost = [(k * SPF, 5_000_000 + k * SPF * 1000) for k in (0, 1, 2, 6, 7)]  # 3 frames lost
    assert fpb1_judge(lost) == [False] * 5
    jumped = [(k * SPF, 5_000_000 + k * SPF * 1000 + (500_000 if k >= 3 else 0))
              for k in range(6)]  # the device clock jumps +0.5 s, the counter continues
    assert fpb1_judge(jumped) == [False] * 6


def frame_at(k: int, wild: int = 0, clock_s: float = 0.0) -> tuple[int, int]:
    return k * SPF + wild, 5_000_000 + k * SPF * 1000 + int(clock_s * 1e6)


def test_fpb1_the_first_frame_is_judged_by_the_frames_after_it():
    assert fpb1_judge([frame_at(0, wild=100_000)] + [frame_at(k) for k in (1, 2, 3)]) == \
        [True, False, False, False]


def test_fpb1_frames_are_judged_across_reads_one_frame_at_a_time():
    check = SequenceCheck(1 << 32, None)
    got = [fpb1_judge([frame_at(k, wild=100_000 if k in (3, 4) else 0)], check)[0]
           for k in range(8)]
    assert got == [False, False, False, True, True, False, False, False]


def test_fpb1_a_clock_jump_while_frames_were_lost_starts_a_new_time_line():
    check = SequenceCheck(1 << 32, None)
    # frames 3..5 lost and the clock jumped +2 s: the first frames after it disagree with the
    # last good frame, but agree with each other; after CONFIRM_FRAMES they are the time line
    got = [fpb1_judge([frame_at(k, clock_s=2.0 if k >= 6 else 0.0)], check)[0]
           for k in (0, 1, 2, 6, 7, 8, 9, 10)]
    assert got == [False] * 3 + [True] * (CONFIRM_FRAMES - 1) + [False] * (6 - CONFIRM_FRAMES)


def ins1_sample_frame(seq: int, t_dev_us: int) -> bytes:
    """An INS1 SAMPLE frame as docs/protocols.md lays it out: 'INS1', VER 1, TYPE 0x50, LEN 59,
    payload (side 'L', u16 seq, u32 t_dev_us, 16 u16 pressures, 3+3 i16, u16 f, 2 i16, u8, u8),
    CRC-16/MODBUS over MAGIC..payload."""
    payload = struct.pack("<BHI16H3h3hH2hBB", ord("L"), seq % 65536, t_dev_us % (1 << 32),
                          *range(16), 1, 2, 3, 4, 5, 6, 700, 10, -20, 90, 1)
    assert len(payload) == ins1.SAMPLE_SIZE
    body = b"INS1" + struct.pack("<BBH", 1, 0x50, len(payload)) + payload
    crc = 0xFFFF
    for b in body:  # CRC-16/MODBUS bit by bit, as the protocol text defines it
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return body + struct.pack("<H", crc)


@pytest.mark.parametrize("jump", [10, -7, 30_000])
def test_ins1_a_wild_sequence_number_with_a_valid_crc_is_the_only_sample_condemned(jump):
    rate_hz = 200
    period_us = 1e6 / rate_hz
    seqs = [65530 + k for k in range(10)]  # across the 16-bit wrap
    times = [(1 << 32) - 20_000 + k * 5000 for k in range(10)]  # across the u32 clock wrap
    seqs[4] += jump
    codec = ins1.Ins1Codec()
    got = codec.feed(b"".join(ins1_sample_frame(s, t) for s, t in zip(seqs, times, strict=True)))
    assert len(got) == 10 and codec.crc_errors == 0
    arr = ins1.decode_samples([f.payload for f in got])
    bad = SequenceCheck(1 << 16, 1 << 32).judge(arr["seq"], arr["t_dev_us"], 1, period_us,
                                                max(0.5 * period_us, 2000.0))
    assert np.flatnonzero(bad).tolist() == [4]
