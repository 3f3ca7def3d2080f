"""The demo session: simulated treadmill -> drivers -> recorder -> session file -> analysis.

The workflow behind ``forcelab demo`` (and ``bench/bench_recorder.py``): it strings the rooms
together, so it lives with the command line, which is the only room above all of them. The
command module imports it lazily, keeping ``forcelab --help`` instant.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

import numpy as np

from forcelab.acquisition.headless import record_headless
from forcelab.acquisition.live import robinson_si_pct, symmetry_text
from forcelab.analysis import analyze_recording
from forcelab.drivers.sim.setups import start_setup
from forcelab.store import read_recording, write_analysis

#: The recovered SI of the mid-stance peak must be within this many points of the simulated one.
TOLERANCE_POINTS = 2.0


def true_si_pct(truth: Any) -> float | None:
    """SI (%) of the mean mid-stance peak of the simulator's true stances, (R − L)/mean·100."""
    stances = list(truth)
    if not stances:
        return None

    def get(s: Any, key: str) -> Any:
        return s[key] if isinstance(s, dict) else getattr(s, key)

    peaks: dict[str, list[float]] = {"left": [], "right": []}
    for s in stances:
        side = get(s, "side")
        if side in peaks:
            peaks[side].append(float(get(s, "midstance_peak_n")))
    if not peaks["left"] or not peaks["right"]:
        return None
    return robinson_si_pct(float(np.mean(peaks["left"])), float(np.mean(peaks["right"])))


def recovered_si_pct(result: Any) -> float | None:
    """SI (%) of the mid-stance peak from an AnalysisResult's asymmetry table."""
    asym = getattr(result, "asymmetry", {}) or {}
    for key in ("midstance_peak_n", "midstance_peak_bw"):
        row = asym.get(key)
        if row and row.get("si_pct") is not None:
            return float(row["si_pct"])
    return None


def run_demo(
    path: str,
    *,
    duration_s: float = 60.0,
    asymmetry: float = -0.08,
    speed_m_s: float = 3.5,
    body_mass_kg: float = 70.0,
    seed: int = 1,
    progress: bool = True,
    out: TextIO | None = None,
) -> dict[str, Any]:
    """Record a simulated treadmill run into ``path``, analyse it and print the coach's summary.

    Parameters
    ----------
    path : str
        New session file.
    duration_s : float
        Recording length, s.
    asymmetry : float
        Simulated SI of the mid-stance peak as a fraction ((R − L)/((R + L)/2); −0.08 = left 8 %
        higher).
    speed_m_s : float
        Belt speed, m/s.
    body_mass_kg : float
        Simulated runner's body mass, kg (also entered as the athlete's).
    seed : int
        Simulator seed.
    progress : bool
        Print a progress line per second while recording.
    out : text stream
        Where to print (default stdout).

    Returns
    -------
    dict
        ``path``, ``simulated_si_pct`` (the setting), ``true_si_pct`` (of the stances the
        simulator generated), ``recovered_si_pct`` (analysis of the file), ``difference_points``,
        ``recovered`` (within :data:`TOLERANCE_POINTS`), ``result`` (AnalysisResult),
        ``recording`` (recorder summary).
    """
    out = out or sys.stdout
    options = {
        "asymmetry": asymmetry,
        "speed": speed_m_s,
        "mass": body_mass_kg,
        "seed": seed,
    }
    print(
        f"forcelab demo: simulated instrumented treadmill, {speed_m_s:g} m/s, "
        f"{body_mass_kg:g} kg runner, set asymmetry SI {100 * asymmetry:+.1f} % "
        f"({symmetry_text(100 * asymmetry)})",
        file=out,
        flush=True,
    )
    t_setup_s = time.time()
    setup = start_setup("treadmill", options)
    try:
        summary = record_headless(
            setup.urls,
            path,
            duration_s,
            athlete={
                "name": "Demo runner (simulated)",
                "id": "demo",
                "body_mass_kg": body_mass_kg,
                "body_mass_method": "entered (simulated runner)",
            },
            trial=f"treadmill run {speed_m_s:g} m/s",
            tags=("demo", "simulated"),
            notes=f"forcelab demo, simulator options {options}",
            interval_s=1.0 if progress else 0.0,
            out=out,
        )
        # the true stances of the recorded interval (model time 0 is setup.t0_host_s)
        t0_model_host_s = float(getattr(setup, "t0_host_s", t_setup_s))
        t_end_model_s = time.time() - t0_model_host_s
        t_begin_model_s = t_end_model_s - float(summary["duration_s"])
        truth = [
            s for s in setup.truth.stances(0.0, t_end_model_s) if s.start_s >= t_begin_model_s
        ]
    finally:
        setup.stop()
    print(f"saved {summary['path']}", file=out, flush=True)
    if summary.get("error"):
        print(f"warning: {summary['error']}", file=out, flush=True)

    recording = read_recording(path)
    result = analyze_recording(recording)
    write_analysis(path, result.to_dict(), result.parameters)
    print("", file=out)
    print(result.format_text(), file=out)
    print("", file=out)

    sim_si = 100.0 * asymmetry
    true_si = true_si_pct(truth)
    rec_si = recovered_si_pct(result)
    diff = None if rec_si is None else rec_si - sim_si
    recovered = diff is not None and abs(diff) <= TOLERANCE_POINTS
    lines = [
        "Asymmetry check (mid-stance peak, SI = (R - L)/((R + L)/2)):",
        f"  simulated setting    SI {sim_si:+5.1f} %  ({symmetry_text(sim_si)})",
    ]
    if true_si is not None:
        lines.append(f"  simulator's stances  SI {true_si:+5.1f} %  ({symmetry_text(true_si)})")
    if rec_si is None:
        lines.append("  recovered from file  n/a (too few stances on one side)")
    else:
        lines.append(
            f"  recovered from file  SI {rec_si:+5.1f} %  ({symmetry_text(rec_si)}), "
            f"{abs(diff):.1f} points from the setting: "
            + ("OK" if recovered else f"NOT within {TOLERANCE_POINTS:g} points")
        )
    print("\n".join(lines), file=out, flush=True)
    return {
        "path": path,
        "simulated_si_pct": sim_si,
        "true_si_pct": true_si,
        "recovered_si_pct": rec_si,
        "difference_points": diff,
        "recovered": recovered,
        "result": result,
        "recording": summary,
    }
