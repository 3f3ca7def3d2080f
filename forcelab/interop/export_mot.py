"""OpenSim export: ground-reaction-force ``.mot`` plus the matching ExternalLoads ``.xml``.

OpenSim's ground frame is x forward, y up, z toward the subject's right, so forcelab's
channels map as: ``vx = fap``, ``vy = fz``, ``vz = fml``; ``px = cop_ap``, ``py = 0``,
``pz = cop_ml`` (m); ``torque_y = tz`` (free moment about the vertical, N*m). The right foot
uses the columns ``ground_force_v*``, ``ground_force_p*``, ``ground_torque_*``, the left foot
``l_ground_force_*`` and ``l_ground_torque_*``, as in OpenSim's own examples; the .xml applies
them to ``calcn_r`` and ``calcn_l``.

Where each foot's force comes from:

- streams with a side (treadmill belts, one plate per foot) are used as they are;
- one plate under both feet (side unknown) is split: every sample goes to the foot of the
  nearest stance found by the analysis (samples in flight to the nearest stance's foot), so
  left + right always equals the measured force.

The centre of pressure is 0 when the foot is unloaded (OpenSim convention); forces that were
not measured (gaps) are written as 0. Insole streams have no centre of pressure in metres and
cannot drive an OpenSim model: they export to CSV, C3D or JSON instead.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from forcelab.errors import ExportError
from forcelab.interop.export_common import (
    ExportSource,
    ExportTrial,
    FileWriter,
    common_grid,
    export_files,
    is_plate_stream,
    on_grid,
    stance_sides_per_sample,
    table_chunks,
    write_atomic_text,
)

PREFIX = {"right": "", "left": "l_"}
BODY = {"right": "calcn_r", "left": "calcn_l"}


def mot_columns(prefix: str) -> list[str]:
    """Column names of one foot (``prefix`` "" for right, "l_" for left)."""
    return ([f"{prefix}ground_force_v{a}" for a in "xyz"]
            + [f"{prefix}ground_force_p{a}" for a in "xyz"]
            + [f"{prefix}ground_torque_{a}" for a in "xyz"])


def foot_forces(
    trial: ExportTrial, stances: list[dict[str, Any]] | None
) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """Left and right ground-reaction channels of a trial on one time grid.

    Returns
    -------
    time_s : ndarray
        Sample times (recording time base, s).
    feet : dict
        ``{"left": {...}, "right": {...}}`` with ``fz fap fml cop_ml cop_ap tz`` (N, m, N*m);
        COP NaN where the foot is unloaded, forces NaN where not measured.

    Raises
    ------
    ExportError
        If the trial has no force-plate stream, or its plates cannot be assigned to feet.
    """
    plates = [s for s in trial.recording.streams if is_plate_stream(s)]
    if not plates:
        kinds = ", ".join(s.name for s in trial.recording.streams)
        raise ExportError(
            f"trial {trial.name!r} has no force-plate stream with a centre of pressure in metres "
            f"(streams: {kinds}); OpenSim needs one. Export insole data as CSV, C3D or JSON"
        )
    sided = {s.side: s for s in plates if s.side in ("left", "right")}
    unsided = [s for s in plates if s.side is None]
    if sided and unsided:
        raise ExportError(
            f"trial {trial.name!r} mixes plates with and without a foot "
            f"({', '.join(s.name for s in plates)}); cannot tell which force is which foot"
        )
    if len(unsided) > 1:
        raise ExportError(
            f"trial {trial.name!r} has {len(unsided)} plates without a foot side "
            f"({', '.join(s.name for s in unsided)}); OpenSim export needs one plate per foot "
            "or one plate under both feet"
        )
    time_s, rate = common_grid(plates)
    names = ("fz", "fap", "fml", "cop_ml", "cop_ap", "tz")
    feet: dict[str, dict[str, np.ndarray]] = {}
    if sided:
        for side in ("left", "right"):
            s = sided.get(side)
            feet[side] = {c: (on_grid(s, c, time_s, rate) if s is not None and c in s.channels
                              else np.full(time_s.size, np.nan if s is None else 0.0))
                          for c in names}
            if s is not None and "tz" not in s.channels:
                feet[side]["tz"] = np.zeros(time_s.size)
        return time_s, feet
    plate = unsided[0]
    g = {c: (on_grid(plate, c, time_s, rate) if c in plate.channels else np.zeros(time_s.size))
         for c in names}
    owner = stance_sides_per_sample(time_s, list(stances or []), plate.name)
    if not np.any(owner != ""):
        raise ExportError(
            f"trial {trial.name!r}: no stance could be given a foot side, so the one plate "
            "cannot be split into left and right forces"
        )
    for side in ("left", "right"):
        mine = owner == side
        feet[side] = {}
        for c in names:
            v = g[c].copy()
            v[~mine] = np.nan if c.startswith("cop") else 0.0
            feet[side][c] = v
    return time_s, feet


def mot_table(time_s: np.ndarray, feet: dict[str, dict[str, np.ndarray]]) -> np.ndarray:
    """The .mot data table: time, right foot (9 columns), left foot (9 columns)."""
    cols = [time_s]
    for side in ("right", "left"):
        f = feet[side]
        zeros = np.zeros(time_s.size)
        cols += [np.nan_to_num(f["fap"]), np.nan_to_num(f["fz"]), np.nan_to_num(f["fml"]),
                 np.nan_to_num(f["cop_ap"]), zeros, np.nan_to_num(f["cop_ml"]),
                 zeros, np.nan_to_num(f["tz"]), zeros]
    return np.column_stack(cols)


def mot_text(name: str, time_s: np.ndarray, feet: dict[str, dict[str, np.ndarray]]) -> str:
    """The full text of an OpenSim GRF .mot file."""
    table = mot_table(time_s, feet)
    labels = ["time"] + [c for p in ("", "l_")
                         for c in mot_columns(p)[:6]]
    # OpenSim's examples order: forces+points right, forces+points left, torques right, left
    torque_r, torque_l = mot_columns("")[6:], mot_columns("l_")[6:]
    order = ([0] + list(range(1, 7)) + list(range(10, 16)) + list(range(7, 10))
             + list(range(16, 19)))
    labels = labels + torque_r + torque_l
    table = table[:, order]
    buf = io.StringIO()
    buf.write(f"{name}\nversion=1\nnRows={table.shape[0]}\nnColumns={table.shape[1]}\n"
              "inDegrees=no\nendheader\n")
    buf.write("\t".join(labels) + "\n")
    for piece in table_chunks(table, "\t", "%.10g"):
        buf.write(piece)
    return buf.getvalue()


def external_loads_xml(mot_name: str) -> str:
    """The ExternalLoads .xml that applies the .mot's forces to the two calcanei."""
    parts = ['<?xml version="1.0" encoding="UTF-8" ?>',
             '<OpenSimDocument Version="40000">',
             '\t<ExternalLoads name="externalloads">',
             "\t\t<objects>"]
    for side, name in (("right", "RightGRF"), ("left", "LeftGRF")):
        p = PREFIX[side]
        parts += [
            f'\t\t\t<ExternalForce name="{name}">',
            "\t\t\t\t<appliesForce>true</appliesForce>",
            f"\t\t\t\t<applied_to_body>{BODY[side]}</applied_to_body>",
            "\t\t\t\t<force_expressed_in_body>ground</force_expressed_in_body>",
            "\t\t\t\t<point_expressed_in_body>ground</point_expressed_in_body>",
            f"\t\t\t\t<force_identifier>{p}ground_force_v</force_identifier>",
            f"\t\t\t\t<point_identifier>{p}ground_force_p</point_identifier>",
            f"\t\t\t\t<torque_identifier>{p}ground_torque_</torque_identifier>",
            f"\t\t\t\t<data_source_name>{escape(mot_name)}</data_source_name>",
            "\t\t\t</ExternalForce>",
        ]
    parts += ["\t\t</objects>", "\t\t<groups />",
              f"\t\t<datafile>{escape(mot_name)}</datafile>",
              "\t</ExternalLoads>", "</OpenSimDocument>", ""]
    return "\n".join(parts)


def export_mot(source: ExportSource, out: str | Path | None = None, *, overwrite: bool = False,
               analysis_options: dict[str, Any] | None = None) -> list[Path]:
    """Write ``<name>.mot`` and ``<name>.xml`` (ExternalLoads) per trial.

    ``out`` is an output folder, or a ``.mot`` file name when there is one trial;
    ``analysis_options`` go to the stance detection that splits one plate under both feet. See
    :func:`~forcelab.interop.export_common.export_files` for the rest.
    """
    def writers(trial: ExportTrial) -> list[FileWriter]:
        plates = [s for s in trial.recording.streams if is_plate_stream(s)]
        needs_split = len(plates) == 1 and plates[0].side is None
        time_s, feet = foot_forces(trial, trial.stances(analysis_options) if needs_split else [])
        mot_names: list[str] = []  # the ExternalLoads file names the .mot as it was written

        def write_mot(mot: Path) -> None:
            mot_names.append(mot.name)
            write_atomic_text(mot, mot_text(mot.name, time_s, feet))

        return [write_mot, lambda xml: write_atomic_text(xml, external_loads_xml(mot_names[-1]))]

    return export_files(source, out, ".mot", writers, overwrite=overwrite,
                        companions=[lambda p: p.with_suffix(".xml")])
