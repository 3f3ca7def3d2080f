"""What the channels of a Lab Streaming Layer stream measure: labels and units -> roles.

Pure functions shared by the live LSL inlet (:mod:`forcelab.drivers.lsl`) and the XDF reader
(:mod:`forcelab.interop.read_xdf`), so a stream recorded live and the same stream in a
LabRecorder file map alike. Imports NumPy and the standard library only (no pylsl).

Conventions (see docs/labs.md)
------------------------------
* forcelab's own channel names (``fz fap fml cop_ml cop_ap tz``, what forcelab's LSL outlet
  publishes) are read as what they name.
* Labels are matched case-insensitively, ignoring spaces, ``_``, ``-`` and ``.``:
  ``Fx Fy Fz`` (also ``Force X``, ``GRFz``) are forces, ``Mx My Mz`` (``Moment X``) plate moments,
  ``COPx COPy`` (``CoP X``) the centre of pressure, ``Tz``/``free moment`` the free moment,
  ``total force``/``Fsum``/``force`` a vertical total, ``p1``..``p16``/``pressure 1`` insole
  pressures, ``cell1``..``cell4`` load cells.
* The vertical axis is ``z`` (``Fz``) unless ``vertical=LABEL`` names another channel. With ``z``
  vertical, ``x`` is medio-lateral and ``y`` fore-aft; with ``y`` vertical (OpenSim), ``z`` is
  medio-lateral and ``x`` fore-aft. ``cop_ml=LABEL`` names the medio-lateral COP (and so the
  medio-lateral axis) explicitly, ``cop_ml_right=negative`` when the subject's right is negative.
* Units: forces N, kN, kgf, lbf; moments N*m, N*mm; lengths m, cm, mm. A role channel without a
  unit is read in ``force_unit``/``length_unit`` (default N and m); any other unit is an error.
* COP from forces and moments (``COPx = (-My - Fx*dz)/Fz``, ``COPy = (Mx - Fy*dz)/Fz``, AMTI and
  Bertec sign convention, ``dz`` = ``origin_z_mm`` from the top surface down to the moment origin)
  is computed when the stream carries Fx Fy Fz Mx My but no COP, and ``origin_z_mm`` is given;
  ``cop_ml=x`` (or ``y``) then says which plate axis is medio-lateral.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from forcelab.drivers.base import (
    COP_THRESHOLD_N,
    FORCE_ROLES,
    KIND_DIY_PLATE,
    KIND_INSOLE,
    KIND_PLATE,
    MOMENT_ROLES,
    ROLE_CELL,
    ROLE_COP_AP,
    ROLE_COP_ML,
    ROLE_FORCE_AP,
    ROLE_FORCE_ML,
    ROLE_FREE_MOMENT,
    ROLE_MOMENT_X,
    ROLE_MOMENT_Y,
    ROLE_MOMENT_Z,
    ROLE_PRESSURE,
    ROLE_VERTICAL,
    Channel,
)
from forcelab.drivers.errors import DeviceError
from forcelab.drivers.units import POUND_FORCE_N, STANDARD_GRAVITY_M_S2

#: Options that say how to read a stream's channels (device-string options, reader options).
MAPPING_OPTIONS = (
    "vertical", "cop_ml", "cop_ml_right", "side", "force_unit", "length_unit", "origin_z_mm",
)
#: Vertical force below which a COP computed from moments is not defined (N).
COP_MIN_FORCE_N = COP_THRESHOLD_N

_FORCE_UNITS = {"n": 1.0, "newton": 1.0, "newtons": 1.0, "kn": 1000.0,
                "kgf": STANDARD_GRAVITY_M_S2, "kp": STANDARD_GRAVITY_M_S2, "lbf": POUND_FORCE_N}
_LENGTH_UNITS = {"m": 1.0, "meter": 1.0, "meters": 1.0, "metre": 1.0, "metres": 1.0,
                 "cm": 1e-2, "mm": 1e-3, "millimeter": 1e-3, "millimeters": 1e-3}
_MOMENT_UNITS = {"nm": 1.0, "n*m": 1.0, "n.m": 1.0, "n m": 1.0, "n·m": 1.0, "newtonmeter": 1.0,
                 "nmm": 1e-3, "n*mm": 1e-3, "n.mm": 1e-3, "n mm": 1e-3, "knm": 1000.0}
#: Which axes are medio-lateral and fore-aft for each vertical axis.
_HORIZONTAL = {"z": ("x", "y"), "y": ("z", "x"), "x": ("y", "z")}

_AXIS_LABEL = re.compile(
    r"^(f|force|grf|m|moment|cop|cp|centerofpressure|centreofpressure)([xyz])$"
)
_TOTAL_LABEL = re.compile(r"^(totalforce|forcetotal|ftotal|fsum|sumforce|force|normalforce|load|"
                          r"fn|vertical|verticalforce)$")
_FREE_MOMENT = re.compile(r"^(tz|ty|tx|freemoment|t)$")
_PRESSURE = re.compile(r"^(p|pressure|pressuresensor|sensor)(\d+)$")
_CELL = re.compile(r"^(cell|loadcell|lc)(\d+)$")
_FORCELAB_NAMES = {"fap": ROLE_FORCE_AP, "fml": ROLE_FORCE_ML, "copml": ROLE_COP_ML,
                   "copap": ROLE_COP_AP}
#: Roles a stream has one channel of at most: that channel is named after its role ("fz", ...).
_ONE_CHANNEL_ROLES = frozenset(
    (ROLE_VERTICAL, ROLE_FORCE_AP, ROLE_FORCE_ML, ROLE_COP_ML, ROLE_COP_AP, *MOMENT_ROLES))


@dataclass(frozen=True)
class SourceChannel:
    """One channel as the stream describes it (``desc/channels/channel``); empty when unset."""

    label: str = ""
    unit: str = ""
    type: str = ""


def channels_from_xml(xml: str) -> list[SourceChannel]:
    """The ``desc/channels/channel`` entries of a StreamInfo's XML (``StreamInfo.as_xml()``).

    Returns an empty list when the stream carries no channel metadata.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError:
        return []
    out = []
    for ch in root.findall("./desc/channels/channel"):
        out.append(SourceChannel(
            (ch.findtext("label") or ch.findtext("name") or "").strip(),
            (ch.findtext("unit") or ch.findtext("units") or "").strip(),
            (ch.findtext("type") or "").strip(),
        ))
    return out


