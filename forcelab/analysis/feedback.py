"""Live biofeedback: targets, zones and schedules that turn completed stances into cues.

Pure computation (no clock, no I/O): :class:`FeedbackEngine` is fed the completed stances of a
session (the dicts of :class:`forcelab.acquisition.live.LiveAnalyzer`, session time in s) and
returns :class:`Cue` objects; the caller stamps the time of issue. See ``docs/feedback.md``.

Metrics (names as in ``forcelab analyze --json``):

* per stance: the force, loading-rate and time keys of a stance (``valr_n_s``, ``valr_bw_s``,
  ``peak_braking_n``, ``contact_time_s``, ``midstance_peak_n``, ... see :data:`METRICS`);
* ``cadence_spm``: 120 / the time since the previous contact of the same foot (a stride);
* ``step_width_m``: right minus left ML position between the stance and the previous contact of
  the other foot (:func:`forcelab.analysis.sides.step_widths`; negative = crossover);
* ``midstance_peak_si``: per stride, the Robinson SI (%) of the stance's mid-stance peak and
  the previous contact of the other foot (within :data:`~forcelab.analysis.sides.MAX_STEP_S`).
  The stance that completes the pair gives the cue: with ``side="right"`` a stride is a left
  stance then a right one (one cue per stride), with ``side="both"`` every step pairs with the
  step before it (one cue per step).

Targets (:func:`parse_target`): a value ``"180"`` (band: the value ± :data:`TOLERANCE_PCT` %),
a band ``"150:180"`` (low:high; a colon, because SI bands may be negative), or a change from
the athlete's baseline trial ``"-15%"`` (band: baseline × (1 − 0.15) ± :data:`TOLERANCE_PCT` %
of the baseline). For SI metrics (in %) the tolerance is :data:`SI_TOLERANCE_PCT` percentage
points instead.

Schedules (:func:`parse_schedule`): ``every`` stance shown; ``faded``: the share shown falls
linearly from 100 % at the start of the phase to 0 % at its end, by an accumulator (each cue adds
rate/100; a cue is shown when the sum reaches 1, which then drops by 1); ``bandwidth``: shown
only outside the band; ``summary:N``: one cue per N stances of the trained side(s) with their
mean. Cues of phases without feedback (baseline, post, retention) are formed the same way and
stored with ``shown=False``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

import numpy as np

from forcelab.analysis.asymmetry import robinson_si_pct
from forcelab.analysis.metrics import FORCE_METRICS, RATE_METRICS, bw_name
from forcelab.analysis.sides import MAX_STEP_S, step_widths
from forcelab.errors import InputError

PHASES = ("baseline", "training", "post", "retention")
"""Phases of a feedback protocol, in order; only ``training`` shows cues."""

FEEDBACK_PHASES = ("training", "")
"""Phases whose cues are shown ("" = feedback outside a protocol)."""

TAG_PREFIX = "feedback:"
"""A trial tagged ``feedback:<phase>`` is that phase of a feedback protocol."""

SCHEDULES = ("every", "faded", "bandwidth", "summary")
ZONES = ("below", "in", "above")
TRAINED_SIDES = ("left", "right", "both")

TOLERANCE_PCT = 5.0
"""Half width of the band around a value or a change-from-baseline target, in % of the target
value: about a runner's stride-to-stride variation of loading rate, so a runner on target is
mostly "in", and well inside the 15-30 % changes feedback trains (see docs/feedback.md)."""

SI_TOLERANCE_PCT = 2.0
"""Half width of the band around an SI target, in percentage points of SI."""

SI_METRICS = {"midstance_peak_si": "midstance_peak_n"}
"""Per-stride SI metrics and the stance metric each compares left/right."""

_STANCE_METRICS = (
    *FORCE_METRICS,
    *RATE_METRICS,
    *(bw_name(m) for m in (*FORCE_METRICS, *RATE_METRICS)),
    "contact_time_s",
    "flight_time_s",
)

METRICS: dict[str, str] = {
    **{m: ("N/s" if m.endswith("_n_s") else "BW/s" if m.endswith("_bw_s")
           else "N" if m.endswith("_n") else "BW" if m.endswith("_bw") else "s")
       for m in _STANCE_METRICS},
    "cadence_spm": "steps/min",
    "step_width_m": "m",
    "midstance_peak_si": "%",
}
"""Metrics feedback can train, with their units."""


@dataclass(frozen=True)
class Cue:
    """One feedback cue: the value of a completed stance (or summary) against the target band.

    Attributes
    ----------
    stance_index : int
        Index of the completing stance among the session's live stances (0-based, in the order
        they completed, the order of the file's ``stance`` events).
    side : str
        "left" or "right": the side of the completing stance.
    metric : str
        Metric name as in ``forcelab analyze --json``.
    value : float
        The stance's value (or, for a summary cue, the mean over its stances), in the metric's
        unit (:data:`METRICS`).
    band_low, band_high : float or None
        The target band (None until a change-from-baseline band is known).
    zone : str
        "below", "in" or "above" the band; "" while the band is not known (baseline phase of a
        change-from-baseline target).
    schedule : str
        "every", "faded", "bandwidth" or "summary".
    shown : bool
        Whether the schedule presented the cue to the runner (never without a band).
    schedule_state : float or None
        Faded: the rate in % at this cue; summary: the number of stances averaged; else None.
    phase : str
        "baseline", "training", "post", "retention", or "" outside a protocol.
    t_toe_off_s : float
        Toe-off (end) of the completing stance, s since the session start.
    t_issued_s : float
        When the cue was issued, s since the session start.
    stream : str
        The stream of the completing stance (the ``cue`` event's stream).
    """

    stance_index: int
    side: str
    metric: str
    value: float
    band_low: float | None
    band_high: float | None
    zone: str
    schedule: str
    shown: bool
    schedule_state: float | None
    phase: str
    t_toe_off_s: float
    t_issued_s: float
    stream: str = ""

    @property
    def latency_s(self) -> float:
        """Time from the toe-off that completed the stance to the cue, s."""
        return self.t_issued_s - self.t_toe_off_s

    def text(self) -> str:
        """The cue in one line for a terminal: ``ABOVE   62698 N/s  (band 44825 to 49544)  left``
        (whole numbers from 1000 on, else 4 significant digits)."""
        unit = METRICS.get(self.metric, "")
        band = ("" if self.band_low is None or self.band_high is None
                else f"  (band {_short(self.band_low)} to {_short(self.band_high)})")
        zone = (self.zone or "no band").upper()
        return f"{zone:<7} {_short(self.value)} {unit}{band}  {self.side}"

    def to_json(self) -> str:
        """The cue as compact JSON (the ``message`` of a ``cue`` session event)."""
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Cue:
        """Read a cue back from :meth:`to_json` text.

        Raises
        ------
        InputError
            If the text is not a cue.
        """
        try:
            d = json.loads(text)
            return cls(**{f.name: d[f.name] for f in fields(cls)
                          if f.name in d or f.default is MISSING})
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"not a feedback cue: {exc}") from None


def _short(value: float) -> str:
    """A number for a one-line cue: whole from 1000 on, else 4 significant digits."""
    return f"{value:.0f}" if abs(value) >= 1000 else f"{value:.4g}"


@dataclass(frozen=True)
class Target:
    """A feedback target as the coach wrote it.

    Attributes
    ----------
    text : str
        The target text (``"180"``, ``"150:180"``, ``"-15%"``).
    kind : str
        "value", "band" or "change".
    low, high : float
        Band (value and band targets) in the metric's unit; for a change target the change
        in % (both the same).
    tolerance_pct : float
        Half width of the band of value and change targets (% of the target, or SI points).
    absolute_tolerance : bool
        True when the tolerance is in the metric's unit (SI metrics), not in % of the target.
    """

    text: str
    kind: str
    low: float
    high: float
    tolerance_pct: float = TOLERANCE_PCT
    absolute_tolerance: bool = False

    def band(self, baseline: float | None = None) -> tuple[float, float] | None:
        """The band (low, high) in the metric's unit; None for a change target without a
        baseline value."""
        if self.kind == "band":
            return self.low, self.high
        if self.kind == "value":
            centre = self.low
        elif baseline is None or not math.isfinite(baseline):
            return None
        else:
            centre = baseline * (1.0 + self.low / 100.0)
        half = (self.tolerance_pct if self.absolute_tolerance
                else abs(centre) * self.tolerance_pct / 100.0)
        return centre - half, centre + half


_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"


def check_metric(metric: str) -> str:
    """Return ``metric`` if feedback can train it.

    Raises
    ------
    InputError
        Unknown metric (the message lists the known ones).
    """
    if metric not in METRICS:
        raise InputError(
            f"feedback cannot train metric {metric!r}; choose one of {', '.join(sorted(METRICS))}"
        )
    return metric


def parse_target(text: str, metric: str) -> Target:
    """Parse a target: a value ``"180"``, a band ``"150:180"`` or a change ``"-15%"``.

    Raises
    ------
    InputError
        If the text is none of these, the band is empty or the change is -100 % or less.
    """
    check_metric(metric)
    raw = str(text).strip().replace(" ", "")
    si = METRICS[metric] == "%"
    tol = SI_TOLERANCE_PCT if si else TOLERANCE_PCT
    m = re.fullmatch(rf"({_NUMBER})%", raw)
    if m:
        change = float(m.group(1))
        if not -100.0 < change <= 1000.0:
            raise InputError(f"target change {text!r} must be above -100 % and at most +1000 %")
        return Target(raw, "change", change, change, tol, si)
    m = re.fullmatch(rf"({_NUMBER}):({_NUMBER})", raw)
    if m:
        low, high = float(m.group(1)), float(m.group(2))
        if not low < high:
            raise InputError(f"target band {text!r} must be low:high with low below high")
        return Target(raw, "band", low, high, tol, si)
    if re.fullmatch(_NUMBER, raw):
        value = float(raw)
        return Target(raw, "value", value, value, tol, si)
    raise InputError(
        f"target {text!r} is not a value (180), a band (150:180) or a change from the "
        "baseline trial (-15%)"
    )


@dataclass(frozen=True)
class Schedule:
    """When cues are shown: ``name`` in :data:`SCHEDULES`; ``n`` stances per summary."""

    name: str = "every"
    n: int = 0

    @property
    def text(self) -> str:
        """The schedule as written on the command line (``summary:5``)."""
        return f"summary:{self.n}" if self.name == "summary" else self.name


def parse_schedule(text: str) -> Schedule:
    """Parse ``every``, ``faded``, ``bandwidth`` or ``summary:N`` (N = 2 to 100 stances).

    Raises
    ------
    InputError
        Otherwise.
    """
    raw = str(text).strip().lower()
    if raw in ("every", "faded", "bandwidth"):
        return Schedule(raw)
    m = re.fullmatch(r"summary:(\d+)", raw)
    if m and 2 <= int(m.group(1)) <= 100:
        return Schedule("summary", int(m.group(1)))
    raise InputError(
        f"schedule {text!r} is not every, faded, bandwidth or summary:N (N = 2 to 100 strides)"
    )


def parse_protocol(text: str) -> list[tuple[str, float]]:
    """Parse a protocol ``baseline=60,training=300,post=60,retention=60`` (phase=s, in order).

    Phases come from :data:`PHASES`, in that order, each at most once; training is required.

    Raises
    ------
    InputError
        On anything else.
    """
    out: list[tuple[str, float]] = []
    for part in str(text).split(","):
        name, eq, value = part.strip().partition("=")
        name = name.strip().lower()
        if not eq or name not in PHASES:
            raise InputError(
                f"protocol part {part.strip()!r} is not phase=seconds with a phase of "
                f"{', '.join(PHASES)}"
            )
        try:
            seconds = float(value)
        except ValueError:
            seconds = float("nan")
        if not (math.isfinite(seconds) and 0 < seconds <= 24 * 3600):
            raise InputError(f"protocol phase {name} needs 0 to 86400 s, got {value.strip()!r}")
        out.append((name, seconds))
    names = [n for n, _ in out]
    if "training" not in names:
        raise InputError("a feedback protocol needs a training phase (training=S)")
    if names != sorted(set(names), key=PHASES.index):
        raise InputError(f"protocol phases must be in the order {', '.join(PHASES)}, each once")
    return out


def zone_of(value: float, band: tuple[float, float] | None) -> str:
    """"below", "in" or "above" the band (ends included in "in"); "" without a band."""
    if band is None:
        return ""
    low, high = band
    return "below" if value < low else "above" if value > high else "in"


@dataclass
class _Phase:
    name: str
    t_start_s: float
    duration_s: float | None
    t_stop_s: float = math.inf
    values: list[float] = field(default_factory=list)
    accumulator: float = 0.0
    pending: list[tuple[float, dict[str, Any], int]] = field(default_factory=list)


class FeedbackEngine:
    """Completed stances in, cues out.

    Parameters
    ----------
    metric : str
        Metric to train (:data:`METRICS`).
    target : Target or str
        The target (:func:`parse_target`).
    side : {"left", "right", "both"}
        The trained side(s): cues for the stances of this side (SI: the side whose stance
        completes a stride).
    schedule : Schedule or str
        :func:`parse_schedule`.

    Notes
    -----
    A stance belongs to the phase running when it started (:meth:`start_phase`,
    :meth:`stop_phase`, session time in s); stances outside every phase give no cue. A
    change-from-baseline band is fixed, from the mean of the baseline phase's values, when the
    first stance of a later phase comes. Not thread-safe: feed from one thread.
    """

    def __init__(
        self,
        metric: str,
        target: Target | str,
        side: str = "both",
        schedule: Schedule | str = "every",
    ) -> None:
        self.metric = check_metric(metric)
        self.target = target if isinstance(target, Target) else parse_target(target, metric)
        if side not in TRAINED_SIDES:
            raise InputError(f"side must be one of {', '.join(TRAINED_SIDES)}, got {side!r}")
        self.side = side
        self.schedule = schedule if isinstance(schedule, Schedule) else parse_schedule(schedule)
        self.reset()

    def reset(self) -> None:
        """Forget the phases, the baseline and the stances seen (a new session starts)."""
        self.baseline: float | None = None
        self._phases: list[_Phase] = []
        self._n_stances = 0
        self._last: dict[str, dict[str, Any]] = {}  # side -> last stance of that side

    # -- phases ------------------------------------------------------------------------------

    def start_phase(self, phase: str, t_s: float, duration_s: float | None = None) -> None:
        """A phase starts at session time ``t_s`` (s); ``duration_s`` (s) is the span a faded
        schedule fades over (required for faded in a phase with feedback)."""
        if phase not in (*PHASES, ""):
            raise InputError(f"unknown feedback phase {phase!r}; phases are {', '.join(PHASES)}")
        if (self.schedule.name == "faded" and phase in FEEDBACK_PHASES
                and not (duration_s and duration_s > 0)):
            raise InputError("a faded schedule needs the duration of its phase")
        self.stop_phase(t_s)
        self._phases.append(_Phase(phase, float(t_s), duration_s))

    def stop_phase(self, t_s: float) -> None:
        """The running phase (if any) stops at session time ``t_s`` (s)."""
        if self._phases and math.isinf(self._phases[-1].t_stop_s):
            self._phases[-1].t_stop_s = float(t_s)

    @property
    def band(self) -> tuple[float, float] | None:
        """The current target band in the metric's unit (None: baseline not known yet)."""
        return self.target.band(self.baseline)

    def _values_by_phase(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for p in self._phases:  # a phase run twice (two trials) counts as one
            out.setdefault(p.name, []).extend(p.values)
        return out

    def phase_means(self) -> dict[str, float | None]:
        """Mean of the trained metric per phase (values of the trained side(s), every stance)."""
        return {k: (float(np.mean(v)) if v else None) for k, v in self._values_by_phase().items()}

    def phase_counts(self) -> dict[str, int]:
        """Number of values of the trained metric per phase."""
        return {k: len(v) for k, v in self._values_by_phase().items()}

    def settings(self) -> dict[str, Any]:
        """The settings as stored in the session's ``feedback`` event."""
        band = self.band
        return {
            "metric": self.metric,
            "unit": METRICS[self.metric],
            "side": self.side,
            "target": self.target.text,
            "target_kind": self.target.kind,
            "tolerance": self.target.tolerance_pct,
            "tolerance_unit": "points" if self.target.absolute_tolerance else "%",
            "band_low": band[0] if band else None,
            "band_high": band[1] if band else None,
            "baseline": self.baseline,
            "schedule": self.schedule.name,
            "summary_n": self.schedule.n or None,
            "phases": [
                {"phase": p.name, "t_start_s": p.t_start_s, "duration_s": p.duration_s}
                for p in self._phases
            ],
        }

    # -- stances -----------------------------------------------------------------------------

    def feed(self, stance: dict[str, Any], t_issued_s: float) -> list[Cue]:
        """Take one completed stance; return the cues it completes (none, or one).

        Parameters
        ----------
        stance : dict
            A live stance: ``side``, ``start_s``, ``end_s`` (session time, s), ``valid`` and the
            metric keys.
        t_issued_s : float
            Time of issue to stamp on the cues (s since the session start).
        """
        index = self._n_stances
        self._n_stances += 1
        side = stance.get("side")
        if side not in ("left", "right"):
            return []
        value = self._value(stance, side)
        self._last[side] = stance
        if not stance.get("valid", True) or value is None or not math.isfinite(value):
            return []
        if self.side != "both" and side != self.side:
            return []
        phase = self._phase_of(float(stance["start_s"]))
        if phase is None:
            return []
        if phase.name != "baseline" and self.baseline is None:
            self._fix_baseline()
        phase.values.append(value)
        return self._schedule(phase, value, stance, index, t_issued_s)

    def _phase_of(self, t_s: float) -> _Phase | None:
        for p in reversed(self._phases):
            if p.t_start_s <= t_s < p.t_stop_s:
                return p
        return None

    def _fix_baseline(self) -> None:
        for p in self._phases:
            if p.name == "baseline" and p.values:
                self.baseline = float(np.mean(p.values))

    def _value(self, stance: dict[str, Any], side: str) -> float | None:
        other = self._last.get("right" if side == "left" else "left")
        start = float(stance["start_s"])
        paired = other is not None and 0 < start - float(other["start_s"]) <= MAX_STEP_S
        if self.metric in SI_METRICS:
            key = SI_METRICS[self.metric]
            if not paired or other.get(key) is None or stance.get(key) is None:
                return None
            mine, theirs = float(stance[key]), float(other[key])
            left, right = (mine, theirs) if side == "left" else (theirs, mine)
            return robinson_si_pct(left, right)
        if self.metric == "cadence_spm":
            prev = self._last.get(side)
            if prev is None:
                return None
            stride = start - float(prev["start_s"])
            return 120.0 / stride if 0 < stride <= 2 * MAX_STEP_S else None
        if self.metric == "step_width_m":
            if not paired or other.get("cop_ml_m") is None or stance.get("cop_ml_m") is None:
                return None
            w = step_widths(
                [other["side"], side],
                [float(other["start_s"]), start],
                [float(other["cop_ml_m"]), float(stance["cop_ml_m"])],
            )[1]
            return float(w) if np.isfinite(w) else None
        v = stance.get(self.metric)
        return None if v is None else float(v)

    def _schedule(
        self, phase: _Phase, value: float, stance: dict[str, Any], index: int, t_issued_s: float
    ) -> list[Cue]:
        band = self.band
        name = self.schedule.name
        state: float | None = None
        if name == "summary":
            phase.pending.append((value, stance, index))
            if len(phase.pending) < self.schedule.n:
                return []
            value = float(np.mean([v for v, _, _ in phase.pending]))
            stance, index = phase.pending[-1][1], phase.pending[-1][2]
            phase.pending.clear()
            state = float(self.schedule.n)
        zone = zone_of(value, band)
        if name == "faded":
            t_end = float(stance["end_s"])
            duration = phase.duration_s or math.inf
            state = 100.0 * min(1.0, max(0.0, 1.0 - (t_end - phase.t_start_s) / duration))
            phase.accumulator += state / 100.0
            shown = phase.accumulator >= 1.0
            if shown:
                phase.accumulator -= 1.0
        elif name == "bandwidth":
            shown = zone in ("below", "above")
        else:
            shown = True
        return [
            Cue(
                stance_index=index,
                side=str(stance["side"]),
                metric=self.metric,
                value=value,
                band_low=band[0] if band else None,
                band_high=band[1] if band else None,
                zone=zone,
                schedule=name,
                shown=bool(shown and zone and phase.name in FEEDBACK_PHASES),
                schedule_state=state,
                phase=phase.name,
                t_toe_off_s=float(stance["end_s"]),
                t_issued_s=float(t_issued_s),
                stream=str(stance.get("stream") or ""),
            )
        ]
