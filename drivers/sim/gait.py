"""Gait model behind every simulator: ground-reaction forces, COP and insole pressures.

A :class:`GaitModel` lays out alternating left/right stances (running or walking) on a model time
axis in s, from a seed, and evaluates per-foot or whole-plate signals at any array of model times
(vectorised; chunks of any size give identical values). It records the TRUE stances it generated
(:class:`TrueStance`), which the tests compare with what the drivers and the analysis recover.

Conventions: vertical force ``fz`` positive = load (N); ``fap`` + forward (braking first, then
propulsion); ``fml`` + toward the subject's right; plate COP ``cop_ml`` (m, + right),
``cop_ap`` (m, + forward) relative to the plate centre; insole COP normalised to ±0.5 of the
insole width (x, + toward the wearer's right) and length (y, + toward the toes).

Quiet standing: with ``stand_s`` > 0 the athlete first stands still with both feet on the
sensors from ``start_s`` for ``stand_s`` seconds (half-cosine step-on/step-off ramps of
:data:`STAND_RAMP_S`), body weight split between the feet (the share drifts slowly by a few %),
total vertical force swaying by a few N (SD ≈ 2.5 N, 1–4 Hz) and the COP by a few mm. The run
begins one flight time (at least 0.1 s) after the step-off: the first true stance starts at
:attr:`GaitParams.run_start_s`. :meth:`GaitModel.standing` gives the standing interval, its quiet
part (without ramps) and the true weight, for checking weighing.

Asymmetry: ``asymmetry`` is the symmetry index of mid-stance peak loading, SI = (R − L)/((R + L)/2);
−0.08 means the left side loads 8 % more. ``contact_asymmetry`` does the same for contact time.
The left peak is ``M (1 − SI/2)`` and the right ``M (1 + SI/2)`` so that SI is exact on average.
"""

from __future__ import annotations

import math
import threading
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from forcelab.drivers.units import STANDARD_GRAVITY_M_S2

_STRIKES = ("rear", "mid", "fore")
_MODES = ("run", "walk")