def acquisition_from_xml(xml: str) -> dict[str, str]:
    """``desc/acquisition`` (manufacturer, model, serial_number) of a StreamInfo's XML."""
    try:
        node = ET.fromstring(xml).find("./desc/acquisition")
    except ET.ParseError:
        return {}
    if node is None:
        return {}
    return {child.tag: (child.text or "").strip() for child in node}


def channels_from_xdf_info(info: Mapping[str, Any]) -> list[SourceChannel]:
    """The channel entries of a stream header as :func:`pyxdf.load_xdf` returns it (every XML
    element a list of values or dicts)."""

    def first(node: Any, key: str) -> Any:
        if not isinstance(node, Mapping):
            return None
        value = node.get(key)
        if isinstance(value, list):
            return value[0] if value else None
        return value

    desc = first(info, "desc")
    channels = first(desc, "channels")
    entries = channels.get("channel", []) if isinstance(channels, Mapping) else []
    out = []
    for ch in entries:
        def text(*keys: str, ch: Any = ch) -> str:
            for key in keys:
                value = first(ch, key)
                if isinstance(value, str) and value.strip():
                    return value.strip()
            return ""

        out.append(SourceChannel(text("label", "name"), text("unit", "units"), text("type")))
    return out


def _norm(text: str) -> str:
    return re.sub(r"[\s_\-.:/()\[\]]+", "", text.lower())


