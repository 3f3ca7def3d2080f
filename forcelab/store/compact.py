"""Rewrite a closed session file in the current compact layout, losslessly.

Files recorded before forcelab wrote compressed chunks once (see ``_packing``) carry dead space
(every flush rewrote the last, partial chunk of each dataset) and store plates that stream raw
bridge counts as floats. ``compact_session(path)`` writes everything the file holds (attributes,
tables, every sample, analyses) into a new file beside it in today's layout, reads the new file
back and compares it with the original value by value, and only then replaces the original
(rename: a crash leaves either the old or the new file, never half of one).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from forcelab.errors import SessionFileError
from forcelab.store import _layout as L
from forcelab.store import _packing as P
from forcelab.store.analysis_io import remove_temp_copy
from forcelab.store.reader import SessionFile, open_session

#: Rows copied per step (bounded memory for hour-long files).
_STEP_ROWS = 1 << 18


def compact_session(path: str | os.PathLike, output: str | os.PathLike | None = None
                    ) -> dict[str, Any]:
    """Rewrite a cleanly closed session file in the compact layout.

    Parameters
    ----------
    path : str or path-like
        A forcelab session file that is closed (not being recorded).
    output : str or path-like, optional
        Write the compact copy here (must not exist) and leave ``path`` as it is; default:
        replace ``path`` itself once the copy is verified.

    Returns
    -------
    dict
        ``path`` (the compact file), ``bytes_before``, ``bytes_after``, ``streams`` (per stream
        ``n_samples`` and ``counts``: True when stored as raw bridge counts).

    Raises
    ------
    SessionFileError
        If the file is not a closed forcelab session, ``output`` exists, or the copy cannot be
        written or does not read back identical (the original is then left untouched).
    """
    src = Path(path)
    dst = Path(output) if output is not None else None
    if dst is not None and os.path.lexists(dst):
        raise SessionFileError(f"{dst} already exists; forcelab never overwrites a session file")
    with open_session(src) as sf:
        state = sf.state
        if not state["closed"]:
            raise SessionFileError(
                f"{src} is being recorded or was not closed (recorder crashed); compact only "
                f"closed files: rescue it first with 'forcelab check {src} --recover FIXED.h5'"
            )
        target = dst or src
        tmp = target.with_name(f".{target.name}.compact-{os.getpid()}.tmp")
        try:
            streams = _write_copy(sf, tmp)
            _verify(sf, tmp)
        except BaseException as exc:
            remove_temp_copy(tmp)
            if isinstance(exc, SessionFileError | KeyboardInterrupt):
                raise
            raise SessionFileError(
                f"cannot compact {src}: {' '.join(str(exc).split())[:200]}; the file is unchanged"
            ) from None
    before = src.stat().st_size
    try:
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except OSError as exc:
        remove_temp_copy(tmp)
        raise SessionFileError(
            f"cannot replace {target}: {exc.strerror or exc}; the file is unchanged"
        ) from None
    return {"path": str(target), "bytes_before": before, "bytes_after": target.stat().st_size,
            "streams": streams}


def _write_copy(sf: SessionFile, tmp: Path) -> dict[str, dict[str, Any]]:
    h5 = sf._h5
    try:
        out = h5py.File(tmp, "x", libver=L.FILE_FORMAT)
    except OSError as exc:
        raise SessionFileError(f"cannot create {tmp}: {exc.strerror or exc}") from None
    streams: dict[str, dict[str, Any]] = {}
    with out:
        for k, v in h5.attrs.items():
            out.attrs[k] = v
        out.attrs["compacted_utc"] = L.utc_iso(time.time())
        out.create_dataset("session_state", data=h5["session_state"][()])
        paths = []
        for table, (_, chunk) in L.ROOT_TABLES.items():
            src = h5[table]
            rows = sf._table(table) if table != "trials" else src[()]
            ds = P.create_growing(out, table, (), src.dtype, chunk, tails=False)
            ds.resize((len(rows),))
            ds[:] = rows
            paths.append(f"/{table}")
        out.create_group("streams", track_order=True)
        for name in sf.streams:
            streams[name] = _copy_stream(sf, name, out)
            paths += [f"/streams/{name}/{d}" for d in out["streams"][name]]
        out.create_dataset("committed_rows",
                           data=np.array([out[p].shape[0] for p in paths], dtype="i8"))
        out["committed_rows"].attrs["datasets"] = paths
        for name in h5:  # analyses, marker trajectories, ...: copied object by object
            if name not in out and name != P.TAIL_GROUP:
                h5.copy(h5[name], out, name)
    return streams


def _copy_stream(sf: SessionFile, name: str, out: h5py.File) -> dict[str, Any]:
    g_in = sf._h5["streams"][name]
    g = out["streams"].create_group(name)
    for k, v in g_in.attrs.items():
        if k != P.COUNTS_TO_UNITS:
            g.attrs[k] = v
    n_ch = int(g_in["samples"].shape[1])
    dtype = g_in["samples"].dtype
    calibration = json.loads(L.text(g_in.attrs.get("calibration_json", "{}")) or "{}")
    k = P.counts_matrix(calibration, n_ch)
    rate = float(g_in.attrs["rate_hz"])
    P.create_stream_datasets(g, n_ch, rate, dtype, k, tails=False)
    for table in L.STREAM_TABLES:  # keep the original row types (older string widths too)
        rows = sf._table(f"{g_in.name}/{table}")
        chunk = g[table].chunks
        del g[table]
        g.create_dataset(table, data=rows, maxshape=(None,), chunks=chunk, **P.COMPRESSION)
    n = sf._stream_rows(name)
    k_in = g_in.attrs.get(P.COUNTS_TO_UNITS)
    k_inv = None if k is None else np.linalg.inv(k)
    for a in range(0, n, _STEP_ROWS):
        b = min(n, a + _STEP_ROWS)
        data = sf._rows(f"{g_in.name}/samples", a, b)
        if k_in is not None:
            data = P.from_counts(sf._rows(f"{g_in.name}/counts", a, b), data, np.asarray(k_in))
        seq = sf._rows(f"{g_in.name}/seq", a, b)
        if k is not None:
            counts, data = P.to_counts(data, k, k_inv, dtype)
            _extend(g["counts"], counts)
        _extend(g["samples"], data)
        _extend(g["seq"], seq)
    return {"n_samples": n, "counts": k is not None}


def _extend(ds: h5py.Dataset, rows: np.ndarray) -> None:
    n0 = ds.shape[0]
    ds.resize((n0 + len(rows), *ds.shape[1:]))
    ds[n0:] = rows


def _verify(sf: SessionFile, tmp: Path) -> None:
    """The copy must read back exactly as the original: every table, sample and analysis."""
    with SessionFile(tmp) as new:
        same = (
            new.streams == sf.streams
            and new.athlete == sf.athlete
            and new.trials == sf.trials
            and new.markers == sf.markers
            and new.events == sf.events
            and new.analyses == sf.analyses
            and dict(new._h5.attrs.items()).keys() - {"compacted_utc"}
            == dict(sf._h5.attrs.items()).keys()
        )
        if not same:
            raise SessionFileError("the compact copy does not read back identical")
        for name in sf.streams:
            a, b = sf.read_stream(name), new.read_stream(name)
            for field in ("samples", "seq", "t_s", "gaps", "blocks"):
                x, y = getattr(a, field), getattr(b, field)
                if x.dtype != y.dtype or not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
                    raise SessionFileError(
                        f"the compact copy of stream {name!r} differs in {field}"
                    )
            if (new.stream_info(name) != sf.stream_info(name)
                    or new.link_stats(name) != sf.link_stats(name)):
                raise SessionFileError(f"the compact copy of stream {name!r} differs")

