"""Check a session file for what is recoverable, and write a clean copy of what is.

``check_session(path)`` reads everything it can (every sample chunk, every table) and reports
per stream how many samples are readable; ``recover_session(src, dst)`` writes a new, cleanly
closed session with all readable data (the original is never modified).

Exit codes of ``forcelab check`` (``CHECK_EXIT``): 0 = complete and closed cleanly;
1 = readable but incomplete (not closed cleanly: still recording or the recorder crashed, closed
after a full disk or write error, a trial left running, unreadable parts); 2 = not a readable
forcelab session (foreign, newer schema, destroyed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from forcelab.errors import SessionFileError
from forcelab.store import _layout as L
from forcelab.store import _packing as P
from forcelab.store.reader import open_session

CHECK_EXIT = {"ok": 0, "incomplete": 1, "unreadable": 2}
_READ_ROWS = 1 << 18


def check_session(path: str | os.PathLike, isolated: bool = False) -> dict[str, Any]:
    """Report what a session file holds and what of it is readable.

    With ``isolated=True`` the file is read in a child process, so a damaged file that makes
    the HDF5 library crash is reported as unreadable instead of ending the caller.

    Returns
    -------
    dict
        ``path``, ``status`` ("ok", "incomplete" or "unreadable"), ``exit_code``, ``error``
        (why unreadable), ``closed_cleanly``, ``close_reason``, ``recording`` (flushed within 3 s,
        probably still being recorded), ``last_flush_utc``, ``streams`` (per stream
        ``n_samples``, ``readable_samples``, ``gaps``, ``samples_missing``, ``error``),
        ``trials``, ``running_trials``, ``n_markers``, ``n_events``, ``n_analyses`` and
        ``problems`` (list of sentences).
    """
    if isolated:
        return _check_in_child(Path(path))
    path = Path(path)
    report: dict[str, Any] = {"path": str(path), "problems": []}
    try:
        sf = open_session(path)
    except (SessionFileError, FileNotFoundError) as exc:
        error = " ".join(str(exc).split()).split("; run 'forcelab check")[0]
        report.update(status="unreadable", exit_code=2, error=error)
        return report
    problems: list[str] = report["problems"]
    with sf:
        try:
            state = sf.state
        except Exception as exc:  # noqa: BLE001 - every failure is a finding here
            state = {"closed": False, "close_reason": "", "last_flush_utc": None,
                     "recording": False}
            problems.append(f"session state unreadable: {_short(exc)}")
        report.update(
            schema_version=sf.schema_version,
            uuid=sf.uuid,
            created_utc=sf.created_utc,
            closed_cleanly=bool(state["closed"] and state["close_reason"] == "normal"),
            close_reason=state["close_reason"],
            recording=state["recording"],
            last_flush_utc=state["last_flush_utc"],
        )
        if not state["closed"]:
            if state["recording"]:
                problems.append("the file is being recorded right now")
            else:
                problems.append(
                    "not closed: the recorder stopped without closing (crash, kill, power loss); "
                    f"data up to the last flush ({state['last_flush_utc']}) is kept"
                )
        elif state["close_reason"] != "normal":
            problems.append(f"closed after an error: {state['close_reason']}")
        for attr, label in (("trials", "trials"), ("markers", "markers"), ("events", "events"),
                            ("athlete", "athlete")):
            try:
                value = getattr(sf, attr)
            except Exception as exc:  # noqa: BLE001
                problems.append(f"{label} table unreadable: {_short(exc)}")
                value = None
            if attr == "trials":
                trials = value or []
                report["trials"] = [t["name"] for t in trials]
                running = [t["name"] for t in trials if t["stop_s"] is None]
                report["running_trials"] = running
                if running:
                    problems.append(f"trial(s) never stopped: {', '.join(running)}")
            elif attr in ("markers", "events"):
                report[f"n_{attr}"] = len(value or [])
        try:
            report["n_analyses"] = len(sf.analyses)
        except Exception as exc:  # noqa: BLE001
            problems.append(f"stored analyses unreadable: {_short(exc)}")
        reserve = L.reserve_path(path)
        if reserve.exists() and not state["recording"]:
            problems.append(
                f"leftover reserve file {reserve.name} of the recorder (removed by --recover)"
            )
        for name in sf.incomplete_streams:
            problems.append(f"stream {name!r} was never completely created (no samples)")
        streams = {}
        for name in sf.streams:
            streams[name] = _check_stream(sf, name, problems)
        report["streams"] = streams
    status = "incomplete" if problems else "ok"
    report.update(status=status, exit_code=CHECK_EXIT[status], error=None)
    return report


def _check_in_child(path: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "forcelab.store.check", str(path)],
        capture_output=True, text=True,
    )
    if proc.returncode == 0:
        try:
            return json.loads(proc.stdout)
        except ValueError:
            pass
    why = f"signal {-proc.returncode}" if proc.returncode < 0 else f"status {proc.returncode}"
    return {
        "path": str(path), "problems": [], "status": "unreadable",
        "exit_code": CHECK_EXIT["unreadable"],
        "error": f"{path} is damaged: the HDF5 library failed reading it ({why})",
    }


def _check_stream(sf: Any, name: str, problems: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"error": None}
    try:
        summary = sf.stream_summary(name)
    except Exception as exc:  # noqa: BLE001
        problems.append(f"stream {name!r}: description unreadable ({_short(exc)})")
        out["error"] = _short(exc)
        return out
    out.update(
        n_samples=summary["n_samples"], rate_hz=summary["rate_hz"], gaps=summary["gaps"],
        samples_missing=summary["samples_missing"], duration_s=summary["duration_s"],
    )
    g = sf._h5["streams"][name]
    readable = summary["n_samples"]
    for d in ("samples", "seq", "counts") if P.COUNTS_TO_UNITS in g.attrs else ("samples", "seq"):
        readable = min(readable, _readable_growing(sf, f"{g.name}/{d}", summary["n_samples"]))
    out["readable_samples"] = readable
    if readable < summary["n_samples"]:
        out["error"] = f"samples after row {readable} unreadable"
        problems.append(
            f"stream {name!r}: only {readable} of {summary['n_samples']} samples readable"
        )
    stored = int(g["samples"].shape[0])
    committed = sf._committed.get(g["samples"].name, stored)
    if stored > committed:
        out["unflushed_rows_dropped"] = stored - committed
    return out


def _readable_growing(sf: Any, path: str, n: int) -> int:
    """Rows of a growing dataset readable from the start, its tail included."""
    ds = sf._h5[path]
    n_main = min(n, int(ds.shape[0]), sf._committed.get(path, n))
    readable = _readable_rows(ds, n_main)
    if readable < n_main or n_main == n:
        return readable
    try:
        sf._rows(path, n_main, n)
    except Exception:  # noqa: BLE001 - a damaged tail: only the dataset's rows count
        return readable
    return n


def _readable_rows(ds: h5py.Dataset, n: int) -> int:
    """Rows readable from the start, reading chunk by chunk until the first failure."""
    step = max(_READ_ROWS, ds.chunks[0] if ds.chunks else 1)
    start = 0
    while start < n:
        stop = min(n, start + step)
        try:
            ds[start:stop]
        except Exception:  # noqa: BLE001 - narrow down to the first bad chunk
            chunk = ds.chunks[0] if ds.chunks else 1
            for a in range(start, stop, chunk):
                try:
                    ds[a : min(stop, a + chunk)]
                except Exception:  # noqa: BLE001
                    return a
        start = stop
    return n


def recover_session(src: str | os.PathLike, dst: str | os.PathLike) -> dict[str, Any]:
    """Write everything readable of ``src`` into a new, cleanly closed session ``dst``.

    Trials left running are stopped at the end of the data; the copy records where it came
    from (root attributes ``recovered_from``, ``recovered_utc``, ``original_close_reason``).
    Returns the :func:`check_session` report of ``src``.

    Raises
    ------
    SessionFileError
        If ``src`` is not a readable session or ``dst`` exists / cannot be written.
    """
    src, dst = Path(src), Path(dst)
    report = check_session(src)
    if report["status"] == "unreadable":
        raise SessionFileError(f"nothing to recover: {report['error']}")
    if os.path.lexists(dst):
        raise SessionFileError(f"{dst} already exists; forcelab never overwrites a session file")
    with open_session(src) as sf:
        h5 = sf._h5
        try:
            out = h5py.File(dst, "x", libver=L.FILE_FORMAT)
        except OSError as exc:
            raise SessionFileError(f"cannot create {dst}: {_short(exc)}") from None
        try:
            _copy_session(sf, h5, out, report)
        except Exception as exc:  # noqa: BLE001
            out.close()
            os.remove(dst)
            raise SessionFileError(f"recovery into {dst} failed: {_short(exc)}") from None
        out.close()
    reserve = L.reserve_path(src)
    if reserve.exists() and L.writer_alive(src) is False:
        reserve.unlink()  # forcelab's own disk-full reserve, left by a crashed recorder
    return report


def _copy_session(sf: Any, h5: h5py.File, out: h5py.File, report: dict) -> None:
    for k, v in h5.attrs.items():
        out.attrs[k] = v
    out.attrs["recovered_from"] = str(sf.path)
    out.attrs["recovered_utc"] = L.utc_iso(time.time())
    out.attrs["original_close_reason"] = report.get("close_reason") or "not closed"
    paths = []
    last_t = 0.0
    out.create_group("streams", track_order=True)
    for name in sf.streams:
        info = report["streams"].get(name, {})
        n = int(info.get("readable_samples", 0) or 0)
        g_in = h5["streams"][name]
        g_out = out["streams"].create_group(name)
        for k, v in g_in.attrs.items():
            g_out.attrs[k] = v
        _copy_rows(sf, g_in["samples"], g_out, "samples", n)
        _copy_rows(sf, g_in["seq"], g_out, "seq", n)
        if "counts" in g_in:
            _copy_rows(sf, g_in["counts"], g_out, "counts", n)
        blocks = sf._table(f"/streams/{name}/blocks")
        blocks = blocks[blocks["row"] < n]
        _copy_rows(sf, g_in["blocks"], g_out, "blocks", len(blocks))
        gaps = sf._table(f"/streams/{name}/gaps")
        _copy_rows(sf, g_in["gaps"], g_out, "gaps", int(np.count_nonzero(gaps["row"] <= n)))
        links = P.n_rows(h5, g_in["link_stats"].name, sf._committed)
        _copy_rows(sf, g_in["link_stats"], g_out, "link_stats", links)
        if n and len(blocks):
            b = blocks[-1]
            seq_last = int(sf._rows(g_in["seq"].name, n - 1, n)[0])
            last_t = max(last_t, float(b["t_s"]) + (seq_last - int(b["seq"])) / float(
                g_in.attrs["rate_hz"]))
        paths += [f"/streams/{name}/{d}" for d in ("samples", "seq", *L.STREAM_TABLES)]
        if "counts" in g_in:
            paths.append(f"/streams/{name}/counts")
    for table in L.ROOT_TABLES:
        rows = sf._table(table)
        if table == "trials" and len(rows):
            rows = rows.copy()
            open_ = ~np.isfinite(rows["stop_s"])
            rows["stop_s"][open_] = np.maximum(rows["start_s"][open_], last_t)
        ds = h5[table]
        out.create_dataset(
            table, data=rows, maxshape=(None,), chunks=ds.chunks, compression="gzip",
            shuffle=True,
        )
        paths.append(f"/{table}")
    state = np.zeros(1, dtype=L.SESSION_STATE_DTYPE)
    state["closed"] = 1
    state["close_reason"] = b"normal"
    state["closed_unix_s"] = time.time()
    state["last_flush_unix_s"] = time.time()
    out.create_dataset("session_state", data=state)
    out.create_dataset("committed_rows", data=np.array([out[p].shape[0] for p in paths], "i8"))
    out["committed_rows"].attrs["datasets"] = paths
    if "analysis" in h5:
        h5.copy(h5["analysis"], out, "analysis")


def _copy_rows(sf: Any, ds: h5py.Dataset, group: h5py.Group, name: str, n: int) -> None:
    """Copy the first ``n`` committed rows of growing dataset ``ds`` (its tail included)."""
    new = group.create_dataset(
        name, shape=(n, *ds.shape[1:]), maxshape=ds.maxshape, dtype=ds.dtype, chunks=ds.chunks,
        compression=ds.compression, compression_opts=ds.compression_opts, shuffle=ds.shuffle,
    )
    for a in range(0, n, _READ_ROWS):
        b = min(n, a + _READ_ROWS)
        new[a:b] = sf._rows(ds.name, a, b)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


if __name__ == "__main__":  # the child process of check_session(isolated=True)
    print(json.dumps(check_session(sys.argv[1])))
