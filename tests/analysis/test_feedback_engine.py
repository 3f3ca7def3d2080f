"""The feedback engine: targets, zones, schedules and per-stride SI, from synthetic stances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from forcelab.analysis.asymmetry import robinson_si_pct
from forcelab.analysis.feedback import (
    METRICS,
    SI_TOLERANCE_PCT,
    TOLERANCE_PCT,
    Cue,
    FeedbackEngine,
    parse_protocol,
    parse_schedule,
    parse_target,
    zone_of,
)
from forcelab.errors import InputError

STEP_S = 0.35
CONTACT_S = 0.25


def _stances(values, first_side="left", t0=0.0, key="valr_n_s", **extra):
    """Alternating stances, one step apart, with ``key`` = each value."""
    out = []
    for k, v in enumerate(values):
        side = first_side if k % 2 == 0 else ("right" if first_side == "left" else "left")
        start = t0 + k * STEP_S
        out.append({"stream": f"plate_{side}", "side": side, "start_s": start,
                    "end_s": start + CONTACT_S, "valid": True, key: v, **extra})
    return out


def _feed(engine, stances, latency_s=0.01):
    cues = []
    for s in stances:
        cues += engine.feed(s, s["end_s"] + latency_s)
    return cues


def test_targets_value_band_and_change():
    assert parse_target("180", "cadence_spm").band() == pytest.approx(
        (180 * (1 - TOLERANCE_PCT / 100), 180 * (1 + TOLERANCE_PCT / 100)))
    assert parse_target("150:180", "cadence_spm").band() == (150.0, 180.0)
    change = parse_target("-15%", "valr_n_s")
    assert change.band() is None  # no baseline yet
    low, high = change.band(1000.0)
    assert (low, high) == pytest.approx((850 - 42.5, 850 + 42.5))
    # SI: a tolerance in SI points, a band may be negative
    assert parse_target("0", "midstance_peak_si").band() == (-SI_TOLERANCE_PCT, SI_TOLERANCE_PCT)
    assert parse_target("-3:3", "midstance_peak_si").band() == (-3.0, 3.0)


@pytest.mark.parametrize("text", ["fast", "180-150", "180:150", "5:5", "-100%", "%", "1e3", ""])
def test_bad_targets(text):
    with pytest.raises(InputError, match="target"):
        parse_target(text, "valr_n_s")


def test_unknown_metric_lists_the_known_ones():
    with pytest.raises(InputError, match="valr_n_s"):
        parse_target("10", "loading")
    assert {"midstance_peak_si", "valr_n_s", "peak_braking_n", "contact_time_s",
            "cadence_spm", "step_width_m"} <= set(METRICS)


@pytest.mark.parametrize("text", ["often", "summary", "summary:1", "summary:x", "faded:3"])
def test_bad_schedules(text):
    with pytest.raises(InputError, match="schedule"):
        parse_schedule(text)


def test_protocol():
    assert parse_protocol("baseline=60,training=300,post=60,retention=60") == [
        ("baseline", 60.0), ("training", 300.0), ("post", 60.0), ("retention", 60.0)]
    for bad in ("baseline=60", "training=-1", "training=x", "post=10,training=10",
                "training=10,training=5", "warmup=5,training=10", "training"):
        with pytest.raises(InputError, match="protocol|training"):
            parse_protocol(bad)


def test_zones():
    assert [zone_of(v, (1.0, 2.0)) for v in (0.5, 1.0, 1.5, 2.0, 2.5)] == [
        "below", "in", "in", "in", "above"]
    assert zone_of(1.0, None) == ""


def test_every_stance_of_the_trained_side_gets_a_cue_with_its_value_and_zone():
    engine = FeedbackEngine("valr_n_s", "900:1100", side="left")
    engine.start_phase("", 0.0, 20.0)
    values = [800.0, 1.0, 1000.0, 2.0, 1200.0, 3.0]
    stances = _stances(values)
    cues = _feed(engine, stances)
    assert [c.value for c in cues] == [800.0, 1000.0, 1200.0]
    assert [c.zone for c in cues] == ["below", "in", "above"]
    assert all(c.shown and c.side == "left" and c.phase == "" for c in cues)
    assert [c.stance_index for c in cues] == [0, 2, 4]
    assert [c.t_toe_off_s for c in cues] == [stances[k]["end_s"] for k in (0, 2, 4)]
    assert all(c.latency_s == pytest.approx(0.01) for c in cues)


def test_stances_outside_a_phase_invalid_or_without_the_metric_give_no_cue():
    engine = FeedbackEngine("valr_n_s", "900:1100", side="both")
    stances = _stances([1000.0] * 8)
    stances[5]["valid"] = False
    stances[6]["valr_n_s"] = None
    engine.start_phase("", stances[2]["start_s"], 10.0)
    cues = _feed(engine, stances)
    assert [c.stance_index for c in cues] == [2, 3, 4, 7]


def test_cue_json_round_trip_and_bad_json():
    engine = FeedbackEngine("contact_time_s", "0.2:0.3")
    engine.start_phase("training", 0.0, 10.0)
    cue = _feed(engine, _stances([0.25], key="contact_time_s"))[0]
    assert Cue.from_json(cue.to_json()) == cue
    assert cue.text() == "IN      0.25 s  (band 0.2 to 0.3)  left"
    for bad in ("", "[]", '{"side": "left"}'):
        with pytest.raises(InputError, match="not a feedback cue"):
            Cue.from_json(bad)


def test_faded_follows_the_accumulator_law():
    duration_s = 30.0
    engine = FeedbackEngine("valr_n_s", "900:1100", side="both", schedule="faded")
    engine.start_phase("training", 0.0, duration_s)
    cues = _feed(engine, _stances([1000.0] * 100))
    acc = 0.0
    for c in cues:
        rate = 100.0 * min(1.0, max(0.0, 1.0 - c.t_toe_off_s / duration_s))
        assert c.schedule_state == pytest.approx(rate)
        acc += c.schedule_state / 100.0
        assert c.shown == (acc >= 1.0)
        acc -= 1.0 if c.shown else 0.0
    shown = sum(c.shown for c in cues)
    # the expected number shown is the integral of the rate over the cues
    assert shown == math.floor(sum(c.schedule_state for c in cues) / 100.0 + 1e-9)
    first, last = cues[:10], cues[-10:]
    assert sum(c.shown for c in first) > sum(c.shown for c in last) == 0


def test_bandwidth_shows_only_outside_the_band():
    engine = FeedbackEngine("valr_n_s", "900:1100", side="both", schedule="bandwidth")
    engine.start_phase("training", 0.0, 30.0)
    values = np.random.default_rng(1).uniform(700, 1300, 60)
    cues = _feed(engine, _stances(values))
    assert len(cues) == 60
    assert [c.shown for c in cues] == [not 900 <= v <= 1100 for v in values]


def test_summary_gives_one_cue_per_n_with_their_mean():
    engine = FeedbackEngine("valr_n_s", "900:1100", side="right", schedule="summary:4")
    engine.start_phase("training", 0.0, 30.0)
    values = np.arange(1, 41, dtype=float) * 50
    stances = _stances(values)
    cues = _feed(engine, stances)
    right = [s for s in stances if s["side"] == "right"]
    assert len(cues) == len(right) // 4
    for k, c in enumerate(cues):
        group = right[4 * k: 4 * k + 4]
        assert c.value == pytest.approx(np.mean([s["valr_n_s"] for s in group]))
        assert c.t_toe_off_s == group[-1]["end_s"] and c.schedule_state == 4.0
        assert c.zone == zone_of(c.value, (900.0, 1100.0))


def test_si_cue_per_stride_pairs_the_completing_stance_with_the_other_foot():
    peaks = [1000.0, 1100.0, 1010.0, 1080.0, 990.0, 1120.0]
    engine = FeedbackEngine("midstance_peak_si", "-2:2", side="right")
    engine.start_phase("training", 0.0, 30.0)
    cues = _feed(engine, _stances(peaks, key="midstance_peak_n"))
    assert [c.side for c in cues] == ["right"] * 3
    assert [c.value for c in cues] == pytest.approx(
        [robinson_si_pct(peaks[k - 1], peaks[k]) for k in (1, 3, 5)])
    both = FeedbackEngine("midstance_peak_si", "-2:2", side="both")
    both.start_phase("training", 0.0, 30.0)
    cues = _feed(both, _stances(peaks, key="midstance_peak_n"))
    assert len(cues) == 5  # every step after the first pairs with the one before
    assert cues[1].value == pytest.approx(robinson_si_pct(peaks[2], peaks[1]))


def test_cadence_and_step_width():
    engine = FeedbackEngine("cadence_spm", "170:190", side="both")
    engine.start_phase("training", 0.0, 30.0)
    cues = _feed(engine, _stances([0.0] * 6, key="unused"))
    assert [c.value for c in cues] == pytest.approx([120 / (2 * STEP_S)] * 4)
    engine = FeedbackEngine("step_width_m", "0.05:0.15", side="both")
    engine.start_phase("training", 0.0, 30.0)
    stances = _stances([0.0] * 4, key="unused")
    for s, cop in zip(stances, (-0.05, 0.05, -0.06, -0.07), strict=True):
        s["cop_ml_m"] = cop
    cues = _feed(engine, stances)
    assert [c.value for c in cues] == pytest.approx([0.10, 0.11, -0.01])
    assert cues[-1].zone == "below"  # a crossover


def test_change_target_band_from_the_baseline_phase_and_no_cue_shown_outside_training():
    engine = FeedbackEngine("valr_n_s", "-20%", side="left")
    engine.start_phase("baseline", 0.0, 7.0)
    base = _stances([1000.0, 0.0, 1200.0, 0.0, 1100.0, 0.0, 900.0, 0.0], t0=0.0)
    cues = _feed(engine, base)
    assert all(c.band_low is None and c.zone == "" and not c.shown for c in cues)
    engine.start_phase("training", 3.0, 10.0)
    train = _stances([900.0, 0.0, 700.0, 0.0], t0=3.0)
    cues = _feed(engine, train)
    assert engine.baseline == pytest.approx(1050.0)  # the baseline stances of the left side
    assert (cues[0].band_low, cues[0].band_high) == pytest.approx((840 - 42, 840 + 42))
    assert [c.zone for c in cues] == ["above", "below"] and all(c.shown for c in cues)
    engine.start_phase("post", 5.0, 5.0)
    cues = _feed(engine, _stances([800.0, 0.0], t0=5.0))
    assert cues[0].phase == "post" and not cues[0].shown and cues[0].zone == "in"
    assert engine.phase_means() == pytest.approx(
        {"baseline": 1050.0, "training": 800.0, "post": 800.0})
    settings = engine.settings()
    assert settings["baseline"] == pytest.approx(1050.0) and settings["target"] == "-20%"
    assert [p["phase"] for p in settings["phases"]] == ["baseline", "training", "post"]
