"""The console's view of the acquisition: a thin adapter over the SessionController.

The window talks only to :class:`ConsoleBackend`; the backend talks to
:class:`forcelab.acquisition.SessionController` (the same controller ``forcelab record`` uses),
the drivers' discovery and the store. Everything the backend does from the GUI thread is
non-blocking (snapshots, ring-buffer peeks, queued control items); slow operations (connect, tare,
weigh, summaries) are called by the window on its job thread.

The acquisition threads, the writer and the live analyser belong to the controller; the console
never sits in the data path, so a stalled GUI loses no sample.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from forcelab.errors import InputError

SIM_SETUPS = ("sim:treadmill", "sim:plate", "sim:insoles", "sim:diy")
STANDARD_GRAVITY_M_S2 = 9.80665


@dataclass
class Snapshot:
    """What the window shows, read from the controller's status snapshot (all optional)."""

    state: str = "idle"
    devices: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float | None = None
    file_size_bytes: float | None = None
    n_stances: int = 0
    si_pct: float | None = None
    left_mean: float | None = None
    right_mean: float | None = None
    left_n: int = 0
    right_n: int = 0
    unit: str = "N"
    cadence_spm: float | None = None
    contact_time_s: dict[str, float | None] = field(default_factory=dict)
    stances: list[tuple[str | None, float]] = field(default_factory=list)
    session_path: str | None = None
    trial: str | None = None
    n_markers: int = 0
    error: str | None = None


def session_file_name(athlete_name: str, when: float | None = None) -> str:
    """A new session file name: ``20261125-114500_jane-runner.h5`` (safe characters only)."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(when))
    slug = "".join(c if c.isalnum() else "-" for c in athlete_name.strip().lower()).strip("-")
    while "--" in slug:
        slug = slug.replace("--", "-")
    return f"{stamp}_{slug or 'session'}.h5"


def unique_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem-2.h5`` ... when it exists (files are never overwritten)."""
    path = folder / name
    n = 2
    while path.exists():
        path = folder / f"{Path(name).stem}-{n}{Path(name).suffix}"
        n += 1
    return path


