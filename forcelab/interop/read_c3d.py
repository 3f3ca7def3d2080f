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

Channels: ``fz`` (N), for each lab-horizontal axis the ground-reaction force ``f<axis>`` (N)
and the centre of pressure ``cop_<axis>`` (m, NaN while the vertical load is under 20 N), and
the free moment ``tz`` (N·m, ground reaction about the lab vertical through the COP, NaN
unloaded), all with their units. ``cop_ml`` = a lab axis (``x``, ``y``, ``z``, optionally
``-x``) names the subject's right and adds ``cop_ml``/``fml`` (toward the right) and
``cop_ap``/``fap`` (forward = up x right), so exports (.mot) carry every force.
``map`` {"left": 1, "right": 2} names the feet on platforms 1 and 2. A body mass in
PROCESSING:Bodymass (Vicon) is used unless ``body_mass_kg`` is given.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import ezc3d
import numpy as np

from forcelab.errors import FileFormatError, InputError
from forcelab.interop.c3d_points import markers_from_c3d
from forcelab.interop.load import check_reader_options
from forcelab.recording import Recording, Stream, check_body_mass

ALLOWED_OPTIONS = ("map", "cop_ml", "cop_ml_right", "body_mass_kg", "allow_partial")

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
    """Force (3, n) in N, centre of pressure (2, n) in m (plate frame, relative to the surface
    centre) and free moment (n,) in N*m about the plate z axis through the COP, all applied to
    the plate."""
    a, b, c = origin_m
    with np.errstate(divide="ignore", invalid="ignore"):
        if ptype == 1:
            force = ch[0:3]
            cop = ch[3:5] * length_scale
            free = ch[5] * moment_scale
        elif ptype in (2, 4):
            out = ch[0:6]
            if ptype == 4:
                if cal is None:
                    raise FileFormatError(f"{where}: a TYPE-4 platform without CAL_MATRIX")
                out = cal @ out
            force = out[0:3]
            mx, my, mz = out[3] * moment_scale, out[4] * moment_scale, out[5] * moment_scale
            fx, fy, fz = force
            px, py = (c * fx - my) / fz, (mx + c * fy) / fz  # COP from the transducer origin
            cop = np.vstack([px - a, py - b])
            free = mz - (px * fy - py * fx)
        elif ptype == 3:
            fx12, fx34, fy14, fy23, fz1, fz2, fz3, fz4 = ch[0:8]
            fx, fy, fz = fx12 + fx34, fy14 + fy23, fz1 + fz2 + fz3 + fz4
            mx = b * (fz1 + fz2 - fz3 - fz4)
            my = a * (-fz1 + fz2 + fz3 - fz4)
            mz = b * (-fx12 + fx34) + a * (fy14 - fy23)
            force = np.vstack([fx, fy, fz])
            px, py = (c * fx - my) / fz, (mx + c * fy) / fz
            cop = np.vstack([px, py])
            free = mz - (px * fy - py * fx)
        else:
            raise FileFormatError(
                f"{where}: force platform TYPE-{ptype} is not supported (types 1 to 4 are)"
            )
    return (np.asarray(force, dtype=np.float64), np.asarray(cop, dtype=np.float64),
            np.asarray(free, dtype=np.float64))


def _platform_number(ref: str, n_plates: int, path: Path) -> int:
    text = ref.strip().lower()
    if text.startswith("platform"):
        text = text[len("platform"):]
    if not text.isdigit() or not 1 <= int(text) <= n_plates:
        raise InputError(
            f"`map` {ref!r}: {path} has force platforms 1 to {n_plates}; use e.g. "
            "`map` left=1,right=2"
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
            f"`cop_ml` for C3D files is the lab axis pointing to the subject's right "
            f"(x, y, z, -x, -y or -z), got {ref!r}"
        )
    return _AXES.index(text), sign


