"""C3D files (read with ezc3d): one stream per force platform.

Every platform listed in the FORCE_PLATFORM group becomes a stream ``platform1``,
``platform2``, ... (1-based, in the order of the group) sampled at the analog rate. The
vertical force and the centre of pressure are computed here from the platform's analog channels
and parameters, not taken from a vendor's processed output:

- analog values are in physical units as ezc3d returns them ((raw - ANALOG:OFFSET) *
  ANALOG:SCALE * ANALOG:GEN_SCALE);
- TYPE-1: Fx, Fy, Fz, Px, Py, Tz (centre of pressure given, relative to the plate centre);
  TYPE-2: Fx, Fy, Fz, Mx, My, Mz about the transducer origin; TYPE-4: the same six channels
  through the 6x6 CAL_MATRIX (output i = sum_j CAL_MATRIX(i, j) * channel j); TYPE-3 (Kistler):
  fx12, fx34, fy14, fy23, fz1..fz4 with ORIGIN = (a, b, az0) sensor offsets;
- ORIGIN is the vector from the transducer origin to the centre of the working surface in plate
  coordinates (its z is negative for a plate whose z axis points down): the centre of pressure
  relative to the surface centre is ``x = (c*Fx - My)/Fz - a``, ``y = (Mx + c*Fy)/Fz - b``;
- CORNERS (lab coordinates of the plate's +x+y, -x+y, -x-y, +x-y corners) give the plate axes
  and centre in the lab; the lab axis closest to the plate normal is vertical and taken to
  point up. The platform measures the force applied to it, so the vertical load is minus its
  lab-vertical component: positive when someone stands on the plate, for z-down (AMTI, Kistler)
  and z-up plates alike. Without CORNERS a z-down plate aligned with the lab is assumed. A
  platform whose load comes out negative in the bulk is negated and listed in
  ``meta["negated"]``.
- lengths follow POINT:UNITS (mm, cm or m) and moments the analog channel units (N·mm or N·m);
  outputs are in N and m. FORCE_PLATFORM:ZERO is not applied: the analysis measures force
  above the baseline it tracks from unloaded phases.

Channels: ``fz`` (N) and the lab-horizontal centre of pressure ``cop_<axis>`` (m, NaN while the
vertical load is under 20 N). ``cop_ml`` = a lab axis (``x``, ``y``, ``z``, optionally ``-x``)
adds ``cop_ml`` and ``fml`` (reaction force toward the subject's right) for a plate under both
feet. ``map`` {"left": 1, "right": 2} names the feet on platforms 1 and 2. A body mass in
PROCESSING:Bodymass (Vicon) is used unless ``body_mass_kg`` is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ezc3d
import numpy as np

from forcelab.errors import FileFormatError, InputError
from forcelab.interop.c3d_points import markers_from_c3d
from forcelab.interop.load import check_reader_options
from forcelab.recording import Recording, Stream, check_body_mass

ALLOWED_OPTIONS = ("map", "cop_ml", "cop_ml_right", "body_mass_kg")

#: Below this vertical load (N) the centre of pressure is undefined (NaN).
COP_MIN_LOAD_N = 20.0

_LENGTH = {"mm": 1e-3, "cm": 1e-2, "m": 1.0}
_N_CHANNELS = {1: 6, 2: 6, 3: 8, 4: 6}
_AXES = "xyz"


def _param(params: dict, group: str, name: str, default: Any = None) -> Any:
    try:
        return params[group][name]["value"]
    except KeyError:
        return default


def _first_str(value: Any, default: str) -> str:
    if value is None:
        return default
    if isinstance(value, str):
        return value.strip() or default
    try:
        return str(value[0]).strip() or default
    except (IndexError, TypeError):
        return default


def _moment_scale(units: list[str], default_scale: float) -> float:
    text = "".join(units).lower().replace(".", "").replace("*", "").replace(" ", "")
    if "nmm" in text:
        return 1e-3
    if "nm" in text:
        return 1.0
    return default_scale


def _plate_frame(corners_lab_m: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, bool]:
    """Rotation plate->lab (columns are plate axes in lab) and plate centre in lab (m)."""
    if corners_lab_m is None or not np.all(np.isfinite(corners_lab_m)):
        return np.diag([1.0, -1.0, -1.0]), np.zeros(3), False
    c1, c2, c3, c4 = corners_lab_m.T
    ex = (c1 - c2) + (c4 - c3)
    ey = (c1 - c4) + (c2 - c3)
    if np.linalg.norm(ex) < 1e-9 or np.linalg.norm(ey) < 1e-9:
        return np.diag([1.0, -1.0, -1.0]), np.zeros(3), False
    ex = ex / np.linalg.norm(ex)
    ey = ey - ex * float(ex @ ey)
    ey = ey / np.linalg.norm(ey)
    ez = np.cross(ex, ey)
    return np.column_stack([ex, ey, ez]), corners_lab_m.mean(axis=1), True


def _plate_forces(
    ptype: int, ch: np.ndarray, origin_m: np.ndarray, cal: np.ndarray | None,
    length_scale: float, moment_scale: float, where: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Force (3, n) in N and centre of pressure (2, n) in m, plate frame, rel. to the centre."""
    a, b, c = origin_m
    with np.errstate(divide="ignore", invalid="ignore"):
        if ptype == 1:
            force = ch[0:3]
            cop = ch[3:5] * length_scale
        elif ptype in (2, 4):
            out = ch[0:6]
            if ptype == 4:
                if cal is None:
                    raise FileFormatError(f"{where}: a TYPE-4 platform without CAL_MATRIX")
                out = cal @ out
            force = out[0:3]
            mx, my = out[3] * moment_scale, out[4] * moment_scale
            fx, fy, fz = force
            cop = np.vstack([(c * fx - my) / fz - a, (mx + c * fy) / fz - b])
        elif ptype == 3:
            fx12, fx34, fy14, fy23, fz1, fz2, fz3, fz4 = ch[0:8]
            fx, fy, fz = fx12 + fx34, fy14 + fy23, fz1 + fz2 + fz3 + fz4
            mx = b * (fz1 + fz2 - fz3 - fz4)
            my = a * (-fz1 + fz2 + fz3 - fz4)
            force = np.vstack([fx, fy, fz])
            cop = np.vstack([(c * fx - my) / fz, (mx + c * fy) / fz])
        else:
            raise FileFormatError(
                f"{where}: force platform TYPE-{ptype} is not supported (types 1 to 4 are)"
            )
    return np.asarray(force, dtype=np.float64), np.asarray(cop, dtype=np.float64)


