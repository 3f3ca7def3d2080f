"""The streams of a recording session: their names, and which of them the live analyser follows.

A session has one stream per connected device, named by :func:`stream_names_for`; when several
devices see one foot (a plate and an insole), :data:`SOURCE_PRIORITY` says whose stances make
that side's live figures. :func:`live_analyzer_for` declares every stream with a vertical force
to a new :class:`~forcelab.acquisition.live.LiveAnalyzer`, reading device kinds and channel
roles, never protocol names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from forcelab.acquisition.live import LiveAnalyzer
from forcelab.acquisition.workers import DeviceWorker
from forcelab.drivers.base import (
    KIND_DIY_PLATE,
    KIND_INSOLE,
    KIND_PLATE,
    ROLE_COP_ML,
    ROLE_FORCE_AP,
    ROLE_VERTICAL,
    DeviceInfo,
)

#: Which device's stances make a side's live figures when several see one foot (lower wins).
SOURCE_PRIORITY = {KIND_PLATE: 0, KIND_DIY_PLATE: 1, KIND_INSOLE: 2}


def stream_names_for(infos: Iterable[DeviceInfo]) -> list[str]:
    """Readable unique stream names for device infos: ``plate_left``, ``insole_right``, ``plate``.

    The name is the device kind (plate, insole, diyplate, ...) with the side as suffix;
    duplicates get ``_2``, ``_3``, ...
    """
    names: list[str] = []
    for info in infos:
        base = f"{info.kind}_{info.side}" if info.side else info.kind
        name, k = base, 2
        while name in names:
            name, k = f"{base}_{k}", k + 1
        names.append(name)
    return names


def live_analyzer_for(
    workers: Iterable[DeviceWorker],
    body_mass_kg: float | None,
    options: dict[str, Any],
) -> LiveAnalyzer:
    """A live analyser following every stream of ``workers`` that has a vertical force.

    Parameters
    ----------
    workers : iterable of DeviceWorker
        The session's acquisition threads (one per stream).
    body_mass_kg : float or None
        The athlete's body mass, kg (None: figures in N only).
    options : dict
        Analysis options passed to :class:`~forcelab.acquisition.live.LiveAnalyzer`.

    Returns
    -------
    LiveAnalyzer
        With each stream's rate (Hz), side, Fz, COP ML and AP force columns and its source
        priority declared.
    """
    live = LiveAnalyzer(body_mass_kg, options)
    for w in workers:
        info = w.device.info
        fz = w.column(ROLE_VERTICAL)
        if fz is not None:
            live.add_stream(
                w.stream,
                info.rate_hz,
                info.side,
                fz,
                w.column(ROLE_COP_ML),
                priority=SOURCE_PRIORITY.get(info.kind, len(SOURCE_PRIORITY)),
                sensor=info.sensor,
                ap_column=w.column(ROLE_FORCE_AP),
            )
    return live
