"""Marker trajectories in a session file: the ``/motion`` group (see docs/session-format.md).

Layout (readable without forcelab)::

    /motion                       group; attrs: rate_hz (f8), t0_s (f8, session time of row 0),
                                  unit "m", vertical_axis (i1: 0 x, 1 y, 2 z, -1 unknown),
                                  source (str)
    /motion/labels               (n_markers,) variable-length UTF-8 strings
    /motion/points               (n, n_markers, 3) float32, m, lab frame; NaN = not seen
    /motion/residuals            (n, n_markers) float32, optional, the source's residuals

The group is written before SWMR writing starts (HDF5 forbids new objects afterwards).
"""

from __future__ import annotations

import h5py
import numpy as np

from forcelab.recording import MarkerTrajectories

GROUP = "motion"


def write_trajectories(h5: h5py.File, trajectories: MarkerTrajectories, source: str = "") -> None:
    """Store ``trajectories`` as the ``/motion`` group of an open, writable session file.

    Parameters
    ----------
    h5 : h5py.File
        The session file, not yet in SWMR mode.
    trajectories : MarkerTrajectories
        The trajectories (m).
    source : str
        Where they came from (stored as an attribute).
    """
    g = h5.create_group(GROUP)
    g.attrs["rate_hz"] = float(trajectories.rate_hz)
    g.attrs["t0_s"] = float(trajectories.t0_s)
    g.attrs["unit"] = "m"
    up = trajectories.vertical_axis
    g.attrs["vertical_axis"] = np.int8(-1 if up is None else up)
    g.attrs["source"] = source
    g.create_dataset("labels", data=np.array(trajectories.labels, dtype=object),
                     dtype=h5py.string_dtype("utf-8"))
    n, k, _ = trajectories.points_m.shape
    chunks = (max(1, min(n, 1024)), max(1, k), 3)
    g.create_dataset("points", data=trajectories.points_m.astype(np.float32), chunks=chunks,
                     compression="gzip", compression_opts=4, shuffle=True)
    if trajectories.residuals is not None:
        g.create_dataset("residuals", data=trajectories.residuals.astype(np.float32),
                         chunks=chunks[:2], compression="gzip", compression_opts=4, shuffle=True)


def read_trajectories(
    h5: h5py.File, interval_s: tuple[float, float] | None = None
) -> MarkerTrajectories | None:
    """The ``/motion`` group of a session file, or None when it has none.

    Parameters
    ----------
    h5 : h5py.File
        The open session file.
    interval_s : (float, float), optional
        Only the samples in [start, stop) of the session time base (a trial).

    Returns
    -------
    MarkerTrajectories or None
    """
    if GROUP not in h5:
        return None
    g = h5[GROUP]
    rate_hz = float(g.attrs["rate_hz"])
    t0_s = float(g.attrs["t0_s"])
    labels = [lab.decode() if isinstance(lab, bytes) else str(lab) for lab in g["labels"][()]]
    n = g["points"].shape[0]
    i0, i1 = 0, n
    if interval_s is not None:
        start, stop = interval_s
        i0 = int(np.clip(np.ceil((start - t0_s) * rate_hz - 1e-9), 0, n))
        if np.isfinite(stop):
            i1 = int(np.clip(np.ceil((stop - t0_s) * rate_hz - 1e-9), i0, n))
    points = np.asarray(g["points"][i0:i1], dtype=np.float64)
    residuals = np.asarray(g["residuals"][i0:i1], dtype=np.float64) if "residuals" in g else None
    vertical = int(g.attrs.get("vertical_axis", -1))
    return MarkerTrajectories(
        labels=labels, rate_hz=rate_hz, points_m=points, t0_s=t0_s + i0 / rate_hz,
        vertical_axis=None if vertical < 0 else vertical, residuals=residuals,
    )