def _platform_number(ref: str, n_plates: int, path: Path) -> int:
    text = ref.strip().lower()
    if text.startswith("platform"):
        text = text[len("platform"):]
    if not text.isdigit() or not 1 <= int(text) <= n_plates:
        raise InputError(
            f"--map {ref!r}: {path} has force platforms 1 to {n_plates}; use e.g. "
            "--map left=1,right=2"
        )
    return int(text)


def _cop_axis(ref: str) -> tuple[int, float]:
    text = ref.strip().lower()
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if text.startswith("cop_"):
        text = text[4:]
    if text not in ("x", "y", "z"):
        raise InputError(
            f"--cop-ml for C3D files is the lab axis pointing to the subject's right "
            f"(x, y, z, -x, -y or -z), got {ref!r}"
        )
    return _AXES.index(text), sign


def read_c3d(path: str | Path, **options: Any) -> Recording:
    """Read the force platforms of a C3D file into a Recording.

    Parameters
    ----------
    path : str or Path
        The .c3d file.
    **options
        map ({"left": PLATFORM, "right": PLATFORM}, 1-based numbers), cop_ml (lab axis,
        e.g. "x" or "-y"), cop_ml_right ("positive"/"negative"), body_mass_kg (kg).

    Returns
    -------
    Recording
        One stream per platform (``platform1``...), at the analog rate, on the C3D time base
        (``t0_s`` = first frame / point rate).

    Raises
    ------
    FileFormatError
        If ezc3d cannot read the file, it has no force platforms, or their parameters are
        inconsistent.
    InputError
        For nonsense options.
    """
    path = Path(path)
    opts = check_reader_options(options, ALLOWED_OPTIONS, "C3D files")
    if path.stat().st_size < 512:
        raise FileFormatError(f"{path}: too short to be a C3D file (a C3D header is 512 bytes)")
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head[1:2] != b"\x50":
        raise FileFormatError(f"{path}: no C3D signature (byte 2 is not 0x50); not a C3D file")
    try:
        c3d = ezc3d.c3d(str(path))
    except Exception as exc:  # ezc3d raises RuntimeError/ValueError/IOError variants
        raise FileFormatError(f"{path}: not a readable C3D file ({exc})") from None
    params = c3d["parameters"]
    used = _param(params, "FORCE_PLATFORM", "USED")
    n_plates = int(np.asarray(used).ravel()[0]) if used is not None and len(used) else 0
    if n_plates < 1:
        raise FileFormatError(f"{path}: the C3D file describes no force platforms")
    analogs = np.asarray(c3d["data"]["analogs"], dtype=np.float64)
    if analogs.ndim != 3 or analogs.shape[1] == 0 or analogs.shape[2] == 0:
        raise FileFormatError(f"{path}: force platforms are described but there is no analog data")
    analogs = analogs[0]
    rate_value = _param(params, "ANALOG", "RATE")
    rate_hz = float(np.asarray(rate_value).ravel()[0]) if rate_value is not None else 0.0
    if not rate_hz > 0:
        rate_hz = float(c3d["header"]["analogs"]["frame_rate"])
    point_rate = float(c3d["header"]["points"]["frame_rate"]) or rate_hz
    t0_s = float(c3d["header"]["points"]["first_frame"]) / point_rate
    length_unit = _first_str(_param(params, "POINT", "UNITS"), "mm").lower()
    if length_unit not in _LENGTH:
        raise FileFormatError(f"{path}: POINT:UNITS {length_unit!r} is not mm, cm or m")
    length_scale = _LENGTH[length_unit]
    analog_units = [str(u) for u in (_param(params, "ANALOG", "UNITS") or [])]

    types = np.asarray(_param(params, "FORCE_PLATFORM", "TYPE", [])).ravel()
    channels = np.asarray(_param(params, "FORCE_PLATFORM", "CHANNEL", []))
    corners = np.asarray(_param(params, "FORCE_PLATFORM", "CORNERS", []), dtype=np.float64)
    origins = np.asarray(_param(params, "FORCE_PLATFORM", "ORIGIN", []), dtype=np.float64)
    cal_all = np.asarray(_param(params, "FORCE_PLATFORM", "CAL_MATRIX", []), dtype=np.float64)
    if types.size < n_plates or channels.ndim != 2 or channels.shape[1] < n_plates:
        raise FileFormatError(
            f"{path}: FORCE_PLATFORM:TYPE/CHANNEL do not describe all {n_plates} platform(s)"
        )

    sides: dict[int, str] = {}
    if "map" in opts:
        for side, ref in opts["map"].items():
            number = _platform_number(ref, n_plates, path)
            if number in sides:
                raise InputError(f"--map names platform {number} for both feet")
            sides[number] = side
    cop_axis = _cop_axis(opts["cop_ml"]) if "cop_ml" in opts else None
    right_sign = -1.0 if opts.get("cop_ml_right") == "negative" else 1.0

    streams = []
    plates_meta = []
    negated = []
    for k in range(n_plates):
        where = f"{path}: force platform {k + 1}"
        ptype = int(types[k])
        n_ch = _N_CHANNELS.get(ptype, 6)
        if channels.shape[0] < n_ch:
            raise FileFormatError(
                f"{where}: a TYPE-{ptype} platform has {n_ch} channels but "
                f"FORCE_PLATFORM:CHANNEL lists {channels.shape[0]}"
            )
        idx = channels[:n_ch, k].astype(np.int64) - 1
        if idx.size < n_ch or np.any(idx < 0) or np.any(idx >= analogs.shape[0]):
            raise FileFormatError(
                f"{where}: FORCE_PLATFORM:CHANNEL {list(idx + 1)} points outside the "
                f"{analogs.shape[0]} analog channels"
            )
        ch = analogs[idx]
        units = [analog_units[i] for i in idx[3:6] if i < len(analog_units)]
        moment_scale = _moment_scale(units, length_scale)
        origin = origins[:, k] * length_scale if origins.ndim == 2 and origins.shape[1] > k \
            else np.zeros(3)
        cal = cal_all[:, :, k] if cal_all.ndim == 3 and cal_all.shape[2] > k else None
        corner_m = corners[:, :, k] * length_scale if corners.ndim == 3 and \
            corners.shape[2] > k and np.any(corners[:, :, k]) else None
        rot, centre, have_corners = _plate_frame(corner_m)
        force, cop_plate = _plate_forces(ptype, ch, origin, cal, length_scale, moment_scale,
                                         where)
        force_lab = rot @ force
        vertical = int(np.argmax(np.abs(rot[:, 2])))
        load = -force_lab[vertical]
        finite = load[np.isfinite(load)]
        if finite.size:
            lo, hi = np.percentile(finite, [0.5, 99.5])
            if -lo > hi and -lo > 50.0:
                load = -load
                force_lab = -force_lab
                negated.append(f"platform{k + 1}")
        cop_lab = centre[:, None] + rot @ np.vstack([cop_plate, np.zeros(cop_plate.shape[1])])
        unloaded = ~(load >= COP_MIN_LOAD_N)
        cop_lab[:, unloaded] = np.nan
        chans: dict[str, np.ndarray] = {"fz": load}
        for axis in range(3):
            if axis != vertical:
                chans[f"cop_{_AXES[axis]}"] = cop_lab[axis]
        if cop_axis is not None:
            axis, sign = cop_axis
            if axis == vertical:
                raise InputError(
                    f"--cop-ml {opts['cop_ml']!r} is the vertical axis of platform {k + 1}"
                )
            chans["cop_ml"] = cop_lab[axis] * sign * right_sign
            chans["fml"] = -force_lab[axis] * sign * right_sign
        side = sides.get(k + 1)
        streams.append(Stream(name=f"platform{k + 1}", rate_hz=rate_hz, channels=chans,
                              side=side, t0_s=t0_s))
        plates_meta.append({
            "platform": k + 1, "type": ptype, "channels": [int(i) + 1 for i in idx],
            "vertical_axis": _AXES[vertical], "corners": bool(have_corners), "side": side,
        })
    body_mass = opts.get("body_mass_kg")
    meta: dict[str, Any] = {"format": "c3d", "platforms": plates_meta, "length_unit": length_unit}
    if body_mass is None:
        stored = _param(params, "PROCESSING", "Bodymass")
        if stored is not None and len(stored):
            try:
                body_mass = check_body_mass(float(np.asarray(stored).ravel()[0]))
                meta["body_mass_from"] = "PROCESSING:Bodymass"
            except (InputError, ValueError):
                meta["body_mass_ignored"] = str(stored)
    if negated:
        meta["negated"] = negated
    up = _AXES.index(plates_meta[0]["vertical_axis"])
    trajectories = markers_from_c3d(c3d, length_scale, t0_s, up)
    return Recording(streams=streams, body_mass_kg=body_mass, source=str(path), meta=meta,
                     trajectories=trajectories)
