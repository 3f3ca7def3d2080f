"""C3D export (ezc3d): analog channels, a complete FORCE_PLATFORM group and gait events.

Layout of the file (documented for Visual3D, Mokka, OpenSim and ezc3d users in docs/exports.md):

- No 3-D points; ``POINT:UNITS`` is "mm", so positions (CORNERS, ORIGIN) are in mm and moments
  in N*mm. As lab systems do, a frame holds several analog samples: ``POINT:RATE`` is the analog
  rate divided by a whole number (at most 200 frames/s: 1000 Hz -> 200 Hz, 5 samples per
  frame), and long trials get more samples per frame so the frame count stays within what
  every reader takes (``POINT:FRAMES`` is a signed 16-bit number: at most 32,767 frames). The
  frame count is also in ``POINT:LONG_FRAMES`` and ``TRIAL:ACTUAL_START_FIELD`` /
  ``ACTUAL_END_FIELD`` (the C3D conventions for long files). The last frame is filled up with
  zeros; ``FORCELAB:ANALOG_SAMPLES`` holds the number of measured analog samples.
- Every stream is put on one common time grid at the fastest stream's rate (streams already
  on that grid are copied, others linearly interpolated). Frame 1 is time 0; the session time
  of frame 1 is stored in ``FORCELAB:T0_S`` (as text: C3D numbers are float32, which would
  round a session time of an hour to a few hundred microseconds). C3D has no "missing" value,
  so samples that were not measured (gaps, outside a stream) are written as 0.
- A force-plate stream (``fz`` and ``cop_ml`` in m; ``cop_ap``, ``fap``, ``fml``, ``tz`` when
  present, else 0) becomes a TYPE 2 platform with
  six analog channels ``Fx<i> Fy<i> Fz<i> Mx<i> My<i> Mz<i>`` holding the force and moment the
  subject applies TO the plate, about the centre of the plate's top surface, in the plate's
  own frame (AMTI convention: x toward the subject's right, y backward, z down, so Fz > 0 under
  load). ORIGIN is 0 (moments are already about the surface centre), CAL_MATRIX is the identity
  (the channels are already in N and N*mm), ZERO is [0, 0] (data are already zeroed: no
  software re-zeroing). CORNERS place the plates side by side in the lab frame (X right,
  Y forward, Z up): left stream at negative X, right stream at positive X, sized as the device
  reported (default 500 x 600 mm). A plate whose COP is in lab coordinates (an imported
  recording: it leaves a default plate centred at 0) is placed where the data say instead:
  centred on the loaded COP and 100 mm larger than its extent. A reader that
  follows the C3D rules (ezc3d, BTK/Mokka, Visual3D) therefore gets back the ground-reaction
  force as minus the platform force, and the COP relative to the plate centre equals forcelab's
  ``cop_ml``/``cop_ap``.
- Every other channel (insole pressures, IMU, raw cells, COP of insoles) is an analog channel
  ``<stream>_<channel>`` with its unit.
- EVENT: "Foot Strike" and "Foot Off" per stance with context "Left"/"Right" (or "General"
  when the side is unknown), times in s from frame 1; at the foot strike also "Crossover" for
  a crossover step (negative step width) and "Double Contact" for a same-foot double contact.
"""

from __future__ import annotations

import math
import os
from functools import partial
from pathlib import Path
from typing import Any

import ezc3d
import numpy as np
from ezc3d import ezc3d as swig

from forcelab.errors import ExportError
from forcelab.interop.export_common import (
    ExportSource,
    ExportTrial,
    common_grid,
    export_files,
    is_plate_stream,
    on_grid,
    software_info,
)
from forcelab.store import check_free_space

