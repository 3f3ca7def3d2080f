"""FPB1 STOP: the reply's last sequence number tells the driver what the plate sent.

Byte pairs are written from the protocol document (docs/protocols.md, FPB1 frame and command
table); the pty tests run the driver against the FPB1 simulator with faults switched on at the
moment that matters (a stall, lost frames) just before the STOP.
"""

from __future__ import annotations

import binascii
import struct

import numpy as np
from driver_helpers import per_sample, read_samples, wait_until
from forcelab.drivers.protocols import fpb1

# STOP, token 0x2A, no payload: A5 5A | 05 | 2A | 00 00 | CRC-16/CCITT-FALSE over 05..00 = 0x7982
STOP_2A = bytes.fromhex("a5 5a 05 2a 00 00 82 79")
# its reply: TYPE 0x85, token 0x2A, LEN 5, status 0 (OK), u32 last_seq = 7999 (8000 samples)
STOP_2A_REPLY_7999 = bytes.fromhex("a5 5a 85 2a 05 00 00 3f 1f 00 00 ea d4")
# the same command refused while stopped: status 2 (BAD_STATE), no last_seq
STOP_2A_REPLY_BAD_STATE = bytes.fromhex("a5 5a 85 2a 01 00 02 1c 58")


def _reply_bytes(token: int, last_seq: int) -> bytes:
    """The STOP reply as the protocol document spells it (its own CRC recipe)."""
    body = struct.pack("<BBHBI", fpb1.STOP | fpb1.REPLY, token, 5, 0, last_seq)
    return b"\xa5\x5a" + body + struct.pack("<H", binascii.crc_hqx(body, 0xFFFF))


def test_stop_request_and_replies_byte_for_byte():
    assert fpb1.encode_frame(fpb1.STOP, b"", 0x2A) == STOP_2A
    assert fpb1.encode_frame(fpb1.STOP | fpb1.REPLY, b"\x00" + struct.pack("<I", 7999),
                             0x2A) == STOP_2A_REPLY_7999
    assert _reply_bytes(0x2A, 7999) == STOP_2A_REPLY_7999
    codec = fpb1.FPB1Codec()
    ok, refused = codec.feed(STOP_2A_REPLY_7999 + STOP_2A_REPLY_BAD_STATE)
    assert (ok.type, ok.token, ok.payload) == (0x85, 0x2A, bytes.fromhex("00 3f 1f 00 00"))
    assert struct.unpack("<I", ok.payload[1:])[0] == 7999
    assert (refused.type, refused.token, refused.payload) == (0x85, 0x2A, b"\x02")
    assert codec.crc_errors == 0


def _plate(open_sim, seed):
    (dev,) = open_sim(f"sim:plate?seed={seed}")
    sim = next(s for s in dev.sim_setup.simulators if s.port.device == dev.port)
    wire = {"sent": bytearray(), "replies": []}
    on_bytes, reply = sim.on_command_bytes, sim.reply

    def seen(data: bytes) -> None:  # what the driver wrote, byte for byte
        wire["sent"] += data
        if STOP_2A in data and sim._stall_until == float("inf"):
            sim._stall_until = sim.model_time_s() + 0.2  # a stall held until the STOP ends
        on_bytes(data)

    def replied(cmd, token, status, body=b""):
        wire["replies"].append((cmd, token, status, bytes(body)))
        reply(cmd, token, status, body)

    sim.on_command_bytes, sim.reply = seen, replied
    return dev, sim, wire


def _stop_with_token_2a(dev, wire) -> int:
    """Stop the plate with token 0x2A; check the bytes both ways; the reply's last_seq."""
    with dev._lock:
        dev._token = 0x29  # the next command goes out with token 0x2A
        wire["sent"].clear()
        dev.stop()
    assert bytes(wire["sent"]).startswith(STOP_2A)
    (last_seq,) = [struct.unpack("<I", body)[0] for cmd, token, status, body in wire["replies"]
                   if cmd == fpb1.STOP and token == 0x2A and status == 0]
    return last_seq


def test_a_stall_before_stop_delivers_every_sample_up_to_the_last_seq(open_sim):
    """The plate's output stalls (frames held back) right before the STOP: the held frames and
    then the reply come in one burst; every sample the reply counts arrives, none is missing."""
    dev, sim, wire = _plate(open_sim, 31)
    dev.start()
    blocks = read_samples(dev, 400, 10.0)
    read_before = list(blocks)
    with sim._lock:
        sim._stall_until = float("inf")  # until 0.2 s after the STOP arrives
    wait_until(lambda: len(sim._held) >= 5, 10.0, "frames held back by the stall")
    last_seq = _stop_with_token_2a(dev, wire)
    blocks += dev.read(0.05)
    seq, _ = per_sample(blocks)
    n_before = sum(b.n for b in read_before)
    assert last_seq == sim.k - 1 and last_seq + 1 >= n_before + 5 * sim.spf
    np.testing.assert_array_equal(seq, np.arange(last_seq + 1))
    assert dev.unreceived_at_stop() == 0
    assert not dev.streaming


def test_frames_lost_before_stop_are_counted_from_the_reply(open_sim):
    """The last frames before the STOP never arrive (lost on the link; no later frame shows the
    gap): the STOP reply's last_seq says how many, exactly the simulator's lost samples."""
    dev, sim, wire = _plate(open_sim, 32)
    dev.start()
    blocks = read_samples(dev, 300, 10.0)
    with sim._lock:
        sim.faults.spec.drop = 1.0  # every frame from now on is lost
        k_lost_from = sim.k
        sim._stall_until = float("inf")  # and the link stalls until the STOP arrives
    wait_until(lambda: sim.k >= k_lost_from + 160, 10.0, "frames lost on the link")
    last_seq = _stop_with_token_2a(dev, wire)
    blocks += dev.read(0.05)
    seq, _ = per_sample(blocks)
    lost = sum(r.n for r in sim.faults.records("drop"))
    assert lost >= 160 and last_seq == sim.k - 1
    np.testing.assert_array_equal(seq, np.arange(k_lost_from))  # the rest came, in order
    assert dev.unreceived_at_stop() == lost == last_seq + 1 - k_lost_from
    # a new START forgets the count: the next STOP reply makes a new one
    dev.start()
    assert dev.unreceived_at_stop() == 0
    dev.stop()
