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

from forcelab.acquisition.errors import AcquisitionError
from forcelab.analysis.asymmetry import LEVEL_WORDS, level_of
from forcelab.analysis.metrics import G_M_S2
from forcelab.drivers.base import (
    KIND_INSOLE,
    ROLE_COP_AP,
    ROLE_COP_ML,
    ROLE_PRESSURE,
    ROLE_VERTICAL,
)
from forcelab.errors import InputError


def live_asymmetry(live: dict[str, Any]) -> dict[str, Any]:
    """The live figures' SI noise in the keys of an ``asymmetry_of`` result.

    Parameters
    ----------
    live : dict
        :meth:`forcelab.acquisition.live.LiveAnalyzer.figures`.

    Returns
    -------
    dict
        ``text``, ``ci95_pct`` (%), ``detectable``, ``verdict``, ``band_si_pct`` (%),
        ``strides_needed`` and ``settled`` (the 95 % CI is within ±2 %).
    """
    return {
        "text": live.get("symmetry_text") or "",
        "ci95_pct": live.get("si_ci95_pct"),
        "detectable": bool(live.get("si_detectable")),
        "verdict": live.get("si_verdict"),
        "band_si_pct": live.get("si_band_pct"),
        "strides_needed": live.get("strides_needed"),
        "settled": bool(live.get("si_settled")),
    }


SIM_SETUPS = ("sim:treadmill", "sim:plate", "sim:insoles", "sim:diy")


