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
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from forcelab.errors import SessionFileError
from forcelab.store import _layout as L
from forcelab.store import _packing as P
from forcelab.store.files import check_free_space, publish_new
from forcelab.store.reader import SessionFile, open_session

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
        sf = _open_for_check(path)
    except (SessionFileError, FileNotFoundError) as exc:
        error = " ".join(str(exc).split()).split("; run 'forcelab check")[0]
        report.update(status="unreadable", exit_code=2, error=error)
        return report
    problems: list[str] = report["problems"]
    if getattr(sf, "cut_short", None):
        report["cut_short"] = sf.cut_short
        problems.append(
            f"the file is cut short ({sf.cut_short}): only what lies before the cut is readable"
        )
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
        if not any(s.get("n_samples") for s in streams.values()):
            problems.append("no samples: nothing was recorded (every device was lost, or none "
                            "was connected)")
    status = "incomplete" if problems else "ok"
    report.update(status=status, exit_code=CHECK_EXIT[status], error=None)
    return report


def _open_for_check(path: Path) -> Any:
    """Open a session for checking: as every reader does, or, when the file is cut short (a
    copy or a disk that ended early), through a temporary copy filled up with zeros to the
    length its header gives (sparse: the zeros take no disk space), so everything before the
    cut can still be read and what was cut off reads as damaged chunks. The source is only read.
    """
    try:
        return open_session(path)
    except SessionFileError as exc:
        m = re.search(r"truncated file: eof = (\d+).*stored_eof = (\d+)", str(exc))
        if m is None:
            raise
        size, stored = int(m.group(1)), int(m.group(2))
    folder = tempfile.mkdtemp(prefix="forcelab-check-")
    padded = Path(folder) / path.name
    try:
        shutil.copyfile(path, padded)
        os.truncate(padded, stored)
        sf = _PaddedCopy(path, padded)
    except (OSError, SessionFileError) as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise SessionFileError(
            f"{path} is cut short ({size} of {stored} bytes) and cannot be read "
            f"({_short(exc)})"
        ) from None
    sf.cut_short = f"{size} of {stored} bytes"
    return sf


class _PaddedCopy(SessionFile):
    """A session read through a zero-padded temporary copy (removed on close); ``path`` is
    the original file."""

    def __init__(self, path: Path, padded: Path) -> None:
        super().__init__(padded)
        self.path = path
        self._padded = padded

    def close(self) -> None:
        try:
            super().close()
        finally:
            shutil.rmtree(self._padded.parent, ignore_errors=True)


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
    except Exception as exc:  # noqa: BLE001 - count from the raw datasets instead
        try:
            summary = _raw_summary(sf, name)
        except Exception:  # noqa: BLE001
            problems.append(f"stream {name!r}: description unreadable ({_short(exc)})")
            out["error"] = _short(exc)
            return out
        problems.append(f"stream {name!r}: its tables are partly unreadable ({_short(exc)})")
    out.update(
        n_samples=summary["n_samples"], rate_hz=summary["rate_hz"], gaps=summary["gaps"],
        samples_missing=summary["samples_missing"], duration_s=summary["duration_s"],
    )
    g = sf._h5["streams"][name]
    keep, _ = _salvageable_rows(sf, g, summary["n_samples"])
    readable = int(keep.sum())
    out["readable_samples"] = readable
    if summary["samples_missing"] and summary["rate_hz"]:
        missing_s = summary["samples_missing"] / summary["rate_hz"]
        problems.append(
            f"stream {name!r}: {summary['gaps']} gap(s), {summary['samples_missing']} samples "
            f"({missing_s:.2f} s) missing (unplugged, lost on the link, or in a damaged file)"
        )
    if readable < summary["n_samples"]:
        out["error"] = f"{summary['n_samples'] - readable} samples in damaged chunks"
        problems.append(
            f"stream {name!r}: only {readable} of {summary['n_samples']} samples readable "
            "(damaged chunks are skipped by --recover)"
        )
    stored = int(g["samples"].shape[0])
    committed = sf._committed.get(g["samples"].name, stored)
    if stored > committed:
        out["unflushed_rows_dropped"] = stored - committed
    return out


