"""LiveAnalyzer: streaming stances per stream -> running per-side figures and SI."""

import numpy as np
import pytest
from forcelab.drivers import Block
from forcelab.drivers.sim.gait import GaitModel, GaitParams
from hypothesis import given, settings
from hypothesis import strategies as st

from forcelab.acquisition import LiveAnalyzer, robinson_si_pct, symmetry_text


def _blocks(samples, rate_hz, chunks, drop=()):
    """Cut samples into Blocks of the given sizes, leaving out the blocks listed in ``drop``."""
    out, i, k = [], 0, 0
    while i < samples.shape[0]:
        n = chunks[k % len(chunks)]
        if k not in drop:
            out.append(Block(i, i / rate_hz, 1000.0 + i / rate_hz, samples[i : i + n]))
        i += n
        k += 1
    return out


def _truth_si(model, t_end):
    peaks = {"left": [], "right": []}
    for s in model.stances(0, t_end):
        peaks[s.side].append(s.midstance_peak_n)
    return robinson_si_pct(np.mean(peaks["left"]), np.mean(peaks["right"]))


def test_two_belts_give_the_simulated_asymmetry_and_cadence():
    rate, seconds = 500.0, 30.0
    model = GaitModel(GaitParams(speed_m_s=3.5, asymmetry=-0.08, body_mass_kg=70), seed=4)
    t = np.arange(int(seconds * rate)) / rate
    live = LiveAnalyzer(body_mass_kg=70)
    for side in ("left", "right"):
        live.add_stream(f"plate_{side}", rate, side, fz_column=0)
        fz = model.foot(side, t)["fz"][:, None]
        for b in _blocks(fz, rate, [37, 100, 8, 250]):
            live.feed(f"plate_{side}", b, b.seq / rate)
    live.flush()
    fig = live.figures()
    truth = model.stances(0, seconds - 0.5)
    n_true = {s: sum(1 for x in truth if x.side == s) for s in ("left", "right")}
    for side in ("left", "right"):
        assert abs(fig["sides"][side]["n_stances"] - n_true[side]) <= 2
    assert fig["si_pct"] == pytest.approx(_truth_si(model, seconds), abs=1.0)
    assert "higher on the left" in fig["symmetry_text"]
    assert fig["cadence_spm"] == pytest.approx(model.params.mean_cadence_spm, rel=0.03)
    assert fig["contact_time_s"] == pytest.approx(model.params.mean_contact_time_s, rel=0.1)
    bw = fig["sides"]["left"]["midstance_peak_bw"]
    assert bw == pytest.approx(fig["sides"]["left"]["midstance_peak_n"] / (70 * 9.80665))


def test_one_plate_under_both_feet_is_split_by_cop():
    rate, seconds = 300.0, 25.0
    model = GaitModel(GaitParams(speed_m_s=3.0, asymmetry=0.10), seed=2)
    t = np.arange(int(seconds * rate)) / rate
    plate = model.plate(t)
    samples = np.column_stack([plate["fz"], plate["cop_x"]])
    live = LiveAnalyzer()
    live.add_stream("plate", rate, None, fz_column=0, cop_ml_column=1)
    for b in _blocks(samples, rate, [64]):
        live.feed("plate", b, b.seq / rate)
    live.flush()
    stances = [s for s in live.stances() if s["valid"]]
    truth = model.stances(0, seconds)
    # every detected stance gets the side of the true stance it overlaps
    matched = 0
    for s in stances:
        mid = (s["start_s"] + s["end_s"]) / 2
        true = [x for x in truth if x.start_s <= mid < x.end_s]
        assert len(true) == 1
        assert s["side"] == true[0].side
        matched += 1
    assert matched >= len(truth) - 10  # the first 5 s only initialise the detector's baseline
    fig = live.figures()
    assert fig["si_pct"] == pytest.approx(_truth_si(model, seconds), abs=1.5)
    assert "higher on the right" in fig["symmetry_text"]


