"""CSV4 line parser, millis() validation and cell -> force conversion: pure functions."""

from __future__ import annotations

import numpy as np
import pytest
from driver_helpers import feed_in_cuts
from forcelab.drivers.protocols import csv4
from hypothesis import given, settings
from hypothesis import strategies as st

BANNER = "# fpdiy v1.0 id=FPDIY-0042 cells=4 rate=80 units=raw"


def _lines(n, t0=1000, units="raw", seed=0):
    rng = np.random.default_rng(seed)
    t = t0 + np.round(np.arange(n) * 12.5).astype(int)
    if units == "raw":
        c = rng.integers(-8_000_000, 8_000_000, (n, 4))
        text = [f"{a},{b},{d},{e},{f}\r\n" for a, (b, d, e, f) in zip(t, c.tolist(), strict=True)]
    else:
        c = np.round(rng.uniform(-50, 900, (n, 4)), 2)
        text = [f"{a},{b:.2f},{d:.2f},{e:.2f},{f:.2f}\n"
                for a, (b, d, e, f) in zip(t, c.tolist(), strict=True)]
    return t, c.astype(float), "".join(text)


def test_banner_header_comments_and_data_are_told_apart():
    t, c, text = _lines(5)
    stream = f"{BANNER}\r\nt_ms,c0,c1,c2,c3\r\n# ok stop\r\n" + text
    p = csv4.Csv4Parser(skip_first_line=False)
    out = p.feed(stream.encode())
    assert np.array_equal(out.t_ms, t) and np.array_equal(out.cells, c)
    assert out.comments == [BANNER, "# ok stop"] and out.headers == 1
    assert p.bad_lines == 0 and p.data_lines == 5
    info = csv4.parse_banner(out.comments[0])
    assert info == {"version": "1.0", "id": "FPDIY-0042", "units": "raw", "cells": 4,
                    "rate_hz": 80}


def test_partial_first_line_is_skipped_but_a_banner_after_reset_garbage_is_kept():
    t, c, text = _lines(3)
    p = csv4.Csv4Parser()
    out = p.feed(b"56,-8123,10422,9981,-120\r\n" + text.encode())  # "123456,..." cut short
    assert np.array_equal(out.t_ms, t) and p.bad_lines == 0
    assert p.bytes_discarded == len("56,-8123,10422,9981,-120\r\n")
    p = csv4.Csv4Parser()
    out = p.feed(b"\xf0\x8a\xff" + BANNER.encode() + b"\r\n" + text.encode())
    assert out.comments == [BANNER] and len(out.t_ms) == 3 and p.bytes_discarded == 3


def test_only_lines_with_exactly_five_numeric_fields_are_data():
    p = csv4.Csv4Parser(skip_first_line=False)
    good = "1000,1,2,3,4\n1013,-5,6.25,7,8\n"
    bad = ["1000,1,2,3\n", "1000,1,2,3,4,5\n", "1000,1,x,3,4\n", "abc\n", "1000;1;2;3;4\n",
           "-5,1,2,3,4\n", "1000,1,2,3,4,\n", "99999999999,1,2,3,4\n"]
    out = p.feed(("".join(bad) + good).encode())
    assert out.t_ms.tolist() == [1000, 1013]
    assert out.cells.tolist() == [[1, 2, 3, 4], [-5, 6.25, 7, 8]]
    assert p.bad_lines == len(bad)


def test_split_at_every_byte_gives_the_same_result():
    t, c, text = _lines(20, units="N")
    data = (BANNER + "\n" + text).encode()
    p = csv4.Csv4Parser(skip_first_line=False)
    ts, cs, comments = [], [], []
    for i in range(len(data)):
        out = p.feed(data[i : i + 1])
        ts += out.t_ms.tolist()
        cs += out.cells.tolist()
        comments += out.comments
    assert ts == t.tolist() and np.allclose(cs, c) and comments == [BANNER]