#: default plate size (width along X, length along Y) in mm when the device did not report one
DEFAULT_PLATE_MM = (500.0, 600.0)
PLATE_GAP_MM = 20.0
#: highest frame rate written (Hz): analog samples per frame = ceil(analog rate / this)
MAX_POINT_RATE_HZ = 200.0
#: most frames written: POINT:FRAMES is a signed 16-bit C3D integer
MAX_FRAMES = 32767
#: room for the C3D header and parameter section (bytes), beyond the data
C3D_HEADER_BYTES = 256 * 1024


def samples_per_frame(rate_hz: float, n_samples: int) -> int:
    """Analog samples per C3D frame for ``n_samples`` at ``rate_hz`` (Hz): enough that the
    frame rate is at most :data:`MAX_POINT_RATE_HZ` and the frames at most :data:`MAX_FRAMES`,
    preferring a count that gives a frame rate C3D's float32 holds exactly (1000 Hz: 5, 8, 10
    samples per frame), so readers that derive the ratio from the two rates get it right."""
    least = max(1, math.ceil(rate_hz / MAX_POINT_RATE_HZ - 1e-9),
                math.ceil(n_samples / MAX_FRAMES))
    for k in range(least, 4 * least + 1):
        if float(np.float32(rate_hz / k)) * k == float(np.float32(rate_hz)):
            return k
    return least


def _set_param(c3d: Any, group: str, name: str, value: Any, description: str = "") -> None:
    """Add a parameter with the right C3D type (INT for ints, FLOAT, CHAR) and shape."""
    param = swig.Parameter(name, description)
    arr = np.asarray(value)
    if arr.dtype.kind in "iub":
        flat = [int(x) for x in arr.reshape(-1, order="F")]
        param.set(swig.VecInt(flat), [int(d) for d in arr.shape] or [1])
    elif arr.dtype.kind == "f":
        flat = [float(x) for x in arr.reshape(-1, order="F")]
        param.set(swig.VecDouble(flat), [int(d) for d in arr.shape] or [1])
    else:
        strings = [str(x) for x in np.atleast_1d(arr).reshape(-1)]
        param.set(swig.VecString(strings), [len(strings)])
    c3d["parameters"].add_parameter(group, param)


def _plate_size_mm(recording_meta: dict[str, Any], stream_name: str) -> tuple[float, float] | None:
    """The size (mm) the device reported for a stream's plate, or None."""
    plates = recording_meta.get("plate_size_mm") or {}
    size = plates.get(stream_name) if isinstance(plates, dict) else None
    if size is not None and len(size) == 2 and all(float(v) > 0 for v in size):
        return float(size[0]), float(size[1])
    return None


#: a plate placed where its data say is this much larger than the loaded COP's extent (mm)
PLACED_PLATE_MARGIN_MM = 100.0
#: vertical load (N) above which the COP is taken to show where the plate is
PLACEMENT_LOAD_N = 50.0


def _plate_placement(stream: Any, size_mm: tuple[float, float] | None
                     ) -> tuple[tuple[float, float] | None, tuple[float, float]]:
    """Where a plate goes: ``(centre, size)`` in mm, centre None for the side-by-side layout.

    A plate whose size the device reported, or whose loaded COP stays on a default plate
    centred at 0 (COP relative to the plate centre, as forcelab's devices give it), keeps the
    layout. A COP in lab coordinates (imported recordings: Fukuchi, another C3D) puts the plate
    where the data say: centred on the loaded COP and large enough to hold all of it.
    """
    if size_mm is not None:
        return None, size_mm
    fz = np.asarray(stream.channels["fz"], dtype=np.float64)
    ml = np.asarray(stream.channels["cop_ml"], dtype=np.float64) * 1000.0
    ap = np.asarray(stream.channels.get("cop_ap", np.zeros_like(fz)), dtype=np.float64) * 1000.0
    loaded = (fz > PLACEMENT_LOAD_N) & np.isfinite(ml) & np.isfinite(ap)
    if loaded.sum() < 2:
        return None, DEFAULT_PLATE_MM
    lo_ml, hi_ml = np.percentile(ml[loaded], [0.0, 100.0])
    lo_ap, hi_ap = np.percentile(ap[loaded], [0.0, 100.0])
    half_w, half_l = DEFAULT_PLATE_MM[0] / 2, DEFAULT_PLATE_MM[1] / 2
    if -half_w <= lo_ml and hi_ml <= half_w and -half_l <= lo_ap and hi_ap <= half_l:
        return None, DEFAULT_PLATE_MM
    size = (max(DEFAULT_PLATE_MM[0], hi_ml - lo_ml + PLACED_PLATE_MARGIN_MM),
            max(DEFAULT_PLATE_MM[1], hi_ap - lo_ap + PLACED_PLATE_MARGIN_MM))
    return (float((lo_ml + hi_ml) / 2), float((lo_ap + hi_ap) / 2)), size