@settings(max_examples=8, deadline=None)
@given(chunks=st.lists(st.integers(1, 400), min_size=1, max_size=6), seed=st.integers(0, 5))
def test_gaps_are_fed_as_missing_data_and_never_shift_time(chunks, seed):
    """Dropped blocks leave NaN in place: stances after a gap keep their true times."""
    rate, seconds = 200.0, 20.0
    model = GaitModel(GaitParams(speed_m_s=3.0), seed=seed)
    t = np.arange(int(seconds * rate)) / rate
    fz = model.foot("left", t)["fz"][:, None]
    blocks = _blocks(fz, rate, chunks)
    drop = {len(blocks) // 2}
    live = LiveAnalyzer()
    live.add_stream("insole_left", rate, "left", fz_column=0)
    for k, b in enumerate(blocks):
        if k not in drop:
            live.feed("insole_left", b, b.seq / rate)
    live.flush()
    truth = model.stances(0, seconds)
    for s in live.stances():
        if not s["valid"]:
            continue
        nearest = min(truth, key=lambda x: abs(x.start_s - s["start_s"]))
        assert abs(nearest.start_s - s["start_s"]) < 0.03
        assert nearest.side == "left"


def test_duplicate_blocks_are_ignored():
    rate = 200.0
    model = GaitModel(GaitParams(speed_m_s=3.0), seed=1)
    t = np.arange(int(15 * rate)) / rate
    fz = model.foot("right", t)["fz"][:, None]
    blocks = _blocks(fz, rate, [50])
    once, twice = LiveAnalyzer(), LiveAnalyzer()
    for live, seq in ((once, blocks), (twice, [b for b in blocks for _ in (0, 1)])):
        live.add_stream("r", rate, "right", fz_column=0)
        for b in seq:
            live.feed("r", b, b.seq / rate)
        live.flush()
    assert once.stances() == twice.stances()
    assert once.n_stances > 10


def test_symmetry_words():
    assert symmetry_text(-7.8) == "7.8 % higher on the left"
    assert symmetry_text(3.25, "contact time") == "contact time 3.2 % higher on the right"
    assert symmetry_text(None) == "n/a"
    assert robinson_si_pct(100.0, 110.0) == pytest.approx(100 * 10 / 105)
    assert robinson_si_pct(0.0, 0.0) is None


def test_a_foot_seen_by_a_plate_and_an_insole_takes_its_figures_from_the_plate():
    rate_plate, rate_insole, seconds = 500.0, 100.0, 20.0
    model = GaitModel(GaitParams(speed_m_s=3.0, asymmetry=-0.06), seed=6)
    live = LiveAnalyzer()
    for side in ("left", "right"):
        for name, rate, priority, scale in (
            (f"insole_{side}", rate_insole, 2, 0.8),  # insoles read 20 % low, as they do
            (f"plate_{side}", rate_plate, 0, 1.0),
        ):
            live.add_stream(name, rate, side, fz_column=0, priority=priority)
            t = np.arange(int(seconds * rate)) / rate
            fz = scale * model.foot(side, t + 0.013)["fz"][:, None]  # devices not in step
            for b in _blocks(fz, rate, [64]):
                live.feed(name, b, b.seq / rate)
    live.flush()
    fig = live.figures()
    for side in ("left", "right"):
        s = fig["sides"][side]
        assert s["source"] == f"plate_{side}"
        plate = fig["streams"][f"plate_{side}"]
        insole = fig["streams"][f"insole_{side}"]
        assert s["midstance_peak_n"] == plate["midstance_peak_n"]
        assert insole["midstance_peak_n"] == pytest.approx(
            0.8 * plate["midstance_peak_n"], rel=0.02
        )
        # stride time from one device per foot, not from both interleaved
        assert s["cadence_spm"] == pytest.approx(model.params.mean_cadence_spm, rel=0.03)
    assert fig["si_pct"] == pytest.approx(_truth_si(model, seconds), abs=1.0)


def _one_plate_live_and_batch(fz, cop, rate, chunks):
    from forcelab.analysis import analyze_recording
    from forcelab.recording import Recording, Stream

    live = LiveAnalyzer()
    live.add_stream("plate", rate, None, fz_column=0, cop_ml_column=1)
    for b in _blocks(np.column_stack([fz, cop]), rate, chunks):
        live.feed("plate", b, b.seq / rate)
    live.flush()
    batch = analyze_recording(Recording([Stream("plate", rate, {"fz": fz, "cop_ml": cop})]))
    return live.stances(), batch.stances


@settings(max_examples=10, deadline=None)
@given(
    chunks=st.lists(st.integers(1, 300), min_size=1, max_size=5),
    skip_at=st.integers(15, 60),
    cross_every=st.integers(5, 9),
)
def test_live_gives_the_sides_and_step_widths_batch_gives(chunks, skip_at, cross_every):
    """One plate under both feet, with crossover steps and one skip (same foot twice): the
    live analysis of the blocks ends with exactly the batch analysis' sides, double contacts,
    contact edges, step widths and crossovers."""
    rate = 300.0
    model = GaitModel(GaitParams(speed_m_s=3.5), seed=3)
    t = np.arange(int(30 * rate)) / rate
    plate = model.plate(t)
    fz, cop = plate["fz"].copy(), plate["cop_x"].copy()
    # a foot landing 30 % past the other foot's line every few steps, and a skip: from stance
    # skip_at on, the COP sides are swapped (the same foot landed twice)
    loaded = np.r_[False, fz > 50.0, False].astype(int)
    ons = np.flatnonzero(np.diff(loaded) == 1)
    offs = np.flatnonzero(np.diff(loaded) == -1)
    mid = float(np.mean(cop[fz > 50.0]))
    for k, (a, b) in enumerate(zip(ons, offs, strict=True)):
        if k % cross_every == 0:
            cop[a:b] = mid - 1.3 * (cop[a:b] - mid)
        if k >= skip_at:
            cop[a:b] = mid - (cop[a:b] - mid)
    live, batch = _one_plate_live_and_batch(fz, cop, rate, chunks)
    assert len(live) == len(batch) > 50
    for a, b in zip(live, batch, strict=True):
        assert a["side"] == b["side"]
        assert a["double_contact"] == b["double_contact"]
        assert a["crossover"] == b["crossover"]
        for key in ("start_s", "end_s", "contact_time_s", "cop_ml_m", "step_width_m"):
            assert (a[key] is None and b[key] is None) or a[key] == pytest.approx(b[key], abs=1e-9)
    assert sum(b["double_contact"] for b in batch) == 1
    assert any(b["crossover"] for b in batch)
    assert all(b["valid"] for b in batch if b["reason"] == "")