def test_endless_garbage_without_line_end_is_dropped_not_buffered():
    p = csv4.Csv4Parser(skip_first_line=False)
    for _ in range(10):
        p.feed(b"x" * 200)
    assert p.bad_lines >= 2 and p.bytes_discarded >= 1500


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000), st.lists(st.integers(1, 200), max_size=20))
def test_fuzz_random_bytes_never_raise_and_only_give_well_formed_rows(data, cuts):
    for out in feed_in_cuts(csv4.Csv4Parser().feed, data, cuts):
        assert out.cells.shape == (len(out.t_ms), 4)
        assert np.all((out.t_ms >= 0) & (out.t_ms < 2**32)) and np.isfinite(out.cells).all()


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.text(alphabet="abcxyz;:!? ", max_size=30)), max_size=40),
    st.lists(st.integers(1, 120), max_size=20),
)
def test_fuzz_data_lines_among_garbage_lines_are_all_recovered(items, cuts):
    """Valid lines (None) between garbage lines: every valid line, nothing else, any chunking."""
    rows, text, k = [], "junk-partial\n", 0
    for it in items:
        if it is None:
            rows.append([1000 + 13 * k, k, -k, 2 * k, 7])
            text += ",".join(str(v) for v in rows[-1]) + "\r\n"
            k += 1
        else:
            text += it + "\n"
    data = text.encode()
    p = csv4.Csv4Parser()
    got = []
    for out in feed_in_cuts(p.feed, data, cuts):
        got += np.column_stack([out.t_ms, out.cells]).tolist()
    assert got == rows
    assert p.bad_lines == sum(1 for it in items if it is not None and it.strip())


def test_calibration_reply_parsing():
    off, sc = csv4.parse_calibration("# cal off=-100,200,3,4 scale=420.5,419,421,418.25")
    assert off.tolist() == [-100, 200, 3, 4] and sc.tolist() == [420.5, 419, 421, 418.25]
    for bad in ("# cal off=1,2,3 scale=1,2,3,4", "# cal off=1,2,3,4 scale=1,0,3,4",
                "# cal off=a,2,3,4 scale=1,2,3,4", "# ok stop"):
        assert csv4.parse_calibration(bad) is None
    assert csv4.parse_banner("# ok start") is None


def test_cells_to_forces_gives_fz_and_the_protocol_cop():
    w, length = 0.4, 0.6
    # 1000 N at (x, y) = (0.1, -0.15) m spread bilinearly over TL, TR, BL, BR
    u, v = 0.5 + 0.1 / w, 0.5 - 0.15 / length
    f = 1000 * np.array([(1 - u) * v, u * v, (1 - u) * (1 - v), u * (1 - v)])
    off = np.array([100.0, -200.0, 50.0, 0.0])
    scale = np.array([400.0, 410.0, 420.0, 430.0])
    counts = (off + f * scale)[None, :]
    out = csv4.cells_to_forces(np.vstack([counts, off[None, :]]), off, scale, w, length)
    assert out[0, :4] == pytest.approx(f)
    assert out[0, 4] == pytest.approx(1000.0)
    assert out[0, 5] == pytest.approx(0.1) and out[0, 6] == pytest.approx(-0.15)
    assert out[1, 4] == pytest.approx(0.0) and np.isnan(out[1, 5:]).all()  # unloaded


def test_millis_validation_drops_flipped_digits_and_accepts_restarts():
    t = np.array([1000, 1013, 1025, 1038, 1050], dtype=np.int64)
    keep, restart, undecided, dup, bad = csv4.validate_millis(t, 988)
    assert keep.tolist() == [True] * 4 + [False] and undecided.tolist() == [False] * 4 + [True]
    spike = t.copy()
    spike[2] = 1025 + 4096  # a flipped bit in t_ms
    keep, restart, undecided, dup, bad = csv4.validate_millis(spike, 988, flush=True)
    assert keep.tolist() == [True, True, False, True, True] and bad == 1 and not restart.any()
    dip = t.copy()
    dip[2] = 25
    keep, *_ , bad = csv4.validate_millis(dip, 988, flush=True)
    assert keep.tolist() == [True, True, False, True, True] and bad == 1
    rst = np.array([1000, 1013, 3, 15, 28], dtype=np.int64)  # the board restarted
    keep, restart, _, _, bad = csv4.validate_millis(rst, 988, flush=True)
    assert keep.all() and restart.tolist() == [False, False, True, False, False] and bad == 0
    rep = np.array([1000, 1000, 1013], dtype=np.int64)
    keep, _, _, dup, _ = csv4.validate_millis(rep, 988, flush=True)
    assert keep.tolist() == [True, False, True] and dup == 1
    wrap = np.array([2**32 - 10, 2**32 - 1 + 3 - 2**32 + 0, 15], dtype=np.int64)
    keep, restart, *_ = csv4.validate_millis(wrap, 2**32 - 23, flush=True)
    assert keep.all() and not restart.any()  # the u32 wrap is a normal step
