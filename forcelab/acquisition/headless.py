"""Headless recording loop shared by ``forcelab record`` and ``forcelab demo``.

Runs a :class:`~forcelab.acquisition.SessionController` for a fixed duration (or until SIGINT /
SIGTERM), printing progress and live per-side figures once per interval, and always finalises the
session file.
"""

from __future__ import annotations

import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

from forcelab.acquisition.controller import SessionController
from forcelab.acquisition.errors import AcquisitionError
from forcelab.acquisition.status import ControllerEvent, Snapshot, State
from forcelab.errors import InputError, SessionFileError

MAX_DURATION_S = 7 * 24 * 3600.0
#: Seconds given to the athlete to step on between taring and weighing.
STEP_ON_S = 5.0


def say(out: Any, line: str) -> None:
    """Write one whole line to ``out`` in one call and flush it: the recorder's threads (progress,
    warnings, live cues) share the console, and ``print`` writes the text and its newline in two
    calls, between which another thread's line could land."""
    out.write(line + "\n")
    out.flush()

def check_duration(duration_s: Any) -> float:
    """Return a recording duration in s after checking it (0 < d ≤ 7 days).

    Raises
    ------
    InputError
        If it is not a positive finite number of seconds.
    """
    try:
        value = float(duration_s)
    except (TypeError, ValueError):
        raise InputError(f"duration must be a number of seconds, got {duration_s!r}") from None
    if not math.isfinite(value) or not 0 < value <= MAX_DURATION_S:
        raise InputError(f"duration must be between 0 and 7 days in seconds, got {duration_s!r}")
    return value