@dataclass
class GaitParams:
    """Parameters of the gait model (None = derived from speed and mode).

    Parameters
    ----------
    mode : {"run", "walk"}
    speed_m_s : float
        Belt/running speed in m/s.
    cadence_spm : float or None
        Steps per minute.
    contact_time_s : float or None
        Mean contact (stance) time in s.
    strike : {"rear", "mid", "fore"}
        Foot strike: rear-foot strikes have an impact peak; mid- and fore-foot ones do not.
    body_mass_kg : float
        Body mass in kg.
    peak_bw : float or None
        Mean mid-stance (active) peak in body weights (running) or the higher walking peak.
    impact_bw : float or None
        Impact peak in body weights (rear-foot strike only).
    asymmetry : float
        Symmetry index (R − L)/((R + L)/2) of the mid-stance peak.
    contact_asymmetry : float
        Symmetry index of the contact time.
    variability : float
        Stride-to-stride coefficient of variation of peaks, contact and step times.
    start_s : float
        Model time of the first foot contact in s (before: nobody on the plate).
    step_width_m : float
        Medio-lateral distance between the feet in m (one plate under both feet).
    stand_s : float
        Seconds of quiet standing (both feet) from ``start_s`` before the run; 0 = none,
        else at least 0.5 s.
    """

    mode: str = "run"
    speed_m_s: float = 3.0
    cadence_spm: float | None = None
    contact_time_s: float | None = None
    strike: str = "rear"
    body_mass_kg: float = 70.0
    peak_bw: float | None = None
    impact_bw: float | None = None
    asymmetry: float = 0.0
    contact_asymmetry: float = 0.0
    variability: float = 0.02
    start_s: float = 0.5
    step_width_m: float = 0.12
    stand_s: float = 0.0

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ValueError(f"gait mode must be one of {_MODES}, not {self.mode!r}")
        if self.strike not in _STRIKES:
            raise ValueError(f"strike must be one of {_STRIKES}, not {self.strike!r}")
        checks = {
            "speed_m_s": (self.speed_m_s, 0.3, 12.0),
            "body_mass_kg": (self.body_mass_kg, 10.0, 300.0),
            "asymmetry": (self.asymmetry, -0.5, 0.5),
            "contact_asymmetry": (self.contact_asymmetry, -0.5, 0.5),
            "variability": (self.variability, 0.0, 0.2),
            "start_s": (self.start_s, 0.0, 1e6),
            "step_width_m": (self.step_width_m, 0.0, 0.5),
            "stand_s": (self.stand_s, 0.0, 3600.0),
        }
        for opt in ("cadence_spm", "contact_time_s", "peak_bw", "impact_bw"):
            v = getattr(self, opt)
            if v is not None:
                checks[opt] = (v, {"cadence_spm": 40.0, "contact_time_s": 0.08,
                                   "peak_bw": 0.3, "impact_bw": 0.3}[opt],
                               {"cadence_spm": 260.0, "contact_time_s": 2.0,
                                "peak_bw": 6.0, "impact_bw": 6.0}[opt])
        for name, (v, lo, hi) in checks.items():
            if not (isinstance(v, (int, float)) and math.isfinite(v) and lo <= v <= hi):
                raise ValueError(f"gait option {name}={v!r} is out of range [{lo}, {hi}]")
        if 0 < self.stand_s < 2 * STAND_RAMP_S + 0.2:
            raise ValueError(
                f"stand_s={self.stand_s} s is too short to stand still; use 0 (no standing) or "
                f"at least {2 * STAND_RAMP_S + 0.2:.1f} s"
            )
        ct, step = self.mean_contact_time_s, 60.0 / self.mean_cadence_spm
        if self.mode == "run" and ct >= 2 * step:
            raise ValueError(
                f"contact time {ct:.3f} s is too long for a cadence of "
                f"{self.mean_cadence_spm:.0f} steps/min when running (must be < stride time)"
            )

    # -- derived values -------------------------------------------------------------------
    @property
    def mean_cadence_spm(self) -> float:
        """Steps per minute."""
        if self.cadence_spm is not None:
            return float(self.cadence_spm)
        if self.mode == "run":
            return float(np.clip(150.0 + 8.0 * self.speed_m_s, 150.0, 210.0))
        return float(np.clip(85.0 + 22.0 * self.speed_m_s, 70.0, 140.0))

    @property
    def mean_contact_time_s(self) -> float:
        """Contact time in s."""
        if self.contact_time_s is not None:
            return float(self.contact_time_s)
        if self.mode == "run":
            return float(np.clip(0.36 - 0.03 * self.speed_m_s, 0.15, 0.40))
        return 0.62 * 2 * 60.0 / self.mean_cadence_spm

    @property
    def mean_peak_bw(self) -> float:
        """Mean mid-stance peak (running) or higher walking peak, in body weights."""
        if self.peak_bw is not None:
            return float(self.peak_bw)
        if self.mode == "run":
            return float(2.2 + 0.15 * self.speed_m_s)
        return float(1.05 + 0.08 * self.speed_m_s)

    @property
    def mean_impact_bw(self) -> float:
        """Impact peak in body weights (rear-foot running)."""
        if self.impact_bw is not None:
            return float(self.impact_bw)
        return float(1.3 + 0.12 * self.speed_m_s)

    @property
    def run_start_s(self) -> float:
        """Model time of the first running/walking stance in s (after standing, if any)."""
        if self.stand_s <= 0:
            return float(self.start_s)
        flight = max(60.0 / self.mean_cadence_spm - self.mean_contact_time_s, 0.1)
        return float(self.start_s + self.stand_s + flight)

    @property
    def body_weight_n(self) -> float:
        """Body weight in N."""
        return self.body_mass_kg * STANDARD_GRAVITY_M_S2

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the parameters plus the derived means."""
        d = asdict(self)
        d.update(
            mean_cadence_spm=self.mean_cadence_spm,
            mean_contact_time_s=self.mean_contact_time_s,
            mean_peak_bw=self.mean_peak_bw,
            run_start_s=self.run_start_s,
        )
        return d


@dataclass
class TrueStance:
    """A stance the model generated (ground truth).

    Times are model times in s; ``end_s`` is exclusive (foot off). Forces in N.
    """

    index: int
    side: str
    start_s: float
    end_s: float
    peak_n: float
    midstance_peak_n: float
    impact_peak_n: float | None
    impulse_ns: float

    @property
    def contact_time_s(self) -> float:
        """Contact time in s."""
        return self.end_s - self.start_s

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (with contact_time_s)."""
        d = asdict(self)
        d["contact_time_s"] = self.contact_time_s
        return d


