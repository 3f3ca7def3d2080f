"""C3D export (ezc3d): analog channels, a complete FORCE_PLATFORM group and gait events.

Layout of the file (documented for Visual3D, Mokka, OpenSim and ezc3d users in docs/exports.md):

- No 3-D points; ``POINT:RATE`` equals the analog rate (one analog sample per frame) and
  ``POINT:UNITS`` is "mm", so positions (CORNERS, ORIGIN) are in mm and moments in N*mm.
- Every stream is put on one common time grid at the fastest stream's rate (streams already
  on that grid are copied, others linearly interpolated). Frame 1 is time 0; the session time
  of frame 1 is stored in ``FORCELAB:T0_S``. C3D has no "missing" value, so samples that were
  not measured (gaps, outside a stream) are written as 0.
- A force-plate stream (``fz`` and ``cop_ml`` in m; ``cop_ap``, ``fap``, ``fml``, ``tz`` when
  present, else 0) becomes a TYPE 2 platform with
  six analog channels ``Fx<i> Fy<i> Fz<i> Mx<i> My<i> Mz<i>`` holding the force and moment the
  subject applies TO the plate, about the centre of the plate's top surface, in the plate's
  own frame (AMTI convention: x toward the subject's right, y backward, z down, so Fz > 0 under
  load). ORIGIN is 0 (moments are already about the surface centre), CAL_MATRIX is the identity
  (the channels are already in N and N*mm), ZERO is [0, 0] (data are already zeroed: no
  software re-zeroing). CORNERS place the plates side by side in the lab frame (X right,
  Y forward, Z up): left stream at negative X, right stream at positive X. A reader that
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

from pathlib import Path
from typing import Any

import ezc3d
import numpy as np
from ezc3d import ezc3d as swig

from forcelab.errors import ExportError
from forcelab.interop.export_common import (
    ExportSource,
    ExportTrial,
    claim_outputs,
    common_grid,
    is_plate_stream,
    on_grid,
    output_paths,
    software_info,
)

#: default plate size (width along X, length along Y) in mm when the device did not report one
DEFAULT_PLATE_MM = (500.0, 600.0)
PLATE_GAP_MM = 20.0


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


def _plate_size_mm(recording_meta: dict[str, Any], stream_name: str) -> tuple[float, float]:
    plates = recording_meta.get("plate_size_mm") or {}
    size = plates.get(stream_name) if isinstance(plates, dict) else None
    if size is not None and len(size) == 2 and all(float(v) > 0 for v in size):
        return float(size[0]), float(size[1])
    return DEFAULT_PLATE_MM


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
    sizes = [_plate_size_mm(rec.meta or {}, s.name) for s in plates]
    total_w = sum(w for w, _ in sizes) + PLATE_GAP_MM * max(len(plates) - 1, 0)
    x_left = -total_w / 2.0
    for i, (stream, (w, length)) in enumerate(zip(plates, sizes, strict=True)):
        cx = x_left + w / 2.0
        x_left += w + PLATE_GAP_MM
        # corners in the lab frame, numbered in the plate's quadrant order +x+y, -x+y, -x-y,
        # +x-y with plate x = lab X, plate y = -lab Y, plate z = -lab Z (z down)
        corners[:, :, i] = np.array([
            [cx + w / 2, -length / 2, 0.0],
            [cx - w / 2, -length / 2, 0.0],
            [cx - w / 2, length / 2, 0.0],
            [cx + w / 2, length / 2, 0.0],
        ]).T
        g = {c: on_grid(stream, c, time_s, rate) for c in stream.channels}
        zeros = np.zeros(n)
        fz = np.nan_to_num(g["fz"])
        fml = np.nan_to_num(g.get("fml", zeros))
        fap = np.nan_to_num(g.get("fap", zeros))
        tz = np.nan_to_num(g.get("tz", zeros))
        cop_ml_mm = np.nan_to_num(g["cop_ml"]) * 1000.0
        cop_ap_mm = np.nan_to_num(g.get("cop_ap", zeros)) * 1000.0
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

    c = ezc3d.c3d()
    del c["data"]["rotations"]
    c["parameters"]["POINT"]["RATE"]["value"] = [rate]
    c["parameters"]["ANALOG"]["RATE"]["value"] = [rate]
    c["parameters"]["ANALOG"]["LABELS"]["value"] = labels
    c["data"]["points"] = np.zeros((4, 0, n))
    c["data"]["analogs"] = np.vstack(columns)[np.newaxis, :, :]
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

    events = _events(stances or [], float(time_s[0]))
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
    _set_param(c, "FORCELAB", "T0_S", np.array([float(time_s[0])]),
               "session time of frame 1 in s")
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


def _events(stances: list[dict[str, Any]], t0_s: float) -> list[tuple[float, str, str]]:
    events: list[tuple[float, str, str]] = []
    for s in stances:
        if not s.get("valid", True) and s.get("reason") not in ("partial_start", "partial_end"):
            continue
        ctx = _side_context(s.get("side"))
        if s.get("reason") != "partial_start":
            events.append((float(s["start_s"]) - t0_s, ctx, "Foot Strike"))
            # the analysis' crossover steps and double contacts, at the foot strike
            if s.get("crossover"):
                events.append((float(s["start_s"]) - t0_s, ctx, "Crossover"))
            if s.get("double_contact"):
                events.append((float(s["start_s"]) - t0_s, ctx, "Double Contact"))
        if s.get("reason") != "partial_end":
            events.append((float(s["end_s"]) - t0_s, ctx, "Foot Off"))
    events = [e for e in events if e[0] >= 0.0 and np.isfinite(e[0])]
    events.sort(key=lambda e: e[0])
    return events


def export_c3d(
    source: ExportSource,
    out: str | Path | None = None,
    *,
    overwrite: bool = False,
    analysis_options: dict[str, Any] | None = None,
) -> list[Path]:
    """Write one C3D file per trial.

    Parameters
    ----------
    source : ExportSource
        From :func:`forcelab.interop.export_common.load_source`.
    out : str or Path, optional
        Output folder, or a ``.c3d`` file name when there is one trial. Default: the input's
        folder.
    overwrite : bool
        Replace existing files.
    analysis_options : dict, optional
        Options for the stance detection that places the events.

    Returns
    -------
    list of Path
        The files written.
    """
    paths = output_paths(source, out, ".c3d")
    claim_outputs(paths, overwrite)
    written = []
    for trial, path in zip(source.trials, paths, strict=True):
        stances = trial.stances(analysis_options)
        c = build_c3d(trial, stances, subject=source.athlete_id)
        tmp = path.with_name(path.stem + ".part.c3d")
        try:
            c.write(str(tmp))
        except Exception as exc:  # ezc3d raises plain RuntimeError/ValueError
            tmp.unlink(missing_ok=True)
            raise ExportError(f"could not write {path}: {exc}") from exc
        tmp.replace(path)
        written.append(path)
    return written