def check_new_file(path: str) -> str:
    """Check that ``path`` is a new session file we can create (never overwrite).

    Raises
    ------
    forcelab.errors.SessionFileError
        If it exists or its folder does not.
    """
    path = os.fspath(path)
    if os.path.exists(path):
        raise SessionFileError(
            f"{path} already exists; forcelab never overwrites a session, choose a new name"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise SessionFileError(f"folder {folder} does not exist; create it or choose another")
    if not os.access(folder, os.W_OK):
        raise SessionFileError(f"folder {folder} is not writable; choose another output file")
    return path


def format_progress(snap: Snapshot) -> str:
    """One progress line: time, samples per stream, file size, stances, per-side figures."""
    parts = [f"{snap.elapsed_s:7.1f} s"]
    for d in snap.devices:
        lost = d.dropped_samples + d.overflow_writer_samples
        text = f"{d.name} {d.samples_recorded}"
        if lost:
            text += f" ({lost} lost)"
        if d.state != "streaming":
            text += f" [{d.state.upper()}]"
        parts.append(text)
    if snap.file_size_bytes is not None:
        parts.append(f"{snap.file_size_bytes / 1e6:.1f} MB")
    live = snap.live or {}
    parts.append(f"stances {snap.stance_count}")
    sides = live.get("sides", {})
    peaks = []
    for side, label in (("left", "L"), ("right", "R")):
        s = sides.get(side)
        if s and s.get("midstance_peak_n") is not None:
            bw = s.get("midstance_peak_bw")
            peaks.append(f"{label} {s['midstance_peak_n']:.0f} N" + (f" {bw:.2f} BW" if bw else ""))
    if peaks:
        si = live.get("si_pct")
        parts.append(
            "mid-stance peak " + "  ".join(peaks) + (f"  SI {si:+.1f} %" if si is not None else "")
        )
    if live.get("cadence_spm"):
        parts.append(f"cadence {live['cadence_spm']:.0f} spm")
    if live.get("contact_time_s"):
        parts.append(f"contact {live['contact_time_s'] * 1000:.0f} ms")
    return " | ".join(parts)


def format_live_summary(live: dict[str, Any]) -> str:
    """Per-side live figures as a few lines for the end of a recording."""
    lines = []
    for key, s in sorted(live.get("sides", {}).items()):
        peak = s.get("midstance_peak_n")
        bw = s.get("midstance_peak_bw")
        ct = s.get("contact_time_s")
        cad = s.get("cadence_spm")
        lines.append(
            f"  {key:<14} {s['n_stances']:5d} stances"
            + (f"  mid-stance peak {peak:7.0f} N" if peak is not None else "")
            + (f" ({bw:.2f} BW)" if bw else "")
            + (f"  contact {ct * 1000:4.0f} ms" if ct else "")
            + (f"  cadence {cad:4.0f} spm" if cad else "")
        )
    if live.get("si_pct") is not None:
        lines.append(f"  live asymmetry: {live['symmetry_text']} (SI {live['si_pct']:+.1f} %)")
    return "\n".join(lines)


class _StopRequest:
    """SIGINT/SIGTERM set a flag instead of raising, so the file is always finalised."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._old: dict[int, Any] = {}

    def __enter__(self) -> _StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()

    def __exit__(self, *exc: object) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def record_headless(
    devices: Iterable[str],
    path: str,
    duration_s: float,
    *,
    athlete: dict[str, Any],
    trial: str | None = None,
    tags: Iterable[str] = (),
    operator: str = "",
    notes: str = "",
    tare: bool = False,
    weigh_s: float = 0.0,
    interval_s: float = 1.0,
    out: TextIO | None = None,
    controller: SessionController | None = None,
    on_connected: Callable[[SessionController], None] | None = None,
    on_recording: Callable[[SessionController, threading.Event], None] | None = None,
    trials: Sequence[tuple[str, Sequence[str], float]] | None = None,
) -> dict[str, Any]:
    """Connect, record ``duration_s`` s (or until SIGINT/SIGTERM) into ``path``, finalise.

    Parameters
    ----------
    devices : iterable of str
        Device strings (``sim:treadmill``, ``fpb1:///dev/ttyACM0``, ...).
    path : str
        New session file.
    duration_s : float
        Recording length, s.
    athlete : dict
        ``name``, ``id``, ``body_mass_kg`` ...
    trial, tags
        Name and tags of the trial covering the recording (default trial name "trial 1").
    tare : bool
        Zero the devices before recording (nothing may stand on them).
    weigh_s : float
        When > 0, measure body weight over this many s of quiet standing before recording (the
        athlete steps on after taring); a moving athlete raises NotStillError.
    interval_s : float
        Progress line period, s (0 = no progress lines).
    out : text stream
        Where progress goes (default stdout).
    controller : SessionController or None
        Use this controller (default: a new one).
    on_connected : callable or None
        ``on_connected(controller)`` after connecting (the demo reads simulator truth there).
    on_recording : callable or None
        ``on_recording(controller, stop_event)`` once the file is open, before the first trial
        (live feedback waits there for the detectors' warm-up).
    trials : sequence of (name, tags, duration_s) or None
        Trials recorded one after the other instead of one trial of ``duration_s``.

    Returns
    -------
    dict
        :meth:`SessionController.stop_recording` summary plus ``interrupted`` (signal name or
        None) and ``errors`` (every error reported during the session, also recovered ones).
    """
    out = out or sys.stdout
    duration_s = check_duration(duration_s)
    check_new_file(path)
    ctl = controller or SessionController()
    summary: dict[str, Any] = {}
    errors: list[str] = []

    def report(events: list[ControllerEvent]) -> bool:
        """Print warnings and errors; True when the session file can no longer be written."""
        file_lost = False
        for ev in events:
            if ev.severity != "info":
                say(out, f"{ev.severity}: {ev.message}")
            if ev.severity == "error":
                errors.append(ev.message)
            file_lost |= ev.kind == "writer_error"
        return file_lost

    with _StopRequest() as stop:
        try:
            names = ctl.connect(list(devices))
            say(out, f"connected: {', '.join(names)}")
            if on_connected is not None:
                on_connected(ctl)
            if tare and not stop.event.is_set():
                ctl.tare()
                say(out, "devices zeroed")
            if weigh_s and not stop.event.is_set():
                if tare:
                    say(out, f"step on now; weighing starts in {STEP_ON_S:g} s")
                    stop.event.wait(STEP_ON_S)
                say(out, f"weighing: stand still for {weigh_s:g} s")
                bw = ctl.weigh(weigh_s)
                say(out, f"body mass {bw.body_mass_kg:.1f} kg ({bw.method})")
                athlete = {
                    **athlete,
                    "body_mass_kg": bw.body_mass_kg,
                    "body_mass_method": bw.method,
                }
            if stop.event.is_set():
                raise AcquisitionError(f"stopped by {stop.signal_name} before recording started")
            ctl.start_recording(path, athlete=athlete, operator=operator, notes=notes)
            if on_recording is not None:
                on_recording(ctl, stop.event)
            plan = list(trials) if trials else [(trial or "trial 1", tags, duration_s)]
            say(out, f"recording {sum(p[2] for p in plan):g} s to {path} (Ctrl-C stops early)")
            file_lost = False
            for name, trial_tags, trial_s in plan:
                if stop.event.is_set() or file_lost:
                    break
                ctl.start_trial(name, tags=trial_tags)
                if len(plan) > 1:
                    say(out, f"trial {name!r}: {trial_s:g} s")
                t_end = time.monotonic() + trial_s
                next_print = time.monotonic() + interval_s
                while not stop.event.is_set():
                    now = time.monotonic()
                    if now >= t_end:
                        break
                    # a lost device is reported and the others go on being recorded (a driver
                    # that reconnects resumes); only a session file that cannot be written
                    # ends it early
                    file_lost = report(ctl.poll_events())
                    if file_lost:
                        break
                    if interval_s and now >= next_print:
                        say(out, format_progress(ctl.snapshot()))
                        next_print += interval_s
                    stop.event.wait(min(0.1, max(0.0, t_end - now)))
            if ctl.state in (State.RECORDING, State.ERROR):
                summary = ctl.stop_recording()
            report(ctl.poll_events())
        finally:
            try:
                if ctl.state in (State.RECORDING, State.ERROR) and ctl.path is not None:
                    summary = summary or ctl.stop_recording()
            finally:
                ctl.disconnect()
    summary["interrupted"] = stop.signal_name
    summary["errors"] = errors
    if not summary.get("path"):
        raise AcquisitionError("nothing was recorded")
    return summary