#: Step-on and step-off ramps of quiet standing in s.
STAND_RAMP_S = 0.15
# Quiet-standing sway: (frequency Hz, amplitude) of total vertical force (N), the left foot's
# share of body weight (fraction) and the COP (m, ML and AP).
_SWAY_FZ = ((1.1, 2.6), (2.3, 2.0), (3.7, 1.3))
_SWAY_SHARE = ((0.13, 0.03), (0.31, 0.01))
_SWAY_COP_ML = ((0.21, 0.003), (0.47, 0.0015))
_SWAY_COP_AP = ((0.17, 0.005), (0.39, 0.002))
_COM_HEIGHT_M = 1.0  # centre of mass above the COP (inverted pendulum for the sway shear)


# Shape constants (fractions of stance).
_RUN_PEAK_TAU = 0.45
_RUN_WARP = math.log(0.5) / math.log(_RUN_PEAK_TAU)
_RUN_POWER = 1.6
_IMPACT_TAU = 0.11
_IMPACT_SIGMA = 0.032
_WALK_B = 0.28
_FINE = np.linspace(0.0, 1.0, 2001)


def _run_active(tau: np.ndarray) -> np.ndarray:
    return np.sin(np.pi * np.power(np.clip(tau, 0.0, 1.0), _RUN_WARP)) ** _RUN_POWER


def _impact_bump(tau: np.ndarray) -> np.ndarray:
    ramp = np.clip(tau / _IMPACT_TAU, 0.0, 1.0)
    return ramp * np.exp(-0.5 * ((tau - _IMPACT_TAU) / _IMPACT_SIGMA) ** 2)


def _walk_shape(tau: np.ndarray) -> np.ndarray:
    f = np.sin(np.pi * tau) + _WALK_B * np.sin(3 * np.pi * tau)
    return f / _WALK_NORM


_WALK_NORM = float(np.max(np.sin(np.pi * _FINE) + _WALK_B * np.sin(3 * np.pi * _FINE)))