class ConsoleBackend:
    """The acquisition as the console sees it.

    One console trial is one recording: *Start* creates a new session file
    (``SessionController.start_recording``) and opens a named trial in it; *Stop* closes the trial
    and finalises the file (``stop_recording``), so the post-trial summary reads a complete file
    and nothing is lost if the console is closed or crashes afterwards.

    Parameters
    ----------
    controller_factory : callable or None
        Builds the SessionController; by default ``forcelab.acquisition.SessionController``
        writing through :meth:`session_writer` (so :attr:`publish_lsl` applies).

    Attributes
    ----------
    publish_lsl : bool
        Publish each recording started from now on as LSL outlets (the console checkbox).
    """

    def __init__(self, controller_factory: Callable[[], Any] | None = None) -> None:
        self.publish_lsl = False
        if controller_factory is None:
            from forcelab.acquisition import SessionController

            def controller_factory() -> Any:
                return SessionController(session_writer_factory=self.session_writer)

        self._factory = controller_factory
        self.controller: Any = controller_factory()
        self.session_path: Path | None = None
        self._recording = False
        self._trials: list[dict[str, Any]] = []
        self._current_trial: dict[str, Any] | None = None
        self._markers = 0
        self._bars: list[tuple[str | None, float, float]] = []
        self._bar_counts: dict[str, int] = {}
        self._sides: dict[str, str | None] = {}
        self._display: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self._display_origin: float | None = None
        self._last_peek: float | None = None

    def session_writer(self, path: Path, **kwargs: Any) -> Any:
        """The writer of a new session file; it also publishes over LSL while
        :attr:`publish_lsl` is set (see :mod:`forcelab.acquisition.lsl_outlet`)."""
        from forcelab.acquisition.lsl_outlet import outlet_writer_factory
        from forcelab.store import SessionWriter

        if self.publish_lsl:
            return outlet_writer_factory()(path, **kwargs)
        return SessionWriter.create(path, **kwargs)

    # -- discovery -------------------------------------------------------------------------
    @staticmethod
    def simulated_setups() -> tuple[str, ...]:
        """Simulated device strings offered when there is no hardware."""
        return SIM_SETUPS

    @staticmethod
    def list_devices() -> list[str]:
        """Device strings for the serial ports and running simulated ports found now."""
        from forcelab.drivers import list_devices

        out = []
        for rec in list_devices():
            if not isinstance(rec, dict):
                out.append(str(rec))
                continue
            device = str(rec.get("device", ""))
            if not device:
                continue
            text = " ".join(str(rec.get(k) or "") for k in ("description", "product", "hwid"))
            proto = str(rec.get("protocol") or "").lower() or next(
                (p for p in ("ins1", "csv4", "fpb1") if p in text.lower()), "fpb1"
            )
            out.append(f"{proto}://{device}")
        return out

    # -- state -----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The controller's state name."""
        state = self.controller.state
        return str(getattr(state, "value", state))

    @property
    def is_connected(self) -> bool:
        """True when devices are connected (whatever the controller is doing with them)."""
        return self.state != "idle"

    @property
    def is_recording(self) -> bool:
        """True while a session file is open (recording, or in error with the file open)."""
        return self._recording

    def can(self, action: str) -> bool:
        """Whether ``action`` ("tare", "weigh", "start") makes sense in the current state."""
        if action in ("tare", "weigh", "start"):
            return self.state in ("connected", "stopped")
        return False

    @property
    def trials(self) -> list[dict[str, Any]]:
        """Trials recorded in this console session: ``name``, ``tags``, ``path`` and, once
        stopped, ``recording`` (the controller's stop report: samples recorded, dropped and
        overflowed per stream, error)."""
        return [dict(t) for t in self._trials]

    def trial_count(self) -> int:
        """Number of trials recorded in this console session."""
        return len(self._trials)

    def stream_sides(self) -> dict[str, str | None]:
        """``{stream: side}`` of the connected streams."""
        if set(self._sides) != set(self.controller.stream_names):
            self._sides = {
                s: self.controller.device_info(s).side for s in self.controller.stream_names
            }
        return dict(self._sides)

    # -- actions (slow ones run on the window's job thread) --------------------------------
    def connect(self, devices: list[str]) -> list[str]:
        """Connect the devices; returns the stream names."""
        if not devices:
            raise InputError("no device given; try sim:treadmill")
        names = list(self.controller.connect(devices))
        self._sides = {}
        return names

    def disconnect(self) -> str | None:
        """Stop a running trial, finalise its file and release the devices; returns the file."""
        path = self.close()
        self.controller = self._factory()
        self._sides = {}
        return path

    def tare(self) -> None:
        """Zero every device (nobody on the plates)."""
        self.controller.tare()

    def weigh(self, duration_s: float = 3.0) -> dict[str, Any]:
        """Measure body mass from quiet standing; ``{"body_mass_kg", "sd_n", ...}``."""
        return dict(self.controller.weigh(duration_s).to_dict())

    def set_body_mass(self, body_mass_kg: float | None) -> None:
        """Body mass typed by the operator (kg), used for the live figures in BW."""
        self.controller.set_body_mass(body_mass_kg)

    def start_trial(
        self,
        name: str,
        tags: list[str],
        *,
        athlete: dict[str, Any],
        operator: str = "",
        output_dir: Path,
    ) -> Path:
        """Create a new session file and start the named trial in it; returns the file."""
        output_dir = Path(output_dir).expanduser()
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the session folder {output_dir}: {exc}") from None
        if not os.access(output_dir, os.W_OK):
            raise InputError(f"the session folder {output_dir} is not writable; pick another")
        path = unique_path(output_dir, session_file_name(athlete.get("name", "") or "session"))
        athlete = {k: v for k, v in athlete.items() if v is not None}
        self.controller.start_recording(path, athlete=athlete, operator=operator)
        self.session_path = path
        self._recording = True
        self._bars = []
        self._bar_counts = {}
        try:
            self.controller.start_trial(name, tags=tuple(tags))
        except BaseException:
            self._stop_recording()
            raise
        self._current_trial = {"name": name, "tags": list(tags), "path": str(path)}
        self._trials.append(self._current_trial)
        return path

    def stop_trial(self) -> dict[str, Any]:
        """Stop the trial and finalise its session file; returns ``{"name", "tags", "path",
        "recording"}`` (``recording`` is the controller's stop report)."""
        report = self._stop_recording()
        if self._current_trial is not None:
            self._current_trial["recording"] = report
        info = dict(self._current_trial or {"path": str(self.session_path)})
        info["recording"] = report
        self._current_trial = None
        return info

    def _stop_recording(self) -> dict[str, Any] | None:
        if not self._recording:
            return None
        try:
            return dict(self.controller.stop_recording())
        finally:
            self._recording = False

    def add_marker(self, label: str | None = None) -> str:
        """Add a marker now; returns its label."""
        self._markers += 1
        label = label or f"M{self._markers}"
        self.controller.add_marker(label)
        return label

    def summarise_trial(self, info: dict[str, Any], body_mass_kg: float | None = None) -> str:
        """The finished trial's analysis as ``forcelab analyze`` prints it (runs on a job)."""
        from forcelab.console.review import analyse_trial

        result = analyse_trial(str(info["path"]), info.get("name"), body_mass_kg)
        header = f"Trial: {info.get('name')}"
        if info.get("tags"):
            header += f"  [{', '.join(info['tags'])}]"
        rec = info.get("recording") or {}
        lines = [header, f"File: {info['path']}"]
        for stream, figures in (rec.get("streams") or {}).items():
            lines.append(
                f"  {stream}: {figures.get('samples_recorded', 0)} samples recorded, "
                f"{figures.get('dropped_samples', 0)} dropped by the link, "
                f"{figures.get('overflow_writer_samples', 0)} lost to overflow"
            )
        if rec.get("error"):
            lines.append(f"  error during recording: {rec['error']}")
        lines += coach_lines(result.get("result"))
        return "\n".join(lines) + "\n\n" + result["text"]

    def close(self) -> str | None:
        """Stop a running trial, finalise the session file and release the devices."""
        path = str(self.session_path) if self.session_path else None
        try:
            self._stop_recording()
        finally:
            self.controller.close()
            self._current_trial = None
        return path

    # -- non-blocking reads for the GUI timers ---------------------------------------------
    def peek(self, seconds: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{stream: (t_s, fz_n)}`` of the last ``seconds`` s.

        Incremental: each call copies only the samples that arrived since the previous call
        from the controller's ring buffers (plus a short overlap) and appends them to a
        display buffer per stream, so a redraw at 2 kHz costs a few dozen samples, not ten
        seconds of every channel. The display buffer restarts when the session time origin
        changes (recording started) or time runs backwards.
        """
        origin = self.controller.session_start_s
        if origin != self._display_origin:
            self._display = {}
            self._display_origin = origin
        now = time.monotonic()
        since = now - self._last_peek if self._last_peek is not None else seconds
        self._last_peek = now
        fetch_s = min(float(seconds), since + 0.5)
        out = {}
        for stream in self.controller.stream_names:
            if "fz" not in self.controller.channel_names(stream):
                continue
            t_new, fz_new = self.controller.peek_channel(stream, "fz", fetch_s)
            old = self._display.get(stream)
            if old is None or not old[0].size or (t_new.size and t_new[0] < old[0][0]):
                t_all, fz_all = self.controller.peek_channel(stream, "fz", seconds)
            else:
                t_old, fz_old = old
                keep = t_new > t_old[-1]
                t_all = np.concatenate([t_old, t_new[keep]])
                fz_all = np.concatenate([fz_old, fz_new[keep]])
                if t_all.size:
                    start = np.searchsorted(t_all, t_all[-1] - float(seconds), side="left")
                    t_all, fz_all = t_all[start:], fz_all[start:]
            self._display[stream] = (t_all, fz_all)
            out[stream] = (t_all, fz_all)
        return out

    def pop_events(self) -> list[dict[str, Any]]:
        """Events since the last call: ``{"kind", "message", "severity"}``."""
        return [
            {"kind": e.kind, "message": e.message, "severity": e.severity, "stream": e.stream}
            for e in self.controller.poll_events()
        ]

    def snapshot(self) -> Snapshot:
        """The controller's status, shaped for the window (never blocks)."""
        snap = self.controller.snapshot()
        result = snapshot_from_controller(snap)
        self._collect_bars(snap.live or {}, result.unit, snap.body_mass_kg)
        result.stances = [(side, value) for side, value, _ in self._bars]
        return result

    def _collect_bars(self, live: dict[str, Any], unit: str, mass: float | None) -> None:
        """Keep the mid-stance peak of every completed valid stance of the trial (oldest first).

        Reads the controller's live stance list (the last 200) only when the stance count
        changed.
        """
        sides = live.get("sides") or {}
        count = sum(int(f.get("n_stances") or 0) for f in sides.values())
        if count == self._bar_counts.get("_total"):
            return
        self._bar_counts["_total"] = count
        bars = []
        for st in self._live_stances():
            peak = st.get("midstance_peak_n")
            if not st.get("valid", True) or peak is None or not np.isfinite(peak):
                continue
            value = peak / (mass * STANDARD_GRAVITY_M_S2) if unit == "BW" and mass else peak
            bars.append((st.get("side"), float(value), float(st.get("start_s", 0.0))))
        bars.sort(key=lambda b: b[2])
        self._bars = bars[-200:]

    def _live_stances(self) -> list[dict[str, Any]]:
        return list(self.controller.live_stances(last_n=200))


def coach_lines(result: dict[str, Any] | None) -> list[str]:
    """The headline asymmetry lines of an analysis (mid-stance peak, contact time) for the top
    of a summary, from ``AnalysisResult.to_dict()``."""
    if not result:
        return []
    asym = result.get("asymmetry") or {}
    lines = []
    for keys in (("midstance_peak_bw", "midstance_peak_n"), ("contact_time_s",)):
        for key in keys:
            text = (asym.get(key) or {}).get("text")
            if text:
                lines.append(text)
                break
    return ["", "Coach view:", *(f"  {t}" for t in lines)] if lines else []


def snapshot_from_controller(snap: Any) -> Snapshot:
    """Turn a :class:`forcelab.acquisition.Snapshot` into the console's :class:`Snapshot`."""
    live = snap.live or {}
    sides = live.get("sides") or {}
    mass = snap.body_mass_kg or live.get("body_mass_kg")
    unit = "BW" if mass else "N"

    def mean(side: str) -> float | None:
        fig = sides.get(side) or {}
        if unit == "BW" and fig.get("midstance_peak_bw") is not None:
            return float(fig["midstance_peak_bw"])
        v = fig.get("midstance_peak_n")
        if v is None:
            return None
        return v / (mass * STANDARD_GRAVITY_M_S2) if unit == "BW" else float(v)

    devices = []
    for d in snap.devices:
        link = d.link or {}
        errors = sum(int(link.get(k, 0)) for k in ("crc_errors", "bad_lines", "resyncs"))
        devices.append({
            "name": d.name, "side": d.side, "state": d.state,
            "rate_hz": d.measured_rate_hz or d.rate_hz, "samples": d.samples,
            "dropped": d.dropped_samples + d.overflow_writer_samples,
            "errors": errors, "error": d.error, "model": d.model, "serial": d.serial,
        })
    state = str(getattr(snap.state, "value", snap.state))
    return Snapshot(
        state=state,
        devices=devices,
        elapsed_s=snap.elapsed_s if snap.path else None,
        file_size_bytes=snap.file_size_bytes,
        n_stances=int(snap.stance_count or 0),
        si_pct=live.get("si_pct"),
        left_mean=mean("left"),
        right_mean=mean("right"),
        left_n=int((sides.get("left") or {}).get("n_stances") or 0),
        right_n=int((sides.get("right") or {}).get("n_stances") or 0),
        unit=unit,
        cadence_spm=live.get("cadence_spm"),
        contact_time_s={k: (sides.get(k) or {}).get("contact_time_s") for k in ("left", "right")},
        stances=[],
        session_path=snap.path,
        trial=snap.trial,
        n_markers=int(snap.n_markers or 0),
        error=snap.error,
    )