def _side_context(side: str | None) -> str:
    return {"left": "Left", "right": "Right"}.get(side or "", "General")


def build_c3d(
    trial: ExportTrial,
    stances: list[dict[str, Any]] | None = None,
    *,
    subject: str = "",
    extra_params: dict[str, Any] | None = None,
) -> Any:
    """Build an ezc3d object holding one trial.

    Parameters
    ----------
    trial : ExportTrial
        The trial (its recording's streams become plates or analog channels).
    stances : list of dict, optional
        Stances with ``start_s``, ``end_s`` (recording time base, s), ``side``, ``valid``;
        become Foot Strike / Foot Off events. Default: none.
    subject : str
        Written to EVENT:SUBJECTS and SUBJECTS:NAMES (athlete id or pseudonym).
    extra_params : dict, optional
        ``{"GROUP:NAME": value}`` written as well (strings or numbers).

    Returns
    -------
    ezc3d.c3d
        Ready to ``write``.
    """
    rec = trial.recording
    streams = list(rec.streams)
    time_s, rate = common_grid(streams)
    n = time_s.size
    if n == 0:
        raise ExportError(f"trial {trial.name!r} has no samples to export")

    plates = [s for s in streams if is_plate_stream(s)]
    # left plate first, right second, then the others in recording order
    order = {"left": 0, "right": 1}
    plates.sort(key=lambda s: order.get(s.side or "", 2))

    labels: list[str] = []
    units: list[str] = []
    descriptions: list[str] = []
    columns: list[np.ndarray] = []

    corners = np.zeros((3, 4, len(plates)))
    channel_idx = np.zeros((6, len(plates)), dtype=np.int64)
    placements = [_plate_placement(s, _plate_size_mm(rec.meta or {}, s.name)) for s in plates]
    laid_out = [size for centre, size in placements if centre is None]
    total_w = sum(w for w, _ in laid_out) + PLATE_GAP_MM * max(len(laid_out) - 1, 0)
    x_left = -total_w / 2.0
    for i, (stream, (centre, (w, length))) in enumerate(zip(plates, placements, strict=True)):
        if centre is None:  # side by side, COP relative to the plate centre
            cx, cy = x_left + w / 2.0, 0.0
            x_left += w + PLATE_GAP_MM
            off_ml = off_ap = 0.0
        else:  # where the data say: the COP is in lab coordinates
            cx, cy = centre
            off_ml, off_ap = centre
        # corners in the lab frame, numbered in the plate's quadrant order +x+y, -x+y, -x-y,
        # +x-y with plate x = lab X, plate y = -lab Y, plate z = -lab Z (z down)
        corners[:, :, i] = np.array([
            [cx + w / 2, cy - length / 2, 0.0],
            [cx - w / 2, cy - length / 2, 0.0],
            [cx - w / 2, cy + length / 2, 0.0],
            [cx + w / 2, cy + length / 2, 0.0],
        ]).T
        g = {c: on_grid(stream, c, time_s, rate) for c in stream.channels}
        zeros = np.zeros(n)
        fz = np.nan_to_num(g["fz"])
        fml = np.nan_to_num(g.get("fml", zeros))
        fap = np.nan_to_num(g.get("fap", zeros))
        tz = np.nan_to_num(g.get("tz", zeros))
        # COP relative to the plate centre (mm); unmeasured samples at the centre
        cop_ml_mm = np.nan_to_num(g["cop_ml"] * 1000.0 - off_ml)
        cop_ap_mm = np.nan_to_num(g.get("cop_ap", zeros) * 1000.0 - off_ap)
        # force applied to the plate (= - ground reaction) in plate coordinates
        f_local = np.vstack([-fml, fap, fz])
        x_p, y_p = cop_ml_mm, -cop_ap_mm
        # moment about the surface centre: r x F + free moment (tz about lab up = tz about
        # the plate's downward z for the applied wrench), N*mm
        m_local = np.vstack([
            y_p * f_local[2],
            -x_p * f_local[2],
            x_p * f_local[1] - y_p * f_local[0] + tz * 1000.0,
        ])
        k = i + 1
        for j, (lab, unit, values, desc) in enumerate((
            (f"Fx{k}", "N", f_local[0], "force on the plate, plate x (subject's right)"),
            (f"Fy{k}", "N", f_local[1], "force on the plate, plate y (backward)"),
            (f"Fz{k}", "N", f_local[2], "force on the plate, plate z (down)"),
            (f"Mx{k}", "Nmm", m_local[0], "moment on the plate about its surface centre"),
            (f"My{k}", "Nmm", m_local[1], "moment on the plate about its surface centre"),
            (f"Mz{k}", "Nmm", m_local[2], "moment on the plate about its surface centre"),
        )):
            channel_idx[j, i] = len(labels) + 1
            labels.append(lab)
            units.append(unit)
            descriptions.append(f"{stream.name}: {desc}")
            columns.append(values)

    plate_names = {s.name for s in plates}
    plate_only = {"fz", "fml", "fap", "cop_ml", "cop_ap", "tz"}
    for stream in streams:
        for ch in stream.channels:
            if stream.name in plate_names and ch in plate_only:
                continue
            labels.append(f"{stream.name}_{ch}")
            units.append(stream.units.get(ch, ""))
            descriptions.append(f"{stream.name} {ch}")
            columns.append(np.nan_to_num(on_grid(stream, ch, time_s, rate)))
    if not columns:
        raise ExportError(f"trial {trial.name!r} has no channels to export")

    per_frame = samples_per_frame(rate, n)
    n_frames = math.ceil(n / per_frame)
    analogs = np.zeros((len(columns), n_frames * per_frame))
    analogs[:, :n] = np.vstack(columns)
    c = ezc3d.c3d()
    del c["data"]["rotations"]
    c["parameters"]["POINT"]["RATE"]["value"] = [rate / per_frame]
    c["parameters"]["ANALOG"]["RATE"]["value"] = [rate]
    c["parameters"]["ANALOG"]["LABELS"]["value"] = labels
    c["data"]["points"] = np.zeros((4, 0, n_frames))
    c["data"]["analogs"] = analogs[np.newaxis, :, :]
    _set_param(c, "POINT", "LONG_FRAMES", np.array([float(n_frames)]),
               "number of frames (as a float, for files over 65535 frames)")
    _set_param(c, "TRIAL", "ACTUAL_START_FIELD", np.array([1, 0], dtype=np.int64),
               "first frame (low, high 16-bit word)")
    _set_param(c, "TRIAL", "ACTUAL_END_FIELD",
               np.array([n_frames & 0xFFFF, n_frames >> 16], dtype=np.int64),
               "last frame (low, high 16-bit word)")
    _set_param(c, "POINT", "UNITS", np.array(["mm"]))
    _set_param(c, "ANALOG", "UNITS", np.array(units))
    _set_param(c, "ANALOG", "DESCRIPTIONS", np.array(descriptions))
    _set_param(c, "ANALOG", "SCALE", np.ones(len(labels)))
    _set_param(c, "ANALOG", "OFFSET", np.zeros(len(labels), dtype=np.int64))
    _set_param(c, "ANALOG", "GEN_SCALE", np.array([1.0]))

    _set_param(c, "FORCE_PLATFORM", "USED", np.array([len(plates)], dtype=np.int64))
    if plates:
        _set_param(c, "FORCE_PLATFORM", "TYPE", np.full(len(plates), 2, dtype=np.int64))
        _set_param(c, "FORCE_PLATFORM", "ZERO", np.array([0, 0], dtype=np.int64))
        _set_param(c, "FORCE_PLATFORM", "CORNERS", corners)
        _set_param(c, "FORCE_PLATFORM", "ORIGIN", np.zeros((3, len(plates))))
        _set_param(c, "FORCE_PLATFORM", "CHANNEL", channel_idx)
        _set_param(c, "FORCE_PLATFORM", "CAL_MATRIX",
                   np.repeat(np.eye(6)[:, :, np.newaxis], len(plates), axis=2))
        _set_param(c, "FORCE_PLATFORM", "UNITS", np.array(["N"]))
        _set_param(c, "FORCE_PLATFORM", "LABELS", np.array([s.name for s in plates]))

    events = _events(stances or [], float(time_s[0]), {st.name: st for st in streams})
    if events:
        times = np.array([[np.floor(t / 60.0) for t, _, _ in events],
                          [t - 60.0 * np.floor(t / 60.0) for t, _, _ in events]])
        _set_param(c, "EVENT", "USED", np.array([len(events)], dtype=np.int64))
        _set_param(c, "EVENT", "TIMES", times)
        _set_param(c, "EVENT", "CONTEXTS", np.array([ctx for _, ctx, _ in events]))
        _set_param(c, "EVENT", "LABELS", np.array([lab for _, _, lab in events]))
        _set_param(c, "EVENT", "DESCRIPTIONS", np.array([
            _EVENT_TEXT[lab] for _, _, lab in events]))
        _set_param(c, "EVENT", "SUBJECTS", np.array([subject] * len(events)))
        _set_param(c, "EVENT", "ICON_IDS", np.array(
            [_EVENT_ICON.get(lab, 0) for _, _, lab in events], dtype=np.int64))
        _set_param(c, "EVENT", "GENERIC_FLAGS", np.zeros(len(events), dtype=np.int64))
    if subject:
        _set_param(c, "SUBJECTS", "USED", np.array([1], dtype=np.int64))
        _set_param(c, "SUBJECTS", "NAMES", np.array([subject]))
    sw = software_info()
    _set_param(c, "MANUFACTURER", "COMPANY", np.array([sw["name"]]))
    _set_param(c, "MANUFACTURER", "SOFTWARE", np.array([sw["name"]]))
    _set_param(c, "MANUFACTURER", "VERSION_LABEL", np.array([sw["version"]]))
    _set_param(c, "FORCELAB", "T0_S", np.array([repr(float(time_s[0]))]),
               "session time of frame 1 in s (text: every digit of the float64)")
    _set_param(c, "FORCELAB", "ANALOG_SAMPLES", np.array([float(n)]),
               "measured analog samples per channel (the last frame is filled with zeros)")
    _set_param(c, "FORCELAB", "TRIAL", np.array([trial.name or "trial"]))
    for key, value in (extra_params or {}).items():
        group, _, name = key.partition(":")
        _set_param(c, group, name, np.array([value]) if np.ndim(value) == 0 else
                   np.asarray(value))
    return c