def _raw_summary(sf: Any, name: str) -> dict[str, Any]:
    """The counts of :meth:`SessionFile.stream_summary` from what of the tables is readable."""
    g = sf._h5["streams"][name]
    n = sf._stream_rows(name)
    rate = float(g.attrs["rate_hz"])
    gaps = _readable_table(sf, g["gaps"])
    gaps = gaps[gaps["row"] <= n]
    return {"n_samples": n, "rate_hz": rate, "gaps": int(len(gaps)),
            "samples_missing": int(gaps["n_missing"].sum()) if len(gaps) else 0,
            "duration_s": n / rate}


def _readable_mask(sf: Any, path: str, n: int) -> np.ndarray:
    """Which of the first ``n`` committed rows of growing dataset ``path`` (its tail included,
    see ``_packing``) can be read: chunk by chunk, a damaged chunk costs its own rows only."""
    masks = [_chunk_mask(ds, m) for ds, m in P.parts(sf._h5, path, sf._committed)]
    ok = np.concatenate(masks)[:n]
    return np.concatenate([ok, np.zeros(n - ok.size, dtype=bool)])


def _chunk_mask(ds: h5py.Dataset, n: int) -> np.ndarray:
    """Which of the first ``n`` rows of one chunked dataset can be read."""
    ok = np.zeros(n, dtype=bool)
    chunk = ds.chunks[0] if ds.chunks else 1
    step = max(_READ_ROWS, chunk)
    for start in range(0, n, step):
        stop = min(n, start + step)
        try:
            ds[start:stop]
            ok[start:stop] = True
        except Exception:  # noqa: BLE001 - narrow down to the bad chunks
            for a in range(start, stop, chunk):
                try:
                    ds[a : min(stop, a + chunk)]
                    ok[a : min(stop, a + chunk)] = True
                except Exception:  # noqa: BLE001
                    continue
    return ok


def _read_rows(sf: Any, path: str, rows: np.ndarray) -> np.ndarray:
    """The committed rows of growing dataset ``path`` (its tail included) marked True
    (readable chunks only), read a chunk run at a time."""
    pieces = []
    offset = 0
    for ds, m in P.parts(sf._h5, path, sf._committed):
        mine = rows[offset : offset + m]
        edges = np.flatnonzero(np.diff(np.concatenate(([0], mine.view(np.int8), [0]))))
        for a, b in zip(edges[::2], edges[1::2], strict=True):
            for start in range(int(a), int(b), _READ_ROWS):
                pieces.append(ds[start : min(int(b), start + _READ_ROWS)])
        offset += m
    if not pieces:
        ds = sf._h5[path]
        return np.zeros((0, *ds.shape[1:]), dtype=ds.dtype)
    return np.concatenate(pieces)


