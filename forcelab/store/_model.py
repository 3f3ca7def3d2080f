"""What a stored stream is: its kind and the role of each channel.

A stream group keeps its device kind (``kind`` attribute: ``plate``, ``insole``, ``diyplate``, ...)
and the role of every channel (``channel_roles``, beside ``channel_names``; ``""`` for a channel
no consumer reads by meaning). The reader maps channels by role, never by protocol name.

Files written before these attributes existed hold only the protocol. :func:`stream_model` is
the one place that derives kind and roles for them (and for descriptions passed to the writer
without them); nothing else in forcelab reads a protocol name. Role names are those of
:mod:`forcelab.drivers.base` (``ROLE_VERTICAL = "fz"``, ...), which are also the standard channel
names of :class:`forcelab.recording.Stream`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

#: Kind of a stream written before ``kind`` was stored, by its protocol.
_LEGACY_KIND = {"FPB1": "plate", "INS1": "insole", "CSV4": "diyplate"}
#: Roles of the channels of the protocols whose files predate ``channel_roles``.
_LEGACY_ROLES: dict[str, dict[str, str]] = {
    "FPB1": {"fx": "fml", "fy": "fap", "fz": "fz", "mx": "mx", "my": "my", "mz": "mz",
             "cop_x": "cop_ml", "cop_y": "cop_ap", "tz": "tz"},
    "CSV4": {"c0": "cell", "c1": "cell", "c2": "cell", "c3": "cell", "fz": "fz",
             "cop_x": "cop_ml", "cop_y": "cop_ap"},
    "INS1": {"fz": "fz", "cop_x": "cop_ml", "cop_y": "cop_ap"},
}
#: INS1 columns named by pattern (pressure cells, IMU axes).
_LEGACY_PATTERNS = (
    (re.compile(r"p\d\d"), "pressure"),
    (re.compile(r"acc_[xyz]"), "acc"),
    (re.compile(r"gyr_[xyz]"), "gyr"),
)
#: Channels of imported recordings are named after their role (the Recording's standard names).
_ROLE_NAMES = frozenset({"fz", "fap", "fml", "cop_ml", "cop_ap", "tz"})

KIND_INSOLE = "insole"
KIND_PLATE = "plate"


def stream_model(
    protocol: str,
    channel_names: Sequence[str],
    kind: str | None = None,
    roles: Sequence[str | None] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[str, list[str]]:
    """Kind and per-channel roles of a stream, from what is stored (or given) about it.

    Parameters
    ----------
    protocol : str
        The informational protocol name (only used when ``kind``/``roles`` are missing).
    channel_names : sequence of str
        Channel names, in column order.
    kind : str or None
        The stored kind; None or ``""`` for a file that predates it (and ignored for a known
        protocol when ``roles`` are missing: such a description predates the device model).
    roles : sequence of (str or None) or None
        The stored roles, one per channel; None (or no role at all) for a file that predates
        them.
    extra : mapping or None
        The stream's extra description (imported streams say ``sensor="insole"`` there).

    Returns
    -------
    kind : str
    roles : list of str
        One per channel, ``""`` where a channel has no role.
    """
    proto = str(protocol or "").upper()
    if roles is not None and len(roles) == len(channel_names) and any(roles):
        return str(kind or _kind_without_model(proto, extra)), [str(r or "") for r in roles]
    # A description without roles predates the device model: its kind (DeviceInfo's default
    # "plate" then says nothing) and its roles both follow from the protocol.
    kind = _LEGACY_KIND.get(proto) or kind or _kind_without_model(proto, extra)
    table = _LEGACY_ROLES.get(proto, {})
    out = []
    for name in channel_names:
        role = table.get(name)
        if role is None and proto == "INS1":
            role = next((r for p, r in _LEGACY_PATTERNS if p.fullmatch(name)), None)
        if role is None and name in _ROLE_NAMES:
            role = name
        out.append(role or "")
    return str(kind), out


def _kind_without_model(proto: str, extra: Mapping[str, Any] | None) -> str:
    """Kind of a stream that does not say: by protocol, else imported insoles say
    ``sensor="insole"`` in their extra description, else a plate."""
    if proto in _LEGACY_KIND:
        return _LEGACY_KIND[proto]
    sensor = extra.get("sensor") if isinstance(extra, Mapping) else None
    return KIND_INSOLE if sensor == KIND_INSOLE else KIND_PLATE


def sensor_of(kind: str) -> str:
    """``"insole"`` for insole streams, ``"plate"`` for every plate kind (contact thresholds)."""
    return KIND_INSOLE if kind == KIND_INSOLE else KIND_PLATE
