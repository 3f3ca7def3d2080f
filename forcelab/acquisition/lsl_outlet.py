"""Publish a recording as it is written: one LSL outlet per stream plus a Markers stream.

A lab's LabRecorder, EMG or video software then sees forcelab's plates and insoles on the common
LSL clock. :class:`OutletWriter` wraps the session writer the recorder feeds, so every block the
file receives is published too (same samples, same gaps), with no change to the recorder:
``SessionController(session_writer_factory=outlet_writer_factory())``.

* Each stream: name ``forcelab-<stream>``, type ``Force``, float32, the stream's nominal rate,
  source_id ``forcelab-<host>-<stream>``, ``desc/channels/channel/{label, unit, type}`` with the
  forcelab channel names, units and roles (type), ``desc/acquisition`` (manufacturer forcelab,
  model, serial_number) and ``desc/forcelab`` (side, kind, protocol, session_uuid).
* Time stamps: each sample's host time (``Block.t_host_s``, the device clock mapped to the
  host) converted to this machine's LSL clock, so an inlet anywhere maps them with
  ``time_correction()``.
* ``forcelab-markers`` (type ``Markers``, irregular, one string channel, ``desc/forcelab/
  session_uuid``): one JSON object per
  live stance (``{"event": "stance", "stream", "t_s", "side", "end_s", "contact_time_s",
  "midstance_peak_n", "valid", "reason"}``), operator marker (``{"event": "marker", "label",
  "t_s"}``) and device event (``{"event": KIND, "stream", "t_s", "message"}``), time-stamped at
  the moment it refers to (a stance at its contact start). ``t_s`` is session time in s.
* When the recording ends the outlets stay for OUTLET_LINGER_S s, then disappear: an inlet
  loses what it has not pulled when its outlet goes, so this is what lets it take the last
  samples.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from forcelab.acquisition.errors import AcquisitionError
from forcelab.acquisition.session_writer import SessionWriter
from forcelab.drivers.base import Block, DeviceInfo, LinkStats
from forcelab.drivers.lsl import pylsl  # None without the extra forcelab[lsl]
from forcelab.store import SessionWriter as HDF5SessionWriter
from forcelab.store._layout import EPOCH_THRESHOLD_S

OUTLET_PREFIX = "forcelab-"
MARKERS_NAME = "forcelab-markers"
#: Seconds of samples an outlet keeps for a slow inlet (LSL's max_buffered).
OUTLET_BUFFER_S = 30
#: Seconds the outlets stay after the recording ends: an inlet loses whatever it has not pulled
#: when its outlet goes away, so they linger until inlets have taken the last samples.
OUTLET_LINGER_S = 1.0


class LslOutlet:
    """LSL outlets for the streams of one session and its Markers stream.

    Parameters
    ----------
    t0_unix_s : float
        Host time (``time.time()`` epoch, s) that session times count from.
    session_uuid : str
        Written into each stream's ``desc/forcelab`` (the Markers stream's too) so a recording
        can be matched to its file.

    Raises
    ------
    AcquisitionError
        When pylsl is not installed (the message says what to install).
    """

    def __init__(self, t0_unix_s: float, session_uuid: str = "") -> None:
        if pylsl is None:
            raise AcquisitionError(
                "publishing over LSL needs pylsl: pip install 'forcelab[lsl]'"
            )
        self.t0_unix_s = float(t0_unix_s)
        self.session_uuid = session_uuid
        # LSL clock = host epoch time - this offset (both read now, on this machine)
        self._epoch_minus_lsl_s = time.time() - pylsl.local_clock()
        self._host = socket.gethostname()
        self._outlets: dict[str, tuple[Any, float]] = {}
        self.samples_pushed: dict[str, int] = {}
        self.markers_pushed = 0
        info = pylsl.StreamInfo(MARKERS_NAME, "Markers", 1, pylsl.IRREGULAR_RATE,
                                pylsl.cf_string, f"{OUTLET_PREFIX}{self._host}-markers")
        info.desc().append_child("acquisition").append_child_value("manufacturer", "forcelab")
        info.desc().append_child("forcelab").append_child_value("session_uuid", session_uuid)
        self._markers = pylsl.StreamOutlet(info)

    def add_stream(self, name: str, info: Any) -> None:
        """Open the outlet of stream ``name`` (``info`` is its DeviceInfo)."""
        rate_hz = float(info.rate_hz)
        si = pylsl.StreamInfo(f"{OUTLET_PREFIX}{name}", "Force", len(info.channels), rate_hz,
                              pylsl.cf_float32, f"{OUTLET_PREFIX}{self._host}-{name}")
        chans = si.desc().append_child("channels")
        for c in info.channels:
            ch = chans.append_child("channel")
            ch.append_child_value("label", c.name)
            ch.append_child_value("unit", c.unit)
            ch.append_child_value("type", c.role or "")
        acq = si.desc().append_child("acquisition")
        acq.append_child_value("manufacturer", "forcelab")
        acq.append_child_value("model", str(info.model))
        acq.append_child_value("serial_number", str(info.serial))
        fl = si.desc().append_child("forcelab")
        fl.append_child_value("stream", name)
        fl.append_child_value("side", info.side or "")
        fl.append_child_value("kind", str(getattr(info, "kind", "")))
        fl.append_child_value("protocol", str(info.protocol))
        fl.append_child_value("session_uuid", self.session_uuid)
        chunk = max(1, int(rate_hz * 0.02))
        self._outlets[name] = (
            pylsl.StreamOutlet(si, chunk_size=chunk, max_buffered=OUTLET_BUFFER_S), rate_hz
        )
        self.samples_pushed[name] = 0

    def push_block(self, name: str, block: Any) -> None:
        """Publish a block of stream ``name`` with each sample's time on the LSL clock."""
        outlet, rate_hz = self._outlets[name]
        samples = np.ascontiguousarray(block.samples, dtype=np.float32)
        n = samples.shape[0]
        if n == 0:
            return
        t0 = float(block.t_host_s) - self._epoch_minus_lsl_s
        stamps = t0 + np.arange(n) / rate_hz
        outlet.push_chunk(samples, stamps.tolist())
        self.samples_pushed[name] += n

    def push_marker(self, payload: dict[str, Any]) -> None:
        """Publish one JSON marker; ``payload["t_s"]`` (session time, s) sets its time stamp."""
        t_lsl = self.t0_unix_s + float(payload["t_s"]) - self._epoch_minus_lsl_s
        self._markers.push_sample([json.dumps(payload, separators=(",", ":"))], t_lsl)
        self.markers_pushed += 1

    def close(self) -> None:
        """Withdraw every outlet after OUTLET_LINGER_S s (inlets see the streams disappear)."""
        if self._outlets or self.markers_pushed:
            time.sleep(OUTLET_LINGER_S)
        self._outlets.clear()
        self._markers = None