_EVENT_TEXT = {
    "Foot Strike": "foot touches the ground",
    "Foot Off": "foot leaves the ground",
    "Crossover": "foot lands across the other foot's line (negative step width)",
    "Double Contact": "the same foot lands twice in a row (a skip or stumble)",
}
_EVENT_ICON = {"Foot Strike": 1, "Foot Off": 2}


def _measured(streams: dict[str, Any], name: Any, t_s: float) -> bool:
    """Whether the vertical force of stream ``name`` was measured around time ``t_s`` (two
    samples either side), i.e. a foot strike or foot off there is an event, not a gap's edge."""
    stream = streams.get(name)
    if stream is None or "fz" not in stream.channels or not np.isfinite(t_s):
        return False
    i = int(round((t_s - stream.t0_s) * stream.rate_hz))
    window = np.asarray(stream.channels["fz"][max(0, i - 2):i + 3], dtype=np.float64)
    return window.size > 0 and bool(np.all(np.isfinite(window)))


def _events(stances: list[dict[str, Any]], t0_s: float, streams: dict[str, Any] | None = None
            ) -> list[tuple[float, str, str]]:
    """Foot Strike / Foot Off events, and Crossover / Double Contact at the strike of those
    stances (time from frame 1, context, label). A stance cut by a
    gap keeps the event at its measured end (the strike before an unplug, the foot off after
    a replug); partial stances at the file edges keep the one inside the file."""
    events: list[tuple[float, str, str]] = []
    for s in stances:
        reason = s.get("reason")
        strike = off = s.get("valid", True) or reason in ("partial_start", "partial_end")
        if reason == "partial_start":
            strike = False
        if reason == "partial_end":
            off = False
        if reason == "gap" and streams is not None:
            strike = _measured(streams, s.get("stream"), float(s["start_s"]))
            off = _measured(streams, s.get("stream"), float(s["end_s"]))
        ctx = _side_context(s.get("side"))
        if strike:
            events.append((float(s["start_s"]) - t0_s, ctx, "Foot Strike"))
            # the analysis' crossover steps and double contacts, at the foot strike
            if s.get("crossover"):
                events.append((float(s["start_s"]) - t0_s, ctx, "Crossover"))
            if s.get("double_contact"):
                events.append((float(s["start_s"]) - t0_s, ctx, "Double Contact"))
        if off:
            events.append((float(s["end_s"]) - t0_s, ctx, "Foot Off"))
    events = [e for e in events if e[0] >= 0.0 and np.isfinite(e[0])]
    events.sort(key=lambda e: e[0])
    return events