class GaitModel:
    """Deterministic gait from a seed; stances are laid out lazily as time advances.

    Parameters
    ----------
    params : GaitParams
    seed : int
        Random seed (stride-to-stride variability).
    """

    def __init__(self, params: GaitParams | None = None, seed: int = 0) -> None:
        self.params = params or GaitParams()
        self.seed = int(seed)
        self._rng = np.random.default_rng([self.seed, 0x6A17])
        self._stances: list[TrueStance] = []
        # Per-stance arrays for vectorised evaluation (parallel to _stances).
        # (start_s, end_s, midstance_n, impact_n, is_left) arrays, replaced as one tuple
        self._arrays = (np.empty(0), np.empty(0), np.empty(0), np.empty(0), np.empty(0, bool))
        self._next_start = self.params.run_start_s
        self._next_left = True
        # phases of the standing sway components (own stream: same stances with or without)
        self._sway_phase = np.random.default_rng([self.seed, 0x57A4D]).uniform(0, 2 * np.pi, 9)
        self._lock = threading.Lock()  # several simulators (plates, insoles) share one model
        #: Stances are laid out this far (s) ahead of the latest time asked for.
        self.lookahead_s = 5.0
        #: None, or an object whose ``factors()`` returns multipliers of the next stance's
        #: ``contact``, ``peak``, ``impact``, ``step`` and ``asymmetry`` (a runner who responds
        #: to feedback, :mod:`forcelab.drivers.sim.runner`), with ``start()`` and ``close()``.
        self.response: Any = None

    # -- stance layout ---------------------------------------------------------------------
    def _extend(self, t_s: float) -> None:
        with self._lock:
            self._extend_locked(t_s)

    def _extend_locked(self, t_s: float) -> None:
        p = self.params
        if self._next_start > t_s + self.lookahead_s:
            return
        bw = p.body_weight_n
        new: list[TrueStance] = []
        while self._next_start <= t_s + self.lookahead_s:
            z = self._rng.standard_normal(4) * p.variability
            f = self.response.factors() if self.response is not None else {}
            step_mean = 60.0 / p.mean_cadence_spm * f.get("step", 1.0)
            asym = p.asymmetry * f.get("asymmetry", 1.0)
            left = self._next_left
            sgn = -1.0 if left else 1.0
            ct = (p.mean_contact_time_s * (1 + sgn * p.contact_asymmetry / 2) * (1 + z[0])
                  * f.get("contact", 1.0))
            mid = p.mean_peak_bw * bw * (1 + sgn * asym / 2) * (1 + z[1]) * f.get("peak", 1.0)
            imp = 0.0
            if p.mode == "run" and p.strike == "rear":
                imp = (p.mean_impact_bw * bw * (1 + sgn * asym / 2) * (1 + z[2])
                       * f.get("impact", 1.0))
            start = self._next_start
            idx = len(self._stances) + len(new)
            shape = self._vertical_shape(_FINE, mid, imp)
            impulse = float(np.sum((shape[1:] + shape[:-1]) * 0.5 * np.diff(_FINE)) * ct)
            impact_peak = None
            if imp > 0:
                early = shape[_FINE < 0.3]
                local = np.flatnonzero((early[1:-1] > early[:-2]) & (early[1:-1] >= early[2:]))
                if local.size:
                    impact_peak = float(early[local[0] + 1])
            new.append(TrueStance(idx, "left" if left else "right", float(start),
                                  float(start + ct), float(np.max(shape)), float(mid),
                                  impact_peak, impulse))
            self._next_start = float(start + step_mean * (1 + z[3]))
            self._next_left = not left
        stances = self._stances + new
        imps = [0.0 if s.impact_peak_n is None else s.impact_peak_n for s in stances]
        self._arrays = (
            np.array([s.start_s for s in stances]),
            np.array([s.end_s for s in stances]),
            np.array([s.midstance_peak_n for s in stances]),
            np.array(imps),
            np.array([s.side == "left" for s in stances], bool),
        )
        self._stances = stances

    def _vertical_shape(self, tau: np.ndarray, mid_n: float, impact_n: float) -> np.ndarray:
        if self.params.mode == "walk":
            return mid_n * _walk_shape(tau)
        f = mid_n * _run_active(tau)
        if impact_n > 0:
            base = mid_n * float(_run_active(np.array([_IMPACT_TAU]))[0])
            f = f + max(impact_n - base, 0.0) * _impact_bump(tau)
        return f

    def start(self) -> None:
        """Start the response (its cue listener), if any."""
        if self.response is not None:
            self.response.start()

    def close(self) -> None:
        """Stop the response, if any."""
        if self.response is not None:
            self.response.close()

    def standing(self) -> dict[str, float] | None:
        """The quiet standing before the run (model times in s), or None without standing.

        Returns
        -------
        dict or None
            ``start_s``, ``end_s`` (feet on / off the sensors, ramps included),
            ``quiet_start_s``, ``quiet_end_s`` (without the ramps), ``weight_n`` (true body
            weight in N, the mean total vertical force while quiet), ``body_mass_kg``.
        """
        p = self.params
        if p.stand_s <= 0:
            return None
        return {"start_s": float(p.start_s), "end_s": float(p.start_s + p.stand_s),
                "quiet_start_s": float(p.start_s + STAND_RAMP_S),
                "quiet_end_s": float(p.start_s + p.stand_s - STAND_RAMP_S),
                "weight_n": float(p.body_weight_n), "body_mass_kg": float(p.body_mass_kg)}

    def _sway(self, comps: tuple[tuple[float, float], ...], t: np.ndarray, k0: int) -> np.ndarray:
        out = np.zeros(t.shape[0])
        for j, (f_hz, amp) in enumerate(comps):
            out += amp * np.sin(2 * np.pi * f_hz * t + self._sway_phase[k0 + j])
        return out

    def _add_standing(self, out: dict[str, np.ndarray], t: np.ndarray, left: bool) -> None:
        """Add the quiet-standing load of one foot to ``out`` (in place)."""
        p = self.params
        t_on, t_off = p.start_s, p.start_s + p.stand_s
        a = int(np.searchsorted(t, t_on, "left"))
        b = int(np.searchsorted(t, t_off, "left"))
        if b <= a:
            return
        ts = t[a:b]
        up = (ts - t_on) / STAND_RAMP_S
        down = (t_off - ts) / STAND_RAMP_S
        ramp = np.minimum(np.clip(up, 0, 1), np.clip(down, 0, 1))
        env = 0.5 - 0.5 * np.cos(np.pi * ramp)
        total = p.body_weight_n + self._sway(_SWAY_FZ, ts, 0)
        share_left = 0.5 + self._sway(_SWAY_SHARE, ts, 3)
        fz = env * total * (share_left if left else 1.0 - share_left)
        sgn = -1.0 if left else 1.0
        cop_ml = self._sway(_SWAY_COP_ML, ts, 5)
        cop_ap = self._sway(_SWAY_COP_AP, ts, 7)
        out["fz"][a:b] += fz
        # the small shear that moves the centre of mass with the sway (≈ 0.2 % of the load)
        out["fml"][a:b] += fz * cop_ml / _COM_HEIGHT_M
        out["fap"][a:b] += fz * cop_ap / _COM_HEIGHT_M
        out["cop_ml"][a:b] = sgn * 0.5 * max(p.step_width_m, 0.1) + cop_ml
        out["cop_ap"][a:b] = 0.05 + cop_ap
        out["cop_x"][a:b] = cop_ml / 0.1
        out["cop_y"][a:b] = -0.05 + cop_ap / 0.26

    def stances(self, t0_s: float = 0.0, t1_s: float | None = None) -> list[TrueStance]:
        """True stances that start in [t0_s, t1_s) (model time, s)."""
        if t1_s is None:
            t1_s = self._next_start
        self._extend(t1_s)
        return [s for s in list(self._stances) if t0_s <= s.start_s < t1_s]

    # -- evaluation ------------------------------------------------------------------------
    def foot(self, side: str, t_s: np.ndarray) -> dict[str, np.ndarray]:
        """Signals of one foot at model times ``t_s`` (s, ascending).

        Returns
        -------
        dict
            ``fz``, ``fap``, ``fml`` (N), ``tz`` (N*m), ``cop_ap``, ``cop_ml`` (m, treadmill/plate
            frame relative to the plate centre, NaN off the ground), ``cop_x``, ``cop_y``
            (insole-normalised ±0.5, NaN off the ground), ``tau`` (fraction of stance, NaN off).
        """
        if side not in ("left", "right"):
            raise ValueError(f"side must be 'left' or 'right', not {side!r}")
        t = np.asarray(t_s, dtype=float)
        n = t.shape[0]
        out = {k: np.zeros(n) for k in ("fz", "fap", "fml", "tz")}
        for k in ("cop_ap", "cop_ml", "cop_x", "cop_y", "tau"):
            out[k] = np.full(n, np.nan)
        if n == 0:
            return out
        if self.params.stand_s > 0:
            self._add_standing(out, t, side == "left")
        self._extend(float(t[-1]))
        p = self.params
        bw = p.body_weight_n
        want_left = side == "left"
        start_s, end_s, mid_n, imp_n, is_left = self._arrays
        sel = np.flatnonzero((is_left == want_left) & (end_s > t[0]) & (start_s <= t[-1]))
        sgn_ml = 1.0 if want_left else -1.0  # medial is toward the other foot
        run = p.mode == "run"
        for i in sel.tolist():
            a = int(np.searchsorted(t, start_s[i], "left"))
            b = int(np.searchsorted(t, end_s[i], "left"))
            if b <= a:
                continue
            ct = end_s[i] - start_s[i]
            tau = (t[a:b] - start_s[i]) / ct
            fz = self._vertical_shape(tau, mid_n[i], imp_n[i])
            out["fz"][a:b] = fz
            out["tau"][a:b] = tau
            ap_amp = (0.35 if run else 0.2) * bw * (mid_n[i] / (p.mean_peak_bw * bw))
            out["fap"][a:b] = -ap_amp * np.sin(2 * np.pi * tau) * np.sin(np.pi * tau)
            out["fml"][a:b] = sgn_ml * 0.06 * fz
            out["tz"][a:b] = -sgn_ml * 4.0 * np.sin(np.pi * tau) * (fz / bw)
            heel = -0.42 if p.strike == "rear" else (-0.15 if p.strike == "mid" else 0.05)
            out["cop_y"][a:b] = heel + (0.40 - heel) * tau
            # lateral heel to medial toe (+x is toward the wearer's right on both insoles)
            out["cop_x"][a:b] = (-0.04 + 0.08 * tau) * (1.0 if want_left else -1.0)
            # On a belt the foot moves backward with the belt while the COP rolls forward.
            land_ap = 0.18
            out["cop_ap"][a:b] = (land_ap - p.speed_m_s * (t[a:b] - start_s[i])
                                  + 0.22 * tau)
            out["cop_ml"][a:b] = (-0.5 if want_left else 0.5) * p.step_width_m + \
                sgn_ml * 0.01 * tau
        return out

    def plate(self, t_s: np.ndarray, sides: tuple[str, ...] = ("left", "right"),
              threshold_n: float = 20.0) -> dict[str, np.ndarray]:
        """Signals of one plate under the given feet at model times ``t_s`` (s).

        Forces add; COP is the force-weighted mean (NaN where total Fz < ``threshold_n``); the free
        moment adds the moment of each foot's shear about the combined COP.

        Returns
        -------
        dict
            ``fx`` (= fml), ``fy`` (= fap), ``fz`` (N), ``cop_x`` (= cop_ml), ``cop_y`` (= cop_ap)
            in m, ``tz`` (N*m).
        """
        t = np.asarray(t_s, dtype=float)
        n = t.shape[0]
        fx, fy, fz, tz = np.zeros(n), np.zeros(n), np.zeros(n), np.zeros(n)
        mx_sum, my_sum = np.zeros(n), np.zeros(n)
        feet = [self.foot(s, t) for s in sides]
        for f in feet:
            fx += f["fml"]
            fy += f["fap"]
            fz += f["fz"]
            tz += f["tz"]
            on = f["fz"] > 0
            mx_sum[on] += (f["fz"] * f["cop_ml"])[on]
            my_sum[on] += (f["fz"] * f["cop_ap"])[on]
        loaded = fz >= threshold_n
        cop_x = np.full(n, np.nan)
        cop_y = np.full(n, np.nan)
        np.divide(mx_sum, fz, out=cop_x, where=loaded)
        np.divide(my_sum, fz, out=cop_y, where=loaded)
        if len(feet) > 1:
            for f in feet:
                on = (f["fz"] > 0) & loaded
                # shear of this foot applied at its own COP, moved to the combined COP
                tz[on] += ((f["cop_ml"] - cop_x) * f["fap"] - (f["cop_ap"] - cop_y) * f["fml"])[on]
        return {"fx": fx, "fy": fy, "fz": fz, "cop_x": cop_x, "cop_y": cop_y, "tz": tz}