def _expected_frames(path: Path, params: dict) -> tuple[int, int, int] | None:
    """(frames the header announces, bytes per frame, first data byte) from the file's own
    header and parameters, or None when they cannot be worked out (then nothing is checked)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
        fh.seek(max(head[0] - 1, 0) * 512)
        param_head = fh.read(4)
    if len(head) < 512 or len(param_head) < 4:
        return None
    order = ">" if param_head[3] == 86 else "<"  # 84 Intel, 85 DEC, 86 MIPS (big-endian)
    n_points, analog_per_frame, first, last = struct.unpack(order + "HHHH", head[2:10])
    data_start = struct.unpack(order + "H", head[16:18])[0]
    if param_head[3] == 85:  # DEC float: the sign is the top bit of the first 16-bit word
        is_float = bool(struct.unpack("<H", head[12:14])[0] & 0x8000)
    else:
        is_float = struct.unpack(order + "f", head[12:16])[0] < 0
    end = _param(params, "TRIAL", "ACTUAL_END_FIELD")
    start = _param(params, "TRIAL", "ACTUAL_START_FIELD")
    frames = last - first + 1 if last >= first else 0
    if end is not None and start is not None and len(end) >= 2 and len(start) >= 2:
        words = [int(v) & 0xFFFF for v in (*start[:2], *end[:2])]
        frames = max(frames, (words[2] + (words[3] << 16)) - (words[0] + (words[1] << 16)) + 1)
    word = 4 if is_float else 2
    frame_bytes = (4 * n_points + analog_per_frame) * word
    if frames <= 0 or frame_bytes <= 0 or data_start < 2:
        return None
    return frames, frame_bytes, (data_start - 1) * 512


def read_c3d(path: str | Path, **options: Any) -> Recording:
    """Read the force platforms of a C3D file into a Recording.

    Parameters
    ----------
    path : str or Path
        The .c3d file.
    **options
        map ({"left": PLATFORM, "right": PLATFORM}, 1-based numbers), cop_ml (lab axis,
        e.g. "x" or "-y"), cop_ml_right ("positive"/"negative"), body_mass_kg (kg),
        allow_partial (read the complete frames of a file that is cut short).

    Returns
    -------
    Recording
        One stream per platform (``platform1``...), at the analog rate, on the C3D time base
        (``t0_s`` = first frame / point rate).

    Raises
    ------
    FileFormatError
        If ezc3d cannot read the file, it is cut short (fewer frames than its header says,
        unless ``allow_partial``), it has no force platforms, or their parameters are
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
    per_frame = max(1, int(round(rate_hz / point_rate)))
    partial = None
    expected = _expected_frames(path, params)
    if expected is not None:
        frames, frame_bytes, data_at = expected
        complete = max(0, (path.stat().st_size - data_at) // frame_bytes)
        if complete < frames:
            partial = f"cut short: holds {complete} of the {frames} frames its header announces"
            if not opts.get("allow_partial"):
                raise FileFormatError(
                    f"{path}: the C3D file is {partial} ({100.0 * complete / frames:.0f} %); "
                    "add `allow_partial` to read the complete frames"
                )
            analogs = analogs[:, : complete * per_frame]
            if analogs.shape[1] == 0:
                raise FileFormatError(f"{path}: the C3D file is {partial}: no data to read")
        elif analogs.shape[1] < frames * per_frame and not opts.get("allow_partial"):
            raise FileFormatError(
                f"{path}: the file holds {frames} frames but only "
                f"{analogs.shape[1] // per_frame} could be read (a long file the C3D library "
                "does not follow); add `allow_partial` to read those"
            )
    measured = _param(params, "FORCELAB", "ANALOG_SAMPLES")
    if measured is not None and len(measured):
        analogs = analogs[:, : max(1, int(round(float(np.asarray(measured).ravel()[0]))))]
    t0_s = float(c3d["header"]["points"]["first_frame"]) / point_rate
    t0_text = _param(params, "FORCELAB", "T0_S")
    if t0_text is not None and len(t0_text):
        try:
            t0_s = float(np.asarray(t0_text).ravel()[0])
        except ValueError:
            raise FileFormatError(f"{path}: FORCELAB:T0_S {t0_text!r} is not a time in s") from None
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
                raise InputError(f"`map` names platform {number} for both feet")
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
        if origin[2] > 0:
            # ORIGIN points from the transducer to the surface centre, so z < 0 on a z-down
            # plate; some systems store it with the opposite sign: flip it, as ezc3d does
            origin = -origin
        cal = cal_all[:, :, k] if cal_all.ndim == 3 and cal_all.shape[2] > k else None
        corner_m = corners[:, :, k] * length_scale if corners.ndim == 3 and \
            corners.shape[2] > k and np.any(corners[:, :, k]) else None
        rot, centre, have_corners = _plate_frame(corner_m)
        force, cop_plate, free_plate = _plate_forces(ptype, ch, origin, cal, length_scale,
                                                     moment_scale, where)
        force_lab = rot @ force
        vertical = int(np.argmax(np.abs(rot[:, 2])))
        up = np.zeros(3)
        up[vertical] = 1.0
        # the applied free moment about plate z, as the ground reaction about lab up
        free = -free_plate * rot[vertical, 2]
        load = -force_lab[vertical]
        finite = load[np.isfinite(load)]
        if finite.size:
            lo, hi = np.percentile(finite, [0.5, 99.5])
            if -lo > hi and -lo > 50.0:
                load = -load
                force_lab = -force_lab
                free = -free
                negated.append(f"platform{k + 1}")
        cop_lab = centre[:, None] + rot @ np.vstack([cop_plate, np.zeros(cop_plate.shape[1])])
        unloaded = ~(load >= COP_MIN_LOAD_N)
        cop_lab[:, unloaded] = np.nan
        free[unloaded] = np.nan
        chans: dict[str, np.ndarray] = {"fz": load}
        units = {"fz": "N"}
        for axis in range(3):
            if axis != vertical:
                # ground reaction along each horizontal lab axis, and the COP on it
                chans[f"f{_AXES[axis]}"] = -force_lab[axis]
                chans[f"cop_{_AXES[axis]}"] = cop_lab[axis]
                units[f"f{_AXES[axis]}"] = "N"
                units[f"cop_{_AXES[axis]}"] = "m"
        chans["tz"] = free
        units["tz"] = "N*m"
        if cop_axis is not None:
            axis, sign = cop_axis
            if axis == vertical:
                raise InputError(
                    f"`cop_ml` {opts['cop_ml']!r} is the vertical axis of platform {k + 1}"
                )
            right = np.zeros(3)
            right[axis] = sign * right_sign
            forward = np.cross(up, right)  # lab axes are right-handed: forward = up x right
            chans["cop_ml"] = right @ cop_lab
            chans["fml"] = -(right @ force_lab)
            chans["cop_ap"] = forward @ cop_lab
            chans["fap"] = -(forward @ force_lab)
            units.update(cop_ml="m", fml="N", cop_ap="m", fap="N")
        side = sides.get(k + 1)
        streams.append(Stream(name=f"platform{k + 1}", rate_hz=rate_hz, channels=chans,
                              side=side, t0_s=t0_s, units=units))
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
    if partial:
        meta["partial"] = partial
    up = _AXES.index(plates_meta[0]["vertical_axis"])
    trajectories = markers_from_c3d(c3d, length_scale, t0_s, up)
    return Recording(streams=streams, body_mass_kg=body_mass, source=str(path), meta=meta,
                     trajectories=trajectories)