def export_c3d(source: ExportSource, out: str | Path | None = None, *, overwrite: bool = False,
               analysis_options: dict[str, Any] | None = None) -> list[Path]:
    """Write one C3D file per trial.

    ``out`` is an output folder, or a ``.c3d`` file name when there is one trial;
    ``analysis_options`` go to the stance detection that places the events. See
    :func:`~forcelab.interop.export_common.export_files` for the rest.
    """
    def write(trial: ExportTrial, path: Path) -> None:
        write_c3d(build_c3d(trial, trial.stances(analysis_options), subject=source.athlete_id),
                  path)

    return export_files(source, out, ".c3d", lambda trial: [partial(write, trial)],
                        overwrite=overwrite)


def write_c3d(c: Any, path: Path) -> None:
    """Write a built C3D file through a temporary name, checking the room first and the size
    afterwards (ezc3d does not report a full disk).

    Raises
    ------
    ExportError
        If the file cannot be written; nothing is left behind.
    """
    data_bytes = int(np.asarray(c["data"]["analogs"]).size) * 4
    check_free_space(path.parent, data_bytes + C3D_HEADER_BYTES, path.name)
    tmp = path.with_name(path.stem + ".part.c3d")
    try:
        c.write(str(tmp))
        if tmp.stat().st_size < data_bytes:
            raise ExportError(
                f"could not write {path}: only {tmp.stat().st_size} of at least "
                f"{data_bytes} bytes reached the disk (full disk?); nothing was written"
            )
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
    except Exception as exc:  # ezc3d raises plain RuntimeError/ValueError
        tmp.unlink(missing_ok=True)
        if isinstance(exc, ExportError):
            raise
        raise ExportError(f"could not write {path}: {exc}") from exc
    tmp.replace(path)