def insole_pressures(
    fz_n: np.ndarray,
    cop_x: np.ndarray,
    cop_y: np.ndarray,
    x_mm: np.ndarray,
    y_mm: np.ndarray,
    area_mm2: np.ndarray,
    *,
    width_mm: float = 100.0,
    length_mm: float = 260.0,
    spread_mm: float = 40.0,
) -> np.ndarray:
    """Distribute a foot's vertical force over insole sensors around its COP.

    Parameters
    ----------
    fz_n : ndarray, shape (n,)
        Vertical force of the foot in N.
    cop_x, cop_y : ndarray, shape (n,)
        COP normalised to ±0.5 of insole width/length (NaN when unloaded).
    x_mm, y_mm, area_mm2 : ndarray, shape (k,)
        Sensor positions (origin heel centre, +y toward toes) in mm and areas in mm².
    width_mm, length_mm : float
        Insole width and length in mm (heel centre is at y = 0.08 × length from the heel edge).
    spread_mm : float
        Standard deviation of the Gaussian load footprint in mm.

    Returns
    -------
    ndarray, shape (n, k)
        Pressures in kPa with Σ p·A = fz exactly (p in kPa, A in mm²: Σ p·A / 1000 = fz in N).
    """
    fz = np.asarray(fz_n, dtype=float)
    cx = np.nan_to_num(np.asarray(cop_x, dtype=float)) * width_mm
    cy = (np.nan_to_num(np.asarray(cop_y, dtype=float)) + 0.5 - 0.08) * length_mm
    xs = np.asarray(x_mm, dtype=float)[None, :]
    ys = np.asarray(y_mm, dtype=float)[None, :]
    area = np.asarray(area_mm2, dtype=float)[None, :]
    w = np.exp(-0.5 * (((xs - cx[:, None]) ** 2 + (ys - cy[:, None]) ** 2) / spread_mm**2))
    w = w + 1e-9
    norm = np.sum(w * area, axis=1)
    p_kpa = (np.clip(fz, 0.0, None) * 1000.0 / norm)[:, None] * w
    return p_kpa
