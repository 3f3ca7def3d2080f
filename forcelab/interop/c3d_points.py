"""The marker trajectories (POINT data) of a C3D file, kept beside its force platforms.

C3D stores points as ``(4, n_points, n_frames)`` (x, y, z, 1) in POINT:UNITS with a residual per
point and frame; a negative residual, or a NaN coordinate, means the marker was not seen in that
frame: forcelab keeps such samples as gaps (NaN), never interpolates them. Calculated points
that are not markers (angles, forces, moments, powers, named by POINT:ANGLES etc.) are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from forcelab.recording import MarkerTrajectories

#: POINT groups that list calculated quantities rather than marker positions.
_NOT_MARKERS = ("ANGLES", "FORCES", "MOMENTS", "POWERS", "SCALARS", "REACTIONS")


def _labels(params: dict[str, Any]) -> list[str]:
    point = params.get("POINT", {})
    labels: list[str] = []
    for key in ["LABELS"] + [f"LABELS{k}" for k in range(2, 100)]:
        if key not in point:
            break
        labels += [str(v).strip() for v in point[key]["value"]]
    return labels


def markers_from_c3d(
    c3d: Any, length_scale: float, t0_s: float, vertical_axis: int | None
) -> MarkerTrajectories | None:
    """The markers of an opened C3D (an ``ezc3d.c3d``), or None when it has none.

    Parameters
    ----------
    c3d : ezc3d.c3d
        The file as ezc3d read it.
    length_scale : float
        Metres per POINT:UNITS unit (0.001 for mm).
    t0_s : float
        Time of the first frame on the recording's time base (s).
    vertical_axis : int or None
        The lab's upward axis, as the force platforms say.

    Returns
    -------
    MarkerTrajectories or None
    """
    points = np.asarray(c3d["data"]["points"], dtype=np.float64)
    if points.ndim != 3 or points.shape[1] == 0 or points.shape[2] == 0:
        return None
    params = c3d["parameters"]
    labels = _labels(params)
    n_points = points.shape[1]
    if len(labels) < n_points:  # unlabelled points get the C3D default names
        labels += [f"point{k + 1}" for k in range(len(labels), n_points)]
    labels = labels[:n_points]
    point_group = params.get("POINT", {})
    calculated = {
        str(v).strip()
        for g in _NOT_MARKERS
        if g in point_group
        for v in point_group[g]["value"]
    }
    keep = [k for k, lab in enumerate(labels) if lab not in calculated and lab]
    # make labels unique (some systems repeat blank or default names)
    seen: dict[str, int] = {}
    unique = []
    for k in keep:
        lab = labels[k]
        seen[lab] = seen.get(lab, 0) + 1
        unique.append(lab if seen[lab] == 1 else f"{lab}_{seen[lab]}")
    if not keep:
        return None
    xyz = np.transpose(points[:3, keep, :], (2, 1, 0)) * length_scale  # (n, markers, 3)
    residuals = None
    meta = c3d["data"].get("meta_points", {}) if hasattr(c3d["data"], "get") else {}
    if "residuals" in meta:
        res = np.asarray(meta["residuals"], dtype=np.float64)
        if res.ndim == 3 and res.shape[1] >= max(keep) + 1:
            residuals = res[0, keep, :].T
    missing = ~np.isfinite(xyz).all(axis=2)
    if residuals is not None:
        missing |= residuals < 0
    xyz[missing] = np.nan
    rate_hz = float(c3d["header"]["points"]["frame_rate"])
    return MarkerTrajectories(
        labels=unique, rate_hz=rate_hz, points_m=xyz, t0_s=t0_s,
        vertical_axis=vertical_axis, residuals=residuals,
    )