@dataclass
class ChannelMap:
    """How to turn a stream's samples into forcelab channels.

    Attributes
    ----------
    channels : tuple of Channel
        Output channels (standard names for roles: fz, fap, fml, cop_ml, cop_ap, tz, mx..mz; the
        stream's own label otherwise), units N, m, N*m for role channels.
    kind : str
        plate, insole or diyplate.
    side : str or None
        The foot the stream measures (``side=`` option or "left"/"right" in the stream name).
    description : list of str
        One line per decision (which label became which role, unit conversions), for DeviceInfo.
    """

    channels: tuple[Channel, ...]
    kind: str
    side: str | None
    description: list[str] = field(default_factory=list)
    _scales: np.ndarray = field(default_factory=lambda: np.zeros(0))
    _cop: tuple[int, ...] | None = None  # source columns of fx, fy, fz, mx, my
    _cop_scales: tuple[float, ...] = ()
    _cop_dz_m: float = 0.0
    _cop_ml_first: bool = True
    _cop_ml_sign: float = 1.0
    _scaled: bool = True  # some channel needs a unit factor or a sign

    def __post_init__(self) -> None:
        self._scaled = bool(np.any(self._scales != 1.0))

    def apply(self, samples: np.ndarray) -> np.ndarray:
        """Samples of the stream (n, n_source_channels) -> forcelab channels (n, len(channels)),
        in N, m, N*m, float64: one output column per source column, in order, then the
        computed ``cop_ml``, ``cop_ap`` when the map computes the COP."""
        out = np.array(samples, dtype=np.float64)
        cop = None
        if self._cop is not None:
            fx, fy, fz, mx, my = (out[:, c] * s for c, s in zip(self._cop, self._cop_scales,
                                                                 strict=True))
            dz = self._cop_dz_m
            with np.errstate(divide="ignore", invalid="ignore"):
                cop_x = (-my - fx * dz) / fz
                cop_y = (mx - fy * dz) / fz
            low = ~(np.abs(fz) >= COP_MIN_FORCE_N)
            cop_x[low] = np.nan
            cop_y[low] = np.nan
            ml, ap = (cop_x, cop_y) if self._cop_ml_first else (cop_y, cop_x)
            cop = (ml * self._cop_ml_sign, ap)
        if self._scaled:
            out *= self._scales
        return out if cop is None else np.column_stack([out, *cop])


def _unit_scale(unit: str, table: Mapping[str, float], default: str, what: str,
                label: str, stream: str) -> tuple[float, str]:
    """Factor to N, m or N*m of a channel's unit (``default`` when it carries none)."""
    u = unit.strip().lower().replace("²", "2")
    if not u:
        u = default
    if u in table:
        return table[u], u
    raise DeviceError(
        f"{stream}: channel {label!r} is in {unit!r}, but a {what} must be in "
        f"{', '.join(sorted({k for k in table if ' ' not in k and '*' not in k}))}; "
        "set the unit in the sending app"
    )


def _pick(ref: str, labels: Sequence[str], option: str, stream: str) -> int:
    """Index of the channel a ``vertical=``/``cop_ml=`` option names (label or 1-based number)."""
    ref = ref.strip()
    for i, label in enumerate(labels):
        if label == ref:
            return i
    folded = [i for i, label in enumerate(labels) if _norm(label) == _norm(ref) and label]
    if len(folded) == 1:
        return folded[0]
    if ref.isdigit() and 1 <= int(ref) <= len(labels):
        return int(ref) - 1
    shown = ", ".join(label or f"#{i + 1}" for i, label in enumerate(labels))
    raise DeviceError(
        f"{stream}: {option}{ref} names no channel; channels are: {shown} "
        f"(or give a channel number 1-{len(labels)})"
    )


