"""Fault specification parsing and deterministic, logged injection."""

from __future__ import annotations

import pytest
from forcelab.drivers.errors import DeviceError
from forcelab.drivers.sim.faults import FaultInjector, FaultSpec


def test_parse_the_documented_syntax():
    s = FaultSpec.parse("bitflip:1e-4, drop:0.001,partial,unplug:1.5,replug:0.5,stall:0.2")
    assert s.bitflip == 1e-4 and s.drop == 0.001 and s.partial is True
    assert s.unplug == 1.5 and s.replug == 0.5 and s.stall == 0.2
    assert FaultSpec.parse("") == FaultSpec()
    assert FaultSpec.parse(None).any_frame_faults is False


@pytest.mark.parametrize("bad, match", [
    ("flip:0.1", "unknown fault"),
    ("drop:2", "probability"),
    ("drop:abc", "needs a number"),
    ("stall:-1", "rate"),
    ("partial:7", "takes no value"),
    ("bitflip:nan", "finite"),
    ("wildseq:1.5", "probability"),
    ("wildseq_n:0", "whole, non-zero"),
    ("wildseq_n:2.5", "whole, non-zero"),
])
def test_bad_specs_are_clear_errors(bad, match):
    with pytest.raises(DeviceError, match=match):
        FaultSpec.parse(bad)


def test_injection_is_deterministic_and_logged():
    frames = [bytes([i % 256]) * 200 for i in range(300)]

    def run(seed):
        inj = FaultInjector("bitflip:1e-3,drop:0.02,duplicate:0.02,garbage:0.02,truncate:0.02",
                            seed=seed)
        return [inj.frame(f, i, seq=8 * i, n=8) for i, f in enumerate(frames)], inj

    out1, inj1 = run(7)
    out2, inj2 = run(7)
    out3, _ = run(8)
    assert out1 == out2 and inj1.log == inj2.log
    assert out1 != out3
    for i in inj1.dropped_frames():
        assert out1[i] == b""
    for r in inj1.records("duplicate"):
        assert len(out1[r.frame]) >= 2  # sent twice (possibly after truncation)
    flipped = {r.frame for r in inj1.records("bitflip")}
    for i, (f, o) in enumerate(zip(frames, out1, strict=True)):
        if i in inj1.dropped_frames():
            continue
        touched = i in flipped or i in {r.frame for r in inj1.log if r.kind in
                                         ("truncate", "duplicate", "garbage")}
        if not touched:
            assert o == f
    # about 1e-3 flips per byte over 60 kB
    n_flips = sum(len(r.detail["positions"]) for r in inj1.records("bitflip"))
    assert 20 <= n_flips <= 110
    assert inj1.damaged_frames() >= flipped


def test_partial_cuts_only_the_first_frame():
    inj = FaultInjector("partial", seed=1)
    a = inj.frame(b"0123456789", 0)
    assert 0 < len(a) < 10 and b"0123456789".endswith(a)
    assert inj.frame(b"abc", 1) == b"abc"
    assert inj.damaged_frames() == {0}


def test_time_faults():
    inj = FaultInjector("stall:50,clockjump:50,clockjump_s:-0.25", seed=3)
    stalls = [inj.stall(0.01) for _ in range(200)]
    jumps = [inj.clock_jump(0.01) for _ in range(200)]
    assert any(stalls) and set(stalls) <= {0.0, 0.3}
    assert any(jumps) and set(jumps) <= {0.0, -0.25}
    ov = FaultInjector("overrange:1,overrange_s:0.1", seed=1)
    assert ov.overrange(0.0) and ov.overrange(0.05)


def test_wild_sequence_numbers_are_drawn_per_frame_and_logged():
    inj = FaultInjector("wildseq:1,wildseq_n:-7", seed=3)
    assert inj.wild_seq(5, 40, 8, 0.25) == -7
    (rec,) = inj.records("wildseq")
    assert (rec.frame, rec.seq, rec.n, rec.detail) == (5, 40, 8, {"jump": -7})
    assert FaultInjector("wildseq:0", seed=3).wild_seq(5, 40, 8) == 0
    assert FaultSpec.parse("wildseq:0.01").wildseq_n == 100000