def _salvageable_rows(sf: Any, g: h5py.Group, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``(keep, seq)`` for the first ``n`` rows of a stream: rows whose samples chunk (and
    bridge-counts chunk, when the stream stores counts) reads and whose sequence number is
    known, and every row's sequence number (-1 unknown). A damaged ``seq`` chunk is rebuilt
    from the block table (each block gives its first number and length), so it costs no
    samples."""
    samples_ok = _readable_mask(sf, g["samples"].name, n)
    if P.COUNTS_TO_UNITS in g.attrs:
        samples_ok &= _readable_mask(sf, g["counts"].name, n)
    seq_ok = _readable_mask(sf, g["seq"].name, n)
    seq = np.full(n, -1, dtype=np.int64)
    seq[seq_ok] = _read_rows(sf, g["seq"].name, seq_ok)
    known = seq_ok.copy()
    if not known.all():
        for b in _readable_table(sf, g["blocks"]):
            a, z = int(b["row"]), min(n, int(b["row"]) + int(b["n"]))
            if a >= z:
                continue
            fill = ~known[a:z]
            seq[a:z][fill] = int(b["seq"]) + np.flatnonzero(fill)
            known[a:z] = True
    return samples_ok & known, seq


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


def recover_session(
    src: str | os.PathLike, dst: str | os.PathLike, isolated: bool = False
) -> dict[str, Any]:
    """Write everything readable of ``src`` into a new, cleanly closed session ``dst``.

    Every chunk that reads is kept, also after a damaged one and from a file cut short; rows
    lost in damaged chunks become a gap (their count, time unknown).
    Trials left running are stopped at the end of the data; the copy records where it came
    from (root attributes ``recovered_from``, ``recovered_utc``, ``original_close_reason``).
    The copy is written to a temporary file beside ``dst`` (``.DST.recovering``) and appears
    under its name only when complete; ``src`` is never modified. With ``isolated=True`` the
    work runs in a child process, so a file that crashes the HDF5 library cannot end the caller.

    Returns
    -------
    dict
        The :func:`check_session` report of ``src``.

    Raises
    ------
    SessionFileError
        If ``src`` is not a readable session, ``dst`` exists or its folder does not, the disk
        has not room for the copy, or the copy cannot be written.
    """
    src, dst = Path(src), Path(dst)
    if os.path.lexists(dst):
        raise SessionFileError(f"{dst} already exists; forcelab never overwrites a session file")
    if not dst.parent.is_dir():
        raise SessionFileError(f"cannot create {dst}: folder {dst.parent} does not exist")
    if isolated:
        return _recover_in_child(src, dst)
    report = check_session(src)
    if report["status"] == "unreadable":
        raise SessionFileError(f"nothing to recover: {report['error']}")
    check_free_space(dst.parent, src.stat().st_size, f"the recovered copy of {src.name}")
    tmp = dst.with_name(f".{dst.name}.recovering")
    tmp.unlink(missing_ok=True)
    sf = _open_for_check(src)
    try:
        try:
            out = h5py.File(tmp, "x", libver=L.FILE_FORMAT)
        except OSError as exc:
            raise SessionFileError(f"cannot create {dst}: {_short(exc)}") from None
        try:
            _copy_session(sf, sf._h5, out, report)
            out.flush()
            out.close()
            publish_new(tmp, dst)
        except Exception as exc:  # noqa: BLE001
            try:
                out.close()
            except Exception:  # noqa: BLE001 - the user gets the original error
                pass
            tmp.unlink(missing_ok=True)
            if isinstance(exc, SessionFileError):
                raise
            raise SessionFileError(f"recovery into {dst} failed: {_short(exc)}") from None
    finally:
        sf.close()
    reserve = L.reserve_path(src)
    if reserve.exists() and L.writer_alive(src) is False:
        reserve.unlink()  # forcelab's own disk-full reserve, left by a crashed recorder
    return report


def _recover_in_child(src: Path, dst: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "forcelab.store.check", str(src), "--recover", str(dst)],
        capture_output=True, text=True,
    )
    try:
        answer = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.stdout.strip() else {}
    except ValueError:
        answer = {}
    if proc.returncode == 0 and "report" in answer:
        return answer["report"]
    dst.with_name(f".{dst.name}.recovering").unlink(missing_ok=True)
    if "error" in answer:
        raise SessionFileError(answer["error"])
    why = f"signal {-proc.returncode}" if proc.returncode < 0 else f"status {proc.returncode}"
    raise SessionFileError(
        f"recovery of {src} failed: the HDF5 library failed reading it ({why}); {dst} was not "
        "written"
    )


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
        g_in = h5["streams"][name]
        g_out = out["streams"].create_group(name)
        for k, v in g_in.attrs.items():
            g_out.attrs[k] = v
        rate = float(g_in.attrs["rate_hz"])
        n_in = int(info.get("n_samples", 0) or 0)
        keep, seq_all = _salvageable_rows(sf, g_in, n_in)
        samples = _read_rows(sf, g_in["samples"].name, keep)
        seq = seq_all[keep]
        n = len(seq)
        _new_dataset(g_in["samples"], g_out, "samples", samples)
        _new_dataset(g_in["seq"], g_out, "seq", seq)
        if P.COUNTS_TO_UNITS in g_in.attrs:
            _new_dataset(g_in["counts"], g_out, "counts",
                         _read_rows(sf, g_in["counts"].name, keep))
            paths.append(f"/streams/{name}/counts")
        blocks, gaps = _salvaged_tables(sf, g_in, keep, seq_all, rate)
        _new_dataset(g_in["blocks"], g_out, "blocks", blocks)
        _new_dataset(g_in["gaps"], g_out, "gaps", gaps)
        _new_dataset(g_in["link_stats"], g_out, "link_stats",
                     _readable_table(sf, g_in["link_stats"]))
        if n and len(blocks):
            b = blocks[-1]
            last_t = max(last_t, float(b["t_s"]) + (int(seq[-1]) - int(b["seq"])) / rate)
        paths += [f"/streams/{name}/{d}" for d in ("samples", "seq", *L.STREAM_TABLES)]
    for table in L.ROOT_TABLES:
        rows = _readable_table(sf, h5[table])
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
    # every other group (stored analyses, marker trajectories, ...) as it is, when readable;
    # the tails are not copied: every recovered row is in its dataset
    lost = []
    for name in h5:
        if name in out or name == P.TAIL_GROUP:
            continue
        try:
            h5.copy(h5[name], out, name)
        except Exception:  # noqa: BLE001 - damaged: the rest of the session is still rescued
            if name in out:
                del out[name]
            lost.append(name)
    if lost:
        out.attrs["not_recovered"] = lost
        report["not_recovered"] = lost


def _salvaged_tables(sf: Any, g: h5py.Group, keep: np.ndarray, seq: np.ndarray, rate: float
                     ) -> tuple[np.ndarray, np.ndarray]:
    """The block and gap tables of the rows kept by a recovery: blocks renumbered (and started
    at their first kept row), gaps renumbered, and one gap more for every run of rows lost in
    damaged chunks."""
    n = keep.size
    before = np.concatenate(([0], np.cumsum(keep)))  # kept rows before each original row
    blocks_in = _readable_table(sf, g["blocks"])
    blocks = []
    for b in blocks_in:
        a, z = int(b["row"]), min(n, int(b["row"]) + int(b["n"]))
        kept = np.flatnonzero(keep[a:z]) + a if a < z else []
        if len(kept) == 0:
            continue
        r0 = int(kept[0])
        shift = (int(seq[r0]) - int(b["seq"])) / rate
        blocks.append((int(before[r0]), int(seq[r0]), len(kept), float(b["t_s"]) + shift,
                       float(b["t_device_s"]) + shift, int(b["status"])))
    gaps = [(int(before[min(int(r["row"]), n)]), int(r["seq_start"]), int(r["n_missing"]),
             float(r["t_s"])) for r in _readable_table(sf, g["gaps"]) if int(r["row"]) <= n]
    lost = np.flatnonzero(np.diff(np.concatenate(([0], (~keep).view(np.int8), [0]))))
    for a, z in zip(lost[::2], lost[1::2], strict=True):
        gaps.append((int(before[a]), int(seq[a]), int(z - a), float("nan")))
    gaps.sort(key=lambda r: r[0])
    return np.array(blocks, dtype=L.BLOCK_DTYPE), np.array(gaps, dtype=L.GAP_DTYPE)


def _new_dataset(like: h5py.Dataset, group: h5py.Group, name: str, data: np.ndarray) -> None:
    """A dataset ``name`` holding ``data``, with the chunking and compression of ``like``."""
    group.create_dataset(
        name, data=data, maxshape=like.maxshape, chunks=like.chunks,
        compression=like.compression, compression_opts=like.compression_opts,
        shuffle=like.shuffle,
    )


def _readable_table(sf: Any, ds: h5py.Dataset) -> np.ndarray:
    """The committed rows of a table (its tail included) up to its first unreadable chunk."""
    pieces = []
    for part, m in P.parts(sf._h5, ds.name, sf._committed):
        n = _readable_rows(part, m)
        pieces.append(part[:n])
        if n < m:
            break
    return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


if __name__ == "__main__":  # the child process of check_session / recover_session(isolated)
    if len(sys.argv) == 4 and sys.argv[2] == "--recover":
        try:
            print(json.dumps({"report": recover_session(sys.argv[1], sys.argv[3])}))
        except SessionFileError as exc:
            print(json.dumps({"error": str(exc)}))
            sys.exit(2)
    else:
        print(json.dumps(check_session(sys.argv[1])))