@dataclass
class Snapshot:
    """What the window shows, read from the controller's status snapshot (all optional)."""

    state: str = "idle"
    devices: list[dict[str, Any]] = field(default_factory=list)
    elapsed_s: float | None = None
    file_size_bytes: float | None = None
    n_stances: int = 0
    si_pct: float | None = None
    #: What the analysis says about the SI's noise (see :func:`live_asymmetry`).
    si_noise: dict[str, Any] = field(default_factory=dict)
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

    One console session is one session file holding many trials: the first *Start* creates the
    file (``SessionController.start_recording``) and every *Start*/*Stop* opens and closes a
    named trial in it (``start_trial``/``stop_trial``); the file keeps recording between trials
    (trials are intervals of the session). :meth:`new_session` finalises the file; the next
    *Start* creates a new one, as does picking another athlete.

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
        self._session_athlete: dict[str, Any] | None = None
        self._recording = False
        self._trials: list[dict[str, Any]] = []
        self._current_trial: dict[str, Any] | None = None
        self._markers = 0
        self._bars: list[tuple[str | None, float, float]] = []
        self._bar_counts: dict[str, int] = {}
        self._sides: dict[str, str | None] = {}
        self._roles: dict[str, dict[str, list[int]]] = {}
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
        from forcelab.drivers.registry import SCHEMES

        serial_schemes = [name for name in SCHEMES if name != "sim"]
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
                (p for p in serial_schemes if p in text.lower()), serial_schemes[0]
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
        """True while a trial is open (recording, or in error with the trial open)."""
        return self._current_trial is not None

    @property
    def session_open(self) -> bool:
        """True while a session file is open (between trials too)."""
        return self._recording

    def streaming_devices(self) -> list[str]:
        """Streams whose device delivers data now (not lost, not failed)."""
        return [d.name for d in self.controller.snapshot().devices if d.state == "streaming"]

    def can(self, action: str) -> bool:
        """Whether ``action`` ("tare", "weigh", "start") makes sense in the current state.

        A trial needs at least one device that streams: with every device lost there is nothing
        to record.
        """
        state = self.state
        if action in ("tare", "weigh"):
            return state in ("connected", "stopped") and not self._recording
        if action == "start":
            idle = state in ("connected", "stopped") or (state == "recording" and self._recording)
            return idle and self._current_trial is None and bool(self.streaming_devices())
        return False

    @property
    def trials(self) -> list[dict[str, Any]]:
        """Trials recorded in this console session: ``name``, ``tags``, ``path`` and, once
        stopped, ``recording`` (``streams``: per stream the samples recorded, dropped by the
        link and lost to overflow between this trial's Start and Stop; ``error``)."""
        return [dict(t) for t in self._trials]

    def trial_count(self) -> int:
        """Number of trials in the open session file (0 before the first Start)."""
        return sum(1 for t in self._trials if t.get("path") == str(self.session_path))

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
        self._roles = {}
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
        speed_m_s: float | None = None,
        shoe: str = "",
        notes: str = "",
    ) -> Path:
        """Start the named trial in the open session file (creating the file first when none is
        open, or when the athlete changed); returns the file.

        Raises
        ------
        InputError
            If no device streams (all lost), or the session folder cannot be written.
        """
        if not self.streaming_devices():
            raise InputError(
                "no device is streaming (all lost or failed); plug them back in or reconnect "
                "before starting a trial"
            )
        athlete = {k: v for k, v in athlete.items() if v is not None}
        if self._recording and _who(athlete) != _who(self._session_athlete or {}):
            self.new_session()
        if not self._recording:
            self._open_session(athlete, operator, Path(output_dir))
        path = self.session_path
        baseline = self._device_counters()
        self.controller.start_trial(name, tags=tuple(tags), speed_m_s=speed_m_s, shoe=shoe,
                                    notes=notes)
        self._bars = []
        self._bar_counts = {}
        self._current_trial = {"name": name, "tags": list(tags), "path": str(path),
                               "baseline": baseline, "started": time.monotonic()}
        self._trials.append(self._current_trial)
        return Path(str(path))

    def _open_session(self, athlete: dict[str, Any], operator: str, output_dir: Path) -> None:
        output_dir = output_dir.expanduser()
        try:
            output_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create the session folder {output_dir}: {exc}") from None
        if not os.access(output_dir, os.W_OK):
            raise InputError(f"the session folder {output_dir} is not writable; pick another")
        path = unique_path(output_dir, session_file_name(athlete.get("name", "") or "session"))
        self.controller.start_recording(path, athlete=athlete, operator=operator)
        self.session_path = path
        self._session_athlete = dict(athlete)
        self._recording = True

    def _device_counters(self) -> dict[str, tuple[int, int, int]]:
        return {
            d.name: (d.samples_recorded, d.dropped_samples, d.overflow_writer_samples)
            for d in self.controller.snapshot().devices
        }

    def stop_trial(self) -> dict[str, Any]:
        """Stop the trial; the session file stays open for the next one. Waits until the
        trial is written and flushed, so it can be read at once.

        Returns
        -------
        dict
            ``name``, ``tags``, ``path`` and ``recording``: per stream the samples recorded,
            dropped by the link and lost to overflow since this trial's Start; ``error``.
        """
        info = self._current_trial
        if info is None:
            return {"path": str(self.session_path), "recording": None}
        try:
            self.controller.stop_trial()
            report = self._trial_report(info.pop("baseline", {}))
            try:
                self.controller.sync_file()
            except AcquisitionError as exc:  # the writer failed: the file keeps what it has
                report["error"] = report["error"] or str(exc)
        finally:
            self._current_trial = None
        info["recording"] = report
        return dict(info)

    def _trial_report(self, baseline: dict[str, tuple[int, int, int]]) -> dict[str, Any]:
        snap = self.controller.snapshot()
        streams = {}
        for d in snap.devices:
            rec0, drop0, over0 = baseline.get(d.name, (0, 0, 0))
            streams[d.name] = {
                "samples_recorded": d.samples_recorded - rec0,
                "dropped_samples": d.dropped_samples - drop0,
                "overflow_writer_samples": d.overflow_writer_samples - over0,
            }
        return {"streams": streams, "error": snap.error}

    def new_session(self) -> str | None:
        """Stop an open trial and finalise the session file; the next Start creates a new one.
        Returns the finalised file (None when none was open)."""
        if self._current_trial is not None:
            self.stop_trial()
        path = str(self.session_path) if self._recording else None
        self._stop_recording()
        return path

    def _stop_recording(self) -> dict[str, Any] | None:
        if not self._recording:
            return None
        try:
            return dict(self.controller.stop_recording())
        finally:
            self._recording = False
            self._session_athlete = None

    def session_time_s(self) -> float | None:
        """Now on the session time base, s (None before the session file exists)."""
        origin = self.controller.session_start_s
        return None if origin is None else time.time() - origin

    def add_marker(self, label: str | None = None, t_s: float | None = None) -> tuple[str, float]:
        """Add a marker now (or at session time ``t_s``, s); returns its label (``M1``,
        ``M2`` ... when none is given) and session time."""
        self._markers += 1
        label = (label or "").strip() or f"M{self._markers}"
        return label, float(self.controller.add_marker(label, t_s))

    def summarise_trial(
        self, info: dict[str, Any], body_mass_kg: float | None = None
    ) -> dict[str, Any]:
        """The finished trial, read back from its session file and analysed (runs on a job).

        Returns
        -------
        dict
            The :func:`~forcelab.console.review.analyse_trial` result plus ``name``, ``tags``,
            ``path``, ``coach`` (headline asymmetry lines with their levels, see
            :func:`coach_lines`), ``error`` (during recording) and
            ``streams``: per stream ``samples`` and ``missing`` counted in the file (a gap's
            samples are missing), ``dropped`` by the link and ``overflow`` (lost to a writer
            that fell behind) between this trial's Start and Stop.
        """
        from forcelab.console.review import analyse_trial

        result = analyse_trial(str(info["path"]), info.get("name"), body_mass_kg)
        rec = info.get("recording") or {}
        figures = rec.get("streams") or {}
        streams = {}
        for name, (_t, fz, _side) in result["curves"].items():
            missing = int(np.count_nonzero(~np.isfinite(fz)))
            counted = figures.get(name, {})
            streams[name] = {
                "samples": int(fz.size - missing),
                "missing": missing,
                "dropped": int(counted.get("dropped_samples", 0)),
                "overflow": int(counted.get("overflow_writer_samples", 0)),
            }
        return {
            **result,
            "name": info.get("name"),
            "tags": list(info.get("tags") or []),
            "path": str(info["path"]),
            "streams": streams,
            "error": rec.get("error"),
            "coach": coach_lines(result.get("result")),
        }

    def close(self) -> str | None:
        """Stop a running trial, finalise the session file and release the devices."""
        path = str(self.session_path) if self.session_path else None
        try:
            self.new_session()
        finally:
            self.controller.close()
            self._current_trial = None
        return path

    # -- live feedback (forcelab.acquisition.feedback) -------------------------------------
    def set_feedback(self, engine: Any, phase_durations_s: dict[str, float] | None = None) -> Any:
        """Give cues from the next session file on (``SessionController.set_feedback``); only
        while no session file is open."""
        return self.controller.set_feedback(engine, phase_durations_s)

    def end_feedback(self) -> str | None:
        """Finalise the session file of a feedback protocol and switch feedback off; returns
        the file (None when none was open)."""
        path = self.new_session()
        self.controller.set_feedback(None)
        return path

    def cues(self) -> list[Any]:
        """Feedback cues issued since the last call (non-blocking)."""
        return self.controller.cues()

    def add_cue_listener(self, fn: Callable[[Any], Any]) -> None:
        """Call ``fn(cue)`` from the analysis thread as each cue is issued (must not block)."""
        self.controller.add_cue_listener(fn)

    def remove_cue_listener(self, fn: Callable[[Any], Any]) -> None:
        """Stop calling ``fn``."""
        self.controller.remove_cue_listener(fn)

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
            channel = self._role_channel(stream, ROLE_VERTICAL)
            if channel is None:
                continue
            t_new, fz_new = self.controller.peek_channel(stream, channel, fetch_s)
            old = self._display.get(stream)
            if old is None or not old[0].size or (t_new.size and t_new[0] < old[0][0]):
                t_all, fz_all = self.controller.peek_channel(stream, channel, seconds)
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

    def _role_channel(self, stream: str, role: str) -> str | None:
        """Name of the first channel of ``stream`` with ``role`` (None when it has none)."""
        info = self.controller.device_info(stream)
        roles = self._roles.get(stream)
        if roles is None:
            roles = self._roles[stream] = info.columns_by_role()
        cols = roles.get(role) or []
        return info.channels[cols[0]].name if cols else None

    def peek_insoles(self, trace_s: float = 1.0) -> dict[str, dict[str, Any]]:
        """The insoles' pressure map and centre-of-pressure trace, per insole stream.

        Returns
        -------
        dict
            ``{stream: {"side", "cells_kpa" (latest value of each cell), "layout" (per cell
            ``x_mm``, ``y_mm``), "cop_ml", "cop_ap" (the last ``trace_s`` s in the units of the
            device's COP channels, NaN while unloaded)}}``; empty without insoles.
        """
        out = {}
        for stream in self.controller.stream_names:
            info = self.controller.device_info(stream)
            if info.kind != KIND_INSOLE:
                continue
            roles = self._roles.get(stream)
            if roles is None:
                roles = self._roles[stream] = info.columns_by_role()
            _, data = self.controller.peek(stream, trace_s)
            if not data.shape[0]:
                continue
            cells = roles.get(ROLE_PRESSURE) or []
            ml, ap = roles.get(ROLE_COP_ML) or [], roles.get(ROLE_COP_AP) or []
            out[stream] = {
                "side": info.side,
                "cells_kpa": data[-1, cells],
                "layout": list(info.layout or []),
                "cop_ml": data[:, ml[0]] if ml else np.empty(0),
                "cop_ap": data[:, ap[0]] if ap else np.empty(0),
            }
        return out

    def pop_events(self) -> list[dict[str, Any]]:
        """Events since the last call: ``{"kind", "message", "severity"}``."""
        return [
            {"kind": e.kind, "message": e.message, "severity": e.severity, "stream": e.stream}
            for e in self.controller.poll_events()
        ]

    def snapshot(self) -> Snapshot:
        """The controller's status, shaped for the window (never blocks); ``elapsed_s`` is the
        running trial's time since its Start (None between trials)."""
        snap = self.controller.snapshot()
        result = snapshot_from_controller(snap)
        started = (self._current_trial or {}).get("started")  # read once: Stop runs on a job
        result.elapsed_s = time.monotonic() - started if started is not None else None
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
            value = peak / (mass * G_M_S2) if unit == "BW" and mass else peak
            bars.append((st.get("side"), float(value), float(st.get("start_s", 0.0))))
        bars.sort(key=lambda b: b[2])
        self._bars = bars[-200:]

    def _live_stances(self) -> list[dict[str, Any]]:
        return list(self.controller.live_stances(last_n=200))


def coach_lines(result: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The headline asymmetry sentences of an analysis (mid-stance peak, contact time), from
    ``AnalysisResult.to_dict()``, each with its level.

    Returns
    -------
    list of (str, str)
        The analysis's own sentence followed by its level in words and the metric's healthy
        band (%), and the level (:func:`forcelab.analysis.asymmetry.level_of`).
    """
    if not result:
        return []
    asym = result.get("asymmetry") or {}
    lines = []
    for keys in (("midstance_peak_bw", "midstance_peak_n"), ("contact_time_s",)):
        for key in keys:
            a = asym.get(key) or {}
            if a.get("text"):
                level = level_of(a)
                band = a.get("band_si_pct")
                words = LEVEL_WORDS[level] if level in ("ok", "watch", "flag") else ""
                if words and band is not None:
                    words += f" (|SI| ≤ {band:.1f} %)"
                lines.append((str(a["text"]) + (f" — {words}" if words else ""), level))
                break
    return lines


def _who(athlete: dict[str, Any]) -> tuple[str, str]:
    """The identity of an athlete dict (name, id): a new identity needs a new session file."""
    return (str(athlete.get("name") or ""), str(athlete.get("id") or ""))


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
        return v / (mass * G_M_S2) if unit == "BW" else float(v)

    devices = []
    for d in snap.devices:
        link = d.link or {}
        errors = sum(int(link.get(k, 0)) for k in ("crc_errors", "bad_lines", "resyncs"))
        devices.append({
            "name": d.name, "side": d.side, "state": d.state,
            "rate_hz": (
                None if d.state != "streaming"
                else d.measured_rate_hz if d.measured_rate_hz is not None else d.rate_hz
            ),
            "samples": d.samples,
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
        si_noise=live_asymmetry(live),
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
