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

import math
import os
import threading
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

    Parameters
    ----------
    controller_factory : callable or None
        Builds the SessionController; ``forcelab.acquisition.SessionController`` by default.
    """

    def __init__(self, controller_factory: Callable[[], Any] | None = None) -> None:
        if controller_factory is None:
            from forcelab.acquisition import SessionController

            controller_factory = SessionController
        self._factory = controller_factory
        self.controller: Any = controller_factory()
        self._lock = threading.Lock()
        self.session_path: Path | None = None
        self._trials: list[dict[str, Any]] = []
        self._current_trial: dict[str, Any] | None = None
        self._markers = 0

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
            device = rec.get("device", "") if isinstance(rec, dict) else str(rec)
            url = rec.get("url") if isinstance(rec, dict) else None
            if url:
                out.append(str(url))
            elif device:
                proto = (rec.get("protocol") or "").lower() if isinstance(rec, dict) else ""
                out.append(f"{proto}://{device}" if proto else device)
        return out

    # -- state -----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """The controller's state name."""
        state = self.controller.state
        return getattr(state, "value", str(state))

    @property
    def is_connected(self) -> bool:
        """True when devices are connected (whatever the controller is doing with them)."""
        return self.state in ("connected", "taring", "weighing", "recording", "stopped")

    @property
    def is_recording(self) -> bool:
        """True while a trial is being recorded."""
        return self.state == "recording"

    def can(self, action: str) -> bool:
        """Whether ``action`` ("tare", "weigh", "start") makes sense in the current state."""
        state = self.state
        if action in ("tare", "weigh"):
            return state in ("connected", "stopped")
        if action == "start":
            return state in ("connected", "stopped")
        return False

    def trial_count(self) -> int:
        """Number of trials recorded in this console session."""
        return len(self._trials)

    def stream_sides(self) -> dict[str, str | None]:
        """``{stream: side}`` of the connected streams."""
        return dict(self.controller.stream_sides())

    # -- actions (slow ones run on the window's job thread) --------------------------------
    def connect(self, devices: list[str]) -> list[str]:
        """Connect the devices; returns the stream names."""
        if not devices:
            raise InputError("no device given; try sim:treadmill")
        self.controller.connect(devices)
        return list(self.stream_sides())

    def disconnect(self) -> str | None:
        """Stop everything, finalise the session file, release the devices; returns the file."""
        path = self.close()
        self.controller = self._factory()
        return path

    def tare(self) -> None:
        """Zero every device (nobody on the plates)."""
        self.controller.tare()

    def weigh(self) -> dict[str, Any]:
        """Measure body mass from quiet standing; ``{"body_mass_kg", "sd_n", ...}``."""
        result = self.controller.weigh()
        return result.to_dict() if hasattr(result, "to_dict") else dict(result)

    def start_trial(
        self,
        name: str,
        tags: list[str],
        *,
        athlete: dict[str, Any],
        operator: str = "",
        output_dir: Path,
    ) -> Path:
        """Start recording a trial; the session file is created at the first trial."""
        if self.session_path is None:
            output_dir = Path(output_dir).expanduser()
            try:
                output_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(f"cannot create the session folder {output_dir}: {exc}") from None
            if not os.access(output_dir, os.W_OK):
                raise InputError(f"the session folder {output_dir} is not writable; pick another")
            path = unique_path(output_dir, session_file_name(athlete.get("name", "")))
            self.controller.open_session(path, athlete=athlete, operator=operator)
            self.session_path = path
        self.controller.start_trial(name, tags=tuple(tags))
        self._current_trial = {"name": name, "tags": list(tags), "path": str(self.session_path)}
        self._trials.append(self._current_trial)
        return self.session_path

    def stop_trial(self) -> dict[str, Any]:
        """Stop the running trial; returns ``{"name", "tags", "path"}``."""
        self.controller.stop_trial()
        info = dict(self._current_trial or {})
        self._current_trial = None
        return info

    def add_marker(self, label: str | None = None) -> str:
        """Add a marker now; returns its label."""
        self._markers += 1
        label = label or f"M{self._markers}"
        self.controller.add_marker(label)
        return label

    def summarise_trial(self, info: dict[str, Any], body_mass_kg: float | None = None) -> str:
        """The finished trial's analysis as ``forcelab analyze`` prints it (runs on a job)."""
        from forcelab.console.review import analyse_trial

        self.controller.flush()
        result = analyse_trial(str(info["path"]), info.get("name"), body_mass_kg)
        header = f"Trial: {info.get('name')}"
        if info.get("tags"):
            header += f"  [{', '.join(info['tags'])}]"
        return f"{header}\nFile: {info['path']}\n\n{result['text']}"

    def close(self) -> str | None:
        """Stop a running trial, finalise the session file and release the devices."""
        path = str(self.session_path) if self.session_path else None
        self.controller.close()
        self.session_path = None
        self._current_trial = None
        return path

    # -- non-blocking reads for the GUI timers ---------------------------------------------
    def peek(self, seconds: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{stream: (t_s, fz_n)}`` of the last ``seconds`` s, from the ring buffers."""
        return dict(self.controller.peek_fz(seconds))

    def pop_events(self) -> list[dict[str, Any]]:
        """Events since the last call: ``{"kind", "message", "severity"}``."""
        return [dict(e) for e in self.controller.pop_events()]

    def snapshot(self) -> Snapshot:
        """The controller's status, shaped for the window."""
        return snapshot_from_status(self.controller.status())


def snapshot_from_status(status: dict[str, Any]) -> Snapshot:
    """Turn the controller's status dict into a :class:`Snapshot`."""
    live = status.get("live") or {}
    sides = live.get("sides") or {}
    bw = live.get("body_mass_kg") or None
    unit = "BW" if bw else "N"

    def mean(side: str) -> float | None:
        v = (sides.get(side) or {}).get("midstance_peak_n")
        if v is None:
            return None
        return v / (bw * STANDARD_GRAVITY_M_S2) if bw else v

    stances = []
    for s in status.get("stances") or []:
        peak = s.get("midstance_peak_n")
        if peak is None or not math.isfinite(peak) or not s.get("valid", True):
            continue
        stances.append((s.get("side"), peak / (bw * STANDARD_GRAVITY_M_S2) if bw else peak))
    return Snapshot(
        state=str(status.get("state", "idle")),
        devices=list(status.get("devices") or []),
        elapsed_s=status.get("elapsed_s"),
        file_size_bytes=status.get("file_size_bytes"),
        n_stances=int(live.get("n_stances") or 0),
        si_pct=live.get("si_pct"),
        left_mean=mean("left"),
        right_mean=mean("right"),
        left_n=int((sides.get("left") or {}).get("n_stances") or 0),
        right_n=int((sides.get("right") or {}).get("n_stances") or 0),
        unit=unit,
        cadence_spm=live.get("cadence_spm"),
        contact_time_s={k: (sides.get(k) or {}).get("contact_time_s") for k in ("left", "right")},
        stances=stances,
        session_path=status.get("path"),
        trial=status.get("trial"),
    )
