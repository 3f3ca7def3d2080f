"""Analysis results stored inside a session file, with the parameters and methods that made them.

Layout: ``/analysis/run_001``, ``run_002``, ... (one group per saved analysis, oldest first), each
with attributes ``created_utc``, ``software_version``, ``parameters_json`` and datasets
``result_json`` (the whole ``AnalysisResult.to_dict()`` as JSON text) and ``stances`` (one row per
stance, numeric metrics as float64 with NaN for "none", text fields as UTF-8 strings) so other
tools can read the per-stance table without parsing JSON.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import h5py
import numpy as np

import forcelab
from forcelab.errors import InputError, SessionFileError
from forcelab.store import _layout as L
from forcelab.store.files import check_free_space
from forcelab.store.reader import open_session


def write_analysis(
    path: str | os.PathLike, result_dict: Mapping[str, Any], parameters: Mapping[str, Any] | None
) -> str:
    """Store an analysis result in a closed session file; returns the group name (``run_NNN``).

    Parameters
    ----------
    path : str or path-like
        A session file that was closed cleanly (not being recorded).
    result_dict : mapping
        ``AnalysisResult.to_dict()``: ``stances``, ``summary``, ``asymmetry``, ``parameters``, ...
    parameters : mapping or None
        The options and method names that produced the result (thresholds, loading-rate method,
        trial, body mass source, ...).

    Raises
    ------
    SessionFileError
        If the file is not a cleanly closed forcelab session or cannot be written.
    InputError
        If the result cannot be stored as JSON.
    """
    return write_analyses(path, [(result_dict, parameters)])[0]


def write_analyses(
    path: str | os.PathLike,
    items: list[tuple[Mapping[str, Any], Mapping[str, Any] | None]],
) -> list[str]:
    """Store several analysis results in a closed session file in one atomic step.

    The file is copied once beside itself, the results are added to the copy, and the copy
    replaces the file (rename): a crash, a kill or a full disk leaves the file as it was or
    with every result, never half-written HDF5. Before anything is written the disk must have
    room for the copy and the results. Returns the group names (``run_NNN``) in the order given.

    Raises
    ------
    SessionFileError
        If the file is not a cleanly closed forcelab session, the disk has no room for the
        copy, or it cannot be written (the file is then unchanged).
    InputError
        If a result cannot be stored as JSON.
    """
    path = Path(path)
    with open_session(path) as sf:  # header, schema and damage checks
        state = sf.state
    if not state["closed"]:
        raise SessionFileError(
            f"{path} is still being recorded or was not closed cleanly; results can only be "
            f"saved into a closed session (run 'forcelab check {path} --recover FIXED.h5')"
        )
    prepared = []
    for result_dict, parameters in items:
        try:
            result_json = L.to_json(dict(result_dict))
            params_json = L.to_json(dict(parameters or {}))
        except (TypeError, ValueError) as exc:
            raise InputError(f"analysis result cannot be stored: {exc}") from None
        stances = list(result_dict.get("stances") or [])
        prepared.append((result_json, params_json, len(stances), _stance_table(stances)))
    # HDF5 stores the text and the tables with some overhead: twice their size is ample
    results_bytes = sum(2 * (len(r) + len(p)) + (0 if t is None else 2 * t.nbytes)
                        for r, p, _, t in prepared)
    check_free_space(path.parent, path.stat().st_size + results_bytes,
                     f"the results and a safe copy of {path.name}")
    tmp = path.with_name(f".{path.name}.analysis-{os.getpid()}.tmp")
    try:
        shutil.copyfile(path, tmp)
        shutil.copymode(path, tmp)
        h5 = h5py.File(tmp, "r+")
    except OSError as exc:
        remove_temp_copy(tmp)
        raise SessionFileError(
            f"cannot write results beside {path} ({' '.join(str(exc).split())[:160]}); is the "
            "folder writable and is there room for a copy of the file?"
        ) from None
    names = []
    try:
        try:
            root = h5.require_group("analysis")
            for result_json, params_json, n_stances, table in prepared:
                name = f"run_{len(root) + 1:03d}"
                while name in root:
                    name = f"run_{int(name[4:]) + 1:03d}"
                g = root.create_group(name)
                g.attrs["created_utc"] = L.utc_iso(time.time())
                g.attrs["software_version"] = forcelab.__version__
                g.attrs["parameters_json"] = params_json
                g.attrs["n_stances"] = n_stances
                g.create_dataset("result_json", data=result_json, dtype=h5py.string_dtype())
                if table is not None:
                    g.create_dataset("stances", data=table, compression="gzip", shuffle=True)
                names.append(name)
        finally:
            h5.close()
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except Exception as exc:  # noqa: BLE001 - any HDF5 failure is a write failure for the user
        remove_temp_copy(tmp)
        raise SessionFileError(
            f"cannot save the analysis into {path}: {' '.join(str(exc).split())[:200]}; "
            "the file is unchanged"
        ) from None
    return names


def read_analyses(path: str | os.PathLike) -> list[dict[str, Any]]:
    """All analyses stored in a session file (oldest first): ``name``, ``created_utc``,
    ``software_version``, ``parameters`` (dict), ``result`` (dict)."""
    with open_session(path) as sf:
        return sf.analyses


def _stance_table(stances: list[Mapping[str, Any]]) -> np.ndarray | None:
    if not stances:
        return None
    keys: list[str] = []
    for s in stances:
        for k in s:
            if k not in keys:
                keys.append(k)
    fields = []
    for k in keys:
        values = [s.get(k) for s in stances]
        if all(v is None or isinstance(v, bool | int | float | np.number) for v in values):
            fields.append((k, "f8"))
        else:
            width = max(1, *(len(str(v).encode("utf-8")) for v in values if v is not None))
            fields.append((k, f"S{min(width, 256)}"))
    dtype = np.dtype(fields)
    table = np.zeros(len(stances), dtype=dtype)
    for k, kind in fields:
        values = [s.get(k) for s in stances]
        if kind == "f8":
            table[k] = [np.nan if v is None else float(v) for v in values]
        else:
            table[k] = [L.fixed("" if v is None else v, dtype, k) for v in values]
    return table


def remove_temp_copy(tmp: Path) -> None:
    """Remove our temporary copy (never anything else that sits at that name)."""
    if tmp.is_file():
        tmp.unlink()