class OutletWriter:
    """A :class:`~forcelab.acquisition.session_writer.SessionWriter` that also publishes what it
    writes (see the module docstring): the file first, then the outlets."""

    def __init__(self, writer: SessionWriter, outlet: LslOutlet) -> None:
        self._writer = writer
        self.outlet = outlet
        self.t0_unix_s = float(writer.t0_unix_s)

    def add_stream(self, name: str, info: DeviceInfo) -> None:
        """Declare the stream in the file and open its outlet."""
        self._writer.add_stream(name, info)
        self.outlet.add_stream(name, info)

    def start_swmr(self) -> None:
        """Make the file readable by other processes."""
        self._writer.start_swmr()

    def append(self, name: str, block: Block) -> None:
        """Write the block, then publish it."""
        self._writer.append(name, block)
        self.outlet.push_block(name, block)

    def add_gap(self, name: str, n_missing: int, t_s: float | None = None) -> None:
        """Record samples that never arrived (the outlet simply has none to send)."""
        self._writer.add_gap(name, n_missing, t_s)

    def n_samples_stored(self, name: str) -> int:
        """Samples of stream ``name`` the file holds."""
        return self._writer.n_samples_stored(name)

    def update_link_stats(self, name: str, stats: LinkStats) -> None:
        """Record the link counters in the file."""
        self._writer.update_link_stats(name, stats)

    def add_event(self, name: str | None, kind: str, t_s: float | None = None, seq: int = -1,
                  arg: int = 0, message: str = "") -> None:
        """Write the event; publish it as a JSON marker (a stance with its figures)."""
        self._writer.add_event(name, kind, t_s, seq=seq, arg=arg, message=message)
        payload: dict[str, Any] = {"event": kind, "stream": name, "t_s": self._session_s(t_s)}
        if kind == "stance" and message:
            payload.update(json.loads(message))
        elif message:
            payload["message"] = message
        self.outlet.push_marker(payload)

    def start_trial(self, name: str, tags: Iterable[str] = (), speed_m_s: float | None = None,
                    shoe: str = "", notes: str = "", t_s: float | None = None) -> None:
        """Start a trial in the file."""
        self._writer.start_trial(name, tags=tags, speed_m_s=speed_m_s, shoe=shoe, notes=notes,
                                 t_s=t_s)

    def stop_trial(self, t_s: float | None = None) -> str | None:
        """Stop the running trial in the file."""
        return self._writer.stop_trial(t_s=t_s)

    def add_marker(self, label: str, t_s: float | None = None) -> None:
        """Write the operator marker and publish it."""
        self._writer.add_marker(label, t_s=t_s)
        self.outlet.push_marker({"event": "marker", "label": label, "t_s": self._session_s(t_s)})

    def flush(self) -> None:
        """Write what is queued to the file now."""
        self._writer.flush()

    def maybe_flush(self) -> bool:
        """Flush the file when its interval is due."""
        return self._writer.maybe_flush()

    def close(self) -> None:
        """Close the file, then withdraw the outlets."""
        try:
            self._writer.close()
        finally:
            self.outlet.close()

    def _session_s(self, t_s: float | None) -> float:
        """Session time (s) of a writer time argument (None = now; epoch values converted)."""
        t = time.time() if t_s is None else float(t_s)
        return round(t - self.t0_unix_s if t >= EPOCH_THRESHOLD_S else t, 4)


def outlet_writer_factory(
    base: Callable[..., SessionWriter] = HDF5SessionWriter.create,
) -> Callable[..., OutletWriter]:
    """A ``session_writer_factory`` for SessionController that publishes the session over LSL.

    Parameters
    ----------
    base : callable
        The factory of the real writer (default :meth:`forcelab.store.SessionWriter.create`).

    Raises
    ------
    AcquisitionError
        At once when pylsl is missing (before any file is created).
    """
    if pylsl is None:
        raise AcquisitionError("publishing over LSL needs pylsl: pip install 'forcelab[lsl]'")

    def factory(path: Any, **kwargs: Any) -> OutletWriter:
        writer = base(path, **kwargs)
        try:
            uuid = str(getattr(writer, "uuid", "") or "")
            return OutletWriter(writer, LslOutlet(float(writer.t0_unix_s), uuid))
        except BaseException:
            writer.close()
            raise

    return factory