def map_channels(
    stream_name: str,
    stream_type: str,
    n_channels: int,
    source: Sequence[SourceChannel],
    options: Mapping[str, str] | None = None,
    *,
    what: str = "LSL stream",
    flags: Mapping[str, str] | None = None,
) -> ChannelMap:
    """Decide what every channel of a stream measures and how to convert it.

    Parameters
    ----------
    stream_name, stream_type : str
        The stream's LSL name and type (``"AMTI plate 1"``, ``"Force"``).
    n_channels : int
        The stream's channel count.
    source : sequence of SourceChannel
        Its ``desc/channels`` metadata (may be empty).
    options : mapping of str to str
        Any of :data:`MAPPING_OPTIONS`: ``vertical`` (label or 1-based number), ``cop_ml``,
        ``cop_ml_right`` (positive|negative), ``side`` (left|right), ``force_unit``,
        ``length_unit`` (unit of role channels that carry none), ``origin_z_mm``.
    what : str
        How messages name the stream ("LSL stream", "XDF stream").
    flags : mapping of str to str, optional
        How the user spells each option in messages (default ``vertical=``; the command line
        passes ``{"vertical": "--vertical "}``); options without a spelling are left out of hints.

    Returns
    -------
    ChannelMap

    Raises
    ------
    DeviceError
        One line naming the options to give: no channel metadata and no ``vertical=``, no channel
        recognised as vertical force, an option naming no channel, an unusable unit.
    """
    opts = {k: str(v).strip() for k, v in (options or {}).items() if v is not None}
    unknown = sorted(set(opts) - set(MAPPING_OPTIONS))
    if unknown:
        raise DeviceError(
            f"unknown LSL channel option(s) {', '.join(unknown)}; valid: "
            f"{', '.join(MAPPING_OPTIONS)}"
        )
    spell = {k: f"{k}=" for k in MAPPING_OPTIONS} if flags is None else dict(flags)
    join = "&" if flags is None else " "
    stream = f"{what} {stream_name!r}"

    def o(key: str) -> str:
        return spell.get(key, f"{key}=")

    cop_hint = f"{o('cop_ml')}LABEL{join}{o('cop_ml_right')}positive|negative"
    src = list(source)[:n_channels]
    src += [SourceChannel()] * (n_channels - len(src))
    labels = [c.label for c in src]
    norm = [_norm(c.label) for c in src]
    if not any(labels) and "vertical" not in opts:
        units = ("; units are N and m unless force_unit=/length_unit= say otherwise"
                 if "force_unit" in spell else "; units are taken as N and m")
        raise DeviceError(
            f"{stream} ({stream_type or 'no type'}, {n_channels} channels) carries no channel "
            f"labels: give {o('vertical')}N (the vertical force's channel, 1-{n_channels}), and "
            f"for one plate under both feet {cop_hint.replace('LABEL', 'N')}{units}"
        )
    side = opts.get("side", "").lower() or None
    if side not in (None, "left", "right"):
        raise DeviceError(f"{o('side')}{opts['side']} must be left or right")
    if side is None:
        words = set(re.findall(r"[a-z]+", stream_name.lower()))
        side = "left" if "left" in words and "right" not in words else (
            "right" if "right" in words and "left" not in words else None)
    direction = opts.get("cop_ml_right", "positive").lower()
    if direction not in ("positive", "negative"):
        raise DeviceError(
            f"{o('cop_ml_right')}{opts['cop_ml_right']} must be positive or negative (the "
            "direction of the subject's right on the COP axis)"
        )
    if "cop_ml_right" in opts and "cop_ml" not in opts:
        raise DeviceError(f"{o('cop_ml_right')}only applies together with {o('cop_ml')}LABEL")
    ml_sign = -1.0 if direction == "negative" else 1.0
    force_unit = opts.get("force_unit", "N")
    length_unit = opts.get("length_unit", "m")
    dz_m = None
    if "origin_z_mm" in opts:
        try:
            dz_m = float(opts["origin_z_mm"]) * 1e-3
        except ValueError:
            raise DeviceError(
                f"origin_z_mm={opts['origin_z_mm']} must be a number of mm (the depth of the "
                "plate's moment origin below its top surface)"
            ) from None
        if not np.isfinite(dz_m):
            raise DeviceError(f"origin_z_mm={opts['origin_z_mm']} must be a finite number")

    # what each label says, before the vertical axis is known
    axis_of: dict[int, tuple[str, str]] = {}  # column -> (quantity f/m/cop, axis)
    for i, n in enumerate(norm):
        m = _AXIS_LABEL.match(n)
        if m:
            q = m.group(1)
            q = "f" if q in ("f", "force", "grf") else "m" if q in ("m", "moment") else "cop"
            axis_of[i] = (q, m.group(2))

    if "vertical" in opts:
        v_col = _pick(opts["vertical"], labels, o("vertical"), stream)
    else:
        cands = [i for i, (q, a) in axis_of.items() if q == "f" and a == "z"]
        cands = cands or [i for i, n in enumerate(norm) if _TOTAL_LABEL.match(n)]
        if not cands:
            typed = [i for i, c in enumerate(src) if _norm(c.type) in ("force", "forcez")]
            cands = typed if len(typed) == 1 else []
        if len(cands) != 1:
            shown = ", ".join(label or f"#{i + 1}" for i, label in enumerate(labels))
            why = "several" if cands else "no"
            raise DeviceError(
                f"{stream}: {why} channel(s) look like the vertical force "
                f"(channels: {shown}); give {o('vertical')}LABEL (and {cop_hint} for one plate "
                "under both feet)"
            )
        v_col = cands[0]
    v_axis = axis_of.get(v_col, ("f", "z"))[1]
    axis_only = re.fullmatch(r"(cop)?([xyz])", _norm(opts.get("cop_ml", "")))
    if axis_only and dz_m is not None and not any(q == "cop" for q, _ in axis_of.values()):
        c_col = None  # the axis of a COP computed from moments
        ml_axis = axis_only.group(2)
    elif "cop_ml" in opts:
        c_col = _pick(opts["cop_ml"], labels, o("cop_ml"), stream)
        ml_axis = axis_of.get(c_col, ("cop", _HORIZONTAL[v_axis][0]))[1]
        if ml_axis == v_axis:
            raise DeviceError(
                f"{stream}: {o('cop_ml')}{opts['cop_ml']} lies on the vertical axis "
                f"{v_axis}; name the medio-lateral COP channel"
            )
    else:
        c_col = None
        ml_axis = _HORIZONTAL[v_axis][0]
    ap_axis = ({"x", "y", "z"} - {v_axis, ml_axis}).pop()
    role_of_axis = {
        ("f", ml_axis): ROLE_FORCE_ML, ("f", ap_axis): ROLE_FORCE_AP,
        ("cop", ml_axis): ROLE_COP_ML, ("cop", ap_axis): ROLE_COP_AP,
        ("m", "x"): ROLE_MOMENT_X, ("m", "y"): ROLE_MOMENT_Y, ("m", "z"): ROLE_MOMENT_Z,
    }

    roles: list[str | None] = [None] * n_channels
    roles[v_col] = ROLE_VERTICAL
    if c_col is not None:
        roles[c_col] = ROLE_COP_ML
    for i, n in enumerate(norm):  # forcelab's own names (a forcelab outlet, re-read)
        if roles[i] is None and n in _FORCELAB_NAMES and (c_col is None or n != "copml"):
            roles[i] = _FORCELAB_NAMES[n]
    for i, (q, a) in axis_of.items():
        if roles[i] is None and (q, a) in role_of_axis:
            roles[i] = role_of_axis[(q, a)]
    taken = set(roles)
    for i, n in enumerate(norm):
        if roles[i] is not None:
            continue
        if _PRESSURE.match(n) or _norm(src[i].type) == "pressure":
            roles[i] = ROLE_PRESSURE
        elif _CELL.match(n):
            roles[i] = ROLE_CELL
        elif _FREE_MOMENT.match(n) and ROLE_FREE_MOMENT not in taken and (
            n in ("freemoment", "t") or n[-1:] == v_axis
        ):
            roles[i] = ROLE_FREE_MOMENT
            taken.add(ROLE_FREE_MOMENT)
    seen_roles: dict[str, int] = {}
    for i, r in enumerate(roles):
        if r in _ONE_CHANNEL_ROLES and r in seen_roles:
            raise DeviceError(
                f"{stream}: channels {labels[seen_roles[r]]!r} and "
                f"{labels[i]!r} both read as {r}; name the one to use with "
                f"{o('vertical')}/{o('cop_ml')}"
            )
        if r is not None:
            seen_roles[r] = i

    out_channels: list[Channel] = []
    scales: list[float] = []
    description: list[str] = []
    used_names: set[str] = set()
    for i, r in enumerate(roles):
        label = labels[i] or f"ch{i + 1}"
        unit = src[i].unit
        scale = 1.0
        if r in FORCE_ROLES:
            scale, u = _unit_scale(unit, _FORCE_UNITS, force_unit.lower(), "force", label,
                                   stream)
            out_unit = "N"
        elif r in (ROLE_COP_ML, ROLE_COP_AP):
            scale, u = _unit_scale(unit, _LENGTH_UNITS, length_unit.lower(), "position", label,
                                   stream)
            out_unit = "m"
        elif r in MOMENT_ROLES:
            scale, u = _unit_scale(unit, _MOMENT_UNITS, "n*m", "moment", label, stream)
            out_unit = "N*m"
        else:
            u, out_unit = unit, unit
        if r in (ROLE_COP_ML, ROLE_FORCE_ML):
            scale *= ml_sign
        name = r if r in _ONE_CHANNEL_ROLES else re.sub(r"\s+", "_", label.strip())
        while name in used_names:
            name += "_"
        used_names.add(name)
        out_channels.append(Channel(name, out_unit, r))
        scales.append(scale)
        if r is not None:
            description.append(
                f"{label} ({unit or 'no unit: ' + u}) -> {name} ({out_unit})"
                + (" negated (cop_ml_right=negative)" if scale < 0 else "")
            )

    cmap = ChannelMap(tuple(out_channels), KIND_PLATE, side, description,
                      np.asarray(scales, dtype=np.float64))
    need = {("f", "x"), ("f", "y"), ("f", "z"), ("m", "x"), ("m", "y")}
    by_axis = {qa: i for i, qa in axis_of.items()}
    has_cop = any(r in (ROLE_COP_ML, ROLE_COP_AP) for r in roles)
    if dz_m is not None and not has_cop:
        if not need <= set(by_axis) or v_axis != "z":
            raise DeviceError(
                f"{stream}: origin_z_mm= computes the COP from Fx Fy Fz Mx My "
                "(z vertical), which this stream does not carry; leave origin_z_mm out"
            )
        cols = tuple(by_axis[k] for k in (("f", "x"), ("f", "y"), ("f", "z"), ("m", "x"),
                                          ("m", "y")))
        cmap._cop = cols
        cmap._cop_scales = tuple(
            float(scales[c]) * (ml_sign if roles[c] == ROLE_FORCE_ML else 1.0) for c in cols
        )
        cmap._cop_dz_m = dz_m
        cmap._cop_ml_first = ml_axis == "x"
        cmap._cop_ml_sign = ml_sign
        cmap.channels = (*cmap.channels, Channel("cop_ml", "m", ROLE_COP_ML),
                         Channel("cop_ap", "m", ROLE_COP_AP))
        cmap.description.append(f"COP from forces and moments, origin {dz_m * 1e3:g} mm deep")
    n_pressure = roles.count(ROLE_PRESSURE)
    if "insole" in stream_type.lower() or "insole" in stream_name.lower() or n_pressure >= 4:
        cmap.kind = KIND_INSOLE
    elif roles.count(ROLE_CELL) >= 3:
        cmap.kind = KIND_DIY_PLATE
    return cmap


def is_force_stream(stream_type: str, stream_name: str = "",
                    labels: Iterable[str] = ()) -> bool:
    """True for a stream that carries ground-reaction force: type Force/GRF/ForcePlate/Insole,
    or channel labels with a vertical force (Fz, total force)."""
    t = _norm(stream_type)
    if t in ("force", "forces", "grf", "forceplate", "forceplates", "insole", "insoles",
             "pressureinsole", "mocapforce"):
        return True
    norm = [_norm(x) for x in labels]
    return any(n in ("fz", "forcez", "grfz") or _TOTAL_LABEL.match(n) for n in norm if n)
