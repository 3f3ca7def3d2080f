"""forcelab.acquisition: the session controller, recorder threads and live analysis.

Used by ``forcelab record``, ``forcelab demo`` and the operator console. Start with
:class:`SessionController` (states, threads and time base are described in
:mod:`forcelab.acquisition.controller`).
"""

from forcelab.acquisition.buffers import RingBuffer, WorkQueue
from forcelab.acquisition.controller import (
    ControllerEvent,
    DeviceStatus,
    SessionController,
    Snapshot,
    State,
    stream_names_for,
)
from forcelab.acquisition.errors import (
    AcquisitionError,
    NotStillError,
    StateError,
    TareRefusedError,
)
from forcelab.acquisition.live import LiveAnalyzer, robinson_si_pct, symmetry_text
from forcelab.acquisition.weighing import BodyWeight, measure_body_weight, total_force_on_grid

__all__ = [
    "AcquisitionError",
    "BodyWeight",
    "ControllerEvent",
    "DeviceStatus",
    "LiveAnalyzer",
    "NotStillError",
    "RingBuffer",
    "SessionController",
    "Snapshot",
    "State",
    "StateError",
    "TareRefusedError",
    "WorkQueue",
    "measure_body_weight",
    "robinson_si_pct",
    "stream_names_for",
    "symmetry_text",
    "total_force_on_grid",
]
