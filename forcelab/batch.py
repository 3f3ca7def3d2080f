"""Batch analysis: many sessions or recordings in parallel, one summary row per athlete × trial.

``forcelab analyze DIR_OR_FILES... --summary out.csv [--jobs N] [--dask tcp://host:8786]``
delegates here. Every file is analysed on its own (session files trial by trial, other
recordings as one trial) in a pool of worker processes (one per core by default) or on an
existing dask.distributed cluster. A file that cannot be read or analysed is listed at the end
and never stops the batch; the summary CSV holds every row that succeeded.

With ``save_results`` (``--save``) every session file gets its results written back (all trials
in one atomic step: a copy beside the file replaces it), tagged with what produced them
(:func:`results_key`: forcelab version, analysis options, body mass given). The batch is then
resumable: a session whose stored results match the current key for every trial is not
analysed again; its summary rows come from the stored results.

Summary columns (one row per athlete × trial; see docs/exports.md): file, athlete_id,
athlete_name, session_date, trial, speed_m_s, body_mass_kg, n_stances, n_left, n_right,
n_invalid, loading_rate_method, cadence and step time per side, then for every compared metric
``<metric>_left``, ``<metric>_right``, ``<metric>_si_pct``, ``<metric>_ci95_lo``,
``<metric>_ci95_hi`` and ``<metric>_higher``.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import multiprocessing
import os
import sys
import threading
import time
from collections.abc import Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import forcelab
from forcelab.analysis.result import AnalysisResult, loading_rate_method
from forcelab.errors import ForcelabError, InputError
from forcelab.interop.export_common import make_output_folder, session_date, write_atomic_text
from forcelab.interop.export_csv import csv_cell, neutralize
from forcelab.recording import checked_number, finite_or_none
from forcelab.sources import is_session_file, load_source
from forcelab.store import open_session, write_analyses

#: file name endings the batch picks up when given a folder
RECORDING_SUFFIXES = (".h5", ".hdf5", ".csv", ".tsv", ".txt", ".mot", ".sto", ".c3d")
#: metrics compared left vs right in the summary (missing ones stay empty)
SUMMARY_METRICS = (
    "midstance_peak_n", "midstance_peak_bw", "peak_force_n", "peak_force_bw",
    "impact_peak_n", "impact_peak_bw", "valr_n_s", "valr_bw_s", "vilr_n_s", "vilr_bw_s",
    "impulse_ns", "impulse_bw_s", "contact_time_s", "flight_time_s",
)
LEAD_COLUMNS = (
    "file", "athlete_id", "athlete_name", "session_date", "trial", "speed_m_s", "body_mass_kg",
    "n_stances", "n_left", "n_right", "n_invalid", "loading_rate_method",
    "cadence_spm_left", "cadence_spm_right", "step_time_s_left", "step_time_s_right",
)


def summary_columns() -> list[str]:
    """All columns of the summary CSV, in order."""
    cols = list(LEAD_COLUMNS)
    for m in SUMMARY_METRICS:
        cols += [f"{m}_left", f"{m}_right", f"{m}_si_pct", f"{m}_ci95_lo", f"{m}_ci95_hi",
                 f"{m}_higher"]
    return cols


@dataclass
class BatchFailure:
    """A file (or one trial of it) that could not be analysed."""

    path: str
    trial: str
    error: str

    def __str__(self) -> str:
        where = f"{self.path} [{self.trial}]" if self.trial else self.path
        return f"{where}: {self.error}"


@dataclass
class BatchResult:
    """What a batch produced.

    Attributes
    ----------
    rows : list of dict
        One summary row per athlete × trial (the CSV's content).
    failures : list of BatchFailure
    summary_csv : Path
    n_files : int
    elapsed_s : float
        Wall-clock time of the batch in s.
    jobs : int
        Worker processes used (0 on a dask cluster).
    n_skipped : int
        Session files not analysed again because their stored results are current.
    engine : str
        "serial", "processes" or "dask".
    extra : dict
        ``worker_cpu_s``: CPU seconds spent analysing, per worker process id (empty on dask).
    """

    rows: list[dict[str, Any]]
    failures: list[BatchFailure]
    summary_csv: Path
    n_files: int
    elapsed_s: float
    jobs: int
    engine: str
    extra: dict[str, Any] = field(default_factory=dict)
    n_skipped: int = 0

    @property
    def ok(self) -> bool:
        """True when every file was analysed."""
        return not self.failures


def expand_inputs(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Files to analyse: files as given, folders searched recursively for recordings.

    Raises
    ------
    InputError
        If nothing is given or nothing readable is found.
    FileNotFoundError
        If a named file or folder does not exist.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    given = list(paths)
    if not given:
        raise InputError("give at least one file or folder to analyse")
    for p in map(Path, given):
        if not p.exists():
            raise FileNotFoundError(2, "No such file or folder", str(p))
        found = sorted(f for f in p.rglob("*") if f.is_file()
                       and f.suffix.lower() in RECORDING_SUFFIXES
                       and not f.name.startswith(".")) if p.is_dir() else [p]
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    if not out:
        raise InputError(
            f"no recordings found in {', '.join(map(str, given))} (looked for "
            f"{', '.join(RECORDING_SUFFIXES)})"
        )
    return out


def _mean(summary_group: dict[str, Any], key: str) -> float | None:
    v = summary_group.get(key)
    return finite_or_none(v.get("mean") if isinstance(v, dict) else v)


def summary_row(file: str, athlete: dict[str, Any], session_date: str, trial: str,
                info: dict[str, Any], result: Any) -> dict[str, Any]:
    """The summary row of one analysed trial."""
    stances = list(result.stances)
    valid = [s for s in stances if s.get("valid", False)]
    summary = dict(result.summary or {})
    row: dict[str, Any] = {
        "file": file,
        "athlete_id": athlete.get("id") or "",
        "athlete_name": athlete.get("name") or "",
        "session_date": session_date,
        "trial": trial,
        "speed_m_s": finite_or_none(info.get("speed_m_s")),
        "body_mass_kg": finite_or_none(getattr(result, "body_mass_kg", None)),
        "n_stances": len(valid),
        "n_left": sum(1 for s in valid if s.get("side") == "left"),
        "n_right": sum(1 for s in valid if s.get("side") == "right"),
        "n_invalid": len(stances) - len(valid),
        "loading_rate_method": loading_rate_method(stances),
    }
    for side in ("left", "right"):
        group = summary.get(side) or {}
        row[f"cadence_spm_{side}"] = _mean(group, "cadence_spm")
        row[f"step_time_s_{side}"] = _mean(group, "step_time_s")
    asym = dict(result.asymmetry or {})
    for m in SUMMARY_METRICS:
        a = asym.get(m) or {}
        ci = a.get("ci95_pct") or (None, None)
        row[f"{m}_left"] = finite_or_none(a.get("left_mean"))
        row[f"{m}_right"] = finite_or_none(a.get("right_mean"))
        row[f"{m}_si_pct"] = finite_or_none(a.get("si_pct"))
        row[f"{m}_ci95_lo"] = finite_or_none(ci[0]) if len(ci) == 2 else None
        row[f"{m}_ci95_hi"] = finite_or_none(ci[1]) if len(ci) == 2 else None
        row[f"{m}_higher"] = a.get("higher") or ""
        if not a:  # sides unknown: report the per-side summary means that exist
            row[f"{m}_left"] = _mean(summary.get("left") or {}, m)
            row[f"{m}_right"] = _mean(summary.get("right") or {}, m)
    return row


def results_key(reader_options: dict[str, Any] | None,
                analysis_options: dict[str, Any] | None) -> dict[str, Any]:
    """What makes stored batch results current: the forcelab version that computed them, the
    analysis options and a body mass given instead of the file's (as stored, JSON)."""
    key = {"software_version": forcelab.__version__,
           "analysis_options": dict(analysis_options or {}),
           "body_mass_kg": (reader_options or {}).get("body_mass_kg")}
    return json.loads(json.dumps(key))


def _stored_rows(path: str, trial: str | None, key: dict[str, Any]
                 ) -> list[dict[str, Any]] | None:
    """Summary rows of a session file from its stored results when they are current for every
    trial (analysed by a batch with ``key``), else None."""
    if not is_session_file(path):
        return None
    with open_session(path) as sf:
        trials = [t for t in sf.trials if trial is None or t["name"] == trial]
        if not trials and trial is None:
            trials = [{"name": "session"}]
        stored = {}
        for a in sf.analyses:  # oldest first: the newest current result wins
            params = a["parameters"] or {}
            if params.get("batch_key") == key and a["result"] is not None:
                stored[params.get("trial")] = a["result"]
        if not trials or any(t["name"] not in stored for t in trials):
            return None
        athlete, date = dict(sf.athlete or {}), session_date({"created_utc": sf.created_utc})
    return [summary_row(str(path), athlete, date, t["name"], t,
                        AnalysisResult.from_dict(stored[t["name"]])) for t in trials]


def analyze_file(path: str, reader_options: dict[str, Any] | None = None,
                 analysis_options: dict[str, Any] | None = None, save_results: bool = False
                 ) -> tuple[list[dict[str, Any]], list[BatchFailure]]:
    """Analyse one file; never raises for a bad file (the failure is returned instead).

    Parameters
    ----------
    path : str
        Session file or recording.
    reader_options : dict, optional
        Options for non-session recordings; ``trial`` selects one trial of session files.
    analysis_options : dict, optional
        Options for ``analyze_recording``.
    save_results : bool
        Also store each trial's result in the session file (``forcelab.store.write_analyses``,
        with the trial name in the parameters). Plain recordings are never written to.

    Returns
    -------
    rows : list of dict
        One summary row per trial.
    failures : list of BatchFailure
    """
    rows, failures, _ = _analyze_one(path, reader_options, analysis_options, save_results)
    return rows, failures


def _analyze_one(path: str, reader_options: dict[str, Any] | None,
                 analysis_options: dict[str, Any] | None, save_results: bool
                 ) -> tuple[list[dict[str, Any]], list[BatchFailure], bool]:
    """:func:`analyze_file`, and whether the file was skipped (stored results current)."""
    opts = dict(reader_options or {})
    trial = opts.pop("trial", None)
    rows: list[dict[str, Any]] = []
    failures: list[BatchFailure] = []
    key = results_key(opts, analysis_options)
    try:
        if trial is not None and not is_session_file(path):
            trial = None  # the trial option only applies to session files
        if save_results:
            stored = _stored_rows(path, trial, key)
            if stored is not None:
                return stored, [], True
        source = load_source(path, trial=trial, reader_options=opts, lenient=True)
    except Exception as exc:  # noqa: BLE001 - any failure of one file is reported, not raised
        return rows, [BatchFailure(str(path), "", _describe(exc))], False
    to_save = []
    for t in source.trials:
        try:
            result = t.analysis(analysis_options)
            rows.append(summary_row(str(path), source.athlete, source.date, t.name, t.info,
                                    result))
        except Exception as exc:  # noqa: BLE001
            failures.append(BatchFailure(str(path), t.name, _describe(exc)))
            continue
        params = {**dict(getattr(result, "parameters", {}) or {}), "trial": t.name,
                  "batch": True, "batch_key": key}
        to_save.append((t.name, result.to_dict(), params))
    if save_results and source.kind == "session" and to_save:
        try:  # every trial's result in one atomic write
            write_analyses(path, [(r, p) for _, r, p in to_save])
        except Exception as exc:  # noqa: BLE001
            failures += [BatchFailure(str(path), name, f"analysed, but not saved: "
                                      f"{_describe(exc)}") for name, _, _ in to_save]
    return rows, failures, False


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, ForcelabError) and text:
        return text
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.strerror or type(exc).__name__}: {exc.filename}"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _analyze_chunk(paths: list[str], reader_options: dict[str, Any] | None,
                   analysis_options: dict[str, Any] | None, save_results: bool = False
                   ) -> tuple[int, float, list[tuple[str, list[dict[str, Any]],
                                                     list[BatchFailure], bool]]]:
    """Analyse a few files in a worker; also returns the worker's pid and CPU time spent (s)."""
    c0 = time.process_time()
    out = [(p, *_analyze_one(p, reader_options, analysis_options, save_results))
           for p in paths]
    return os.getpid(), time.process_time() - c0, out


class Progress:
    """A one-line progress bar on stderr (redrawn in place on a terminal, every 10 % else)."""

    def __init__(self, total: int, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.total = total
        self.done = 0
        self.failed = 0
        self.skipped = 0
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self._last_draw = 0.0
        self._last_decile = -1
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())

    def update(self, n: int = 1, failed: int = 0, skipped: int = 0) -> None:
        """Count ``n`` finished files, ``failed`` of them with failures, ``skipped`` of them not
        analysed again (stored results current)."""
        self.done += n
        self.failed += failed
        self.skipped += skipped
        if not self.enabled:
            return
        now = time.perf_counter()
        decile = (10 * self.done) // max(self.total, 1)
        if self._tty and (now - self._last_draw > 0.1 or self.done == self.total):
            self._draw("\r", "")
            self._last_draw = now
        elif not self._tty and decile != self._last_decile:
            self._draw("", "\n")
            self._last_decile = decile

    def _draw(self, prefix: str, suffix: str) -> None:
        width = 30
        filled = int(width * self.done / max(self.total, 1))
        bar = "#" * filled + "-" * (width - filled)
        elapsed = time.perf_counter() - self.t0
        fail = f", {self.failed} failed" if self.failed else ""
        skip = f", {self.skipped} current" if self.skipped else ""
        rate = f" {self.done / elapsed:6.1f} files/s" if elapsed > 0 else ""
        self.stream.write(f"{prefix}[{bar}] {self.done}/{self.total} files{fail}{skip} "
                          f"{elapsed:5.1f} s{rate}{suffix}")
        self.stream.flush()

    def close(self) -> None:
        """End the bar's line."""
        if self.enabled and self._tty:
            self.stream.write("\n")
            self.stream.flush()


def default_jobs() -> int:
    """Cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _check_jobs(jobs: Any) -> int | None:
    if jobs is None:
        return None
    message = "jobs must be a whole number of processes >= 1, got {got}"
    return checked_number(jobs, lambda value: value >= 1 and value == float(jobs), message, message,
                          convert=int)


_PRELOAD = ("forcelab.store", "forcelab.analysis", "forcelab.interop",
            "forcelab.interop.export_common", "forcelab.report.content")


def _pool_context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    # fork: instant workers that share the modules already imported here; only safe while this
    # process runs a single thread (forking a multi-threaded process can deadlock)
    if "fork" in methods and threading.active_count() == 1:
        for name in _PRELOAD:
            importlib.import_module(name)
        return multiprocessing.get_context("fork")
    # forkserver: workers fork from a clean server process (no threads of the caller, such as
    # the console's Qt threads, are copied), with the heavy modules already imported
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["forcelab.batch", *_PRELOAD])
        return ctx
    return multiprocessing.get_context("spawn")


def run_batch(
    paths: Iterable[str | os.PathLike],
    summary_csv: str | os.PathLike,
    jobs: int | None = None,
    dask_address: str | None = None,
    reader_options: dict[str, Any] | None = None,
    progress: bool = True,
    *,
    analysis_options: dict[str, Any] | None = None,
    overwrite: bool = True,
    progress_stream: TextIO | None = None,
    connect_timeout_s: float = 10.0,
    save_results: bool = False,
) -> BatchResult:
    """Analyse many files in parallel and write one summary row per athlete × trial.

    Parameters
    ----------
    paths : iterable of str or path-like
        Files and/or folders (searched recursively for recordings).
    summary_csv : str or path-like
        The summary CSV to write.
    jobs : int, optional
        Worker processes (default: one per available core; 1 = in this process).
    dask_address : str, optional
        Address of a dask.distributed scheduler (``tcp://host:8786``); the files are then
        analysed on that cluster (its workers must have forcelab installed and see the files).
    reader_options : dict, optional
        Options for non-session recordings (and ``trial`` for session files).
    progress : bool
        Show a progress bar on stderr and list failures at the end.
    analysis_options : dict, optional
        Options for ``analyze_recording``.
    overwrite : bool
        Replace an existing summary CSV (default True: a batch is re-run often).
    progress_stream : file-like, optional
        Where progress and failures go (default stderr).
    connect_timeout_s : float
        How long to try reaching the dask scheduler, in s.
    save_results : bool
        Also store every trial's result in its session file (atomically, see
        :func:`analyze_file`) and skip session files whose stored results are current
        (:func:`results_key`): a batch that was interrupted goes on where it stopped.

    Returns
    -------
    BatchResult

    Raises
    ------
    InputError
        For nonsense arguments (jobs < 1, an existing summary when overwrite is False, nothing
        to analyse, dask not installed).
    """
    files = expand_inputs(paths)
    jobs = _check_jobs(jobs)
    summary_csv = Path(summary_csv)
    if summary_csv.exists() and (summary_csv.is_dir() or not overwrite):
        raise InputError(f"{summary_csv} already exists; remove it or pick another `summary_csv`")
    if summary_csv.suffix.lower() not in (".csv", ".txt", ".tsv", ""):
        raise InputError(f"the summary is a CSV file; got {summary_csv.name!r}")
    make_output_folder(summary_csv.parent)
    bar = Progress(len(files), progress_stream, enabled=progress)
    t0 = time.perf_counter()
    results: dict[str, tuple[list[dict[str, Any]], list[BatchFailure]]] = {}
    skipped: set[str] = set()
    str_files = [str(f) for f in files]
    worker_cpu: dict[int, float] = {}
    if dask_address:
        engine, used_jobs = "dask", 0
        _run_dask(str_files, dask_address, reader_options, analysis_options, bar, results,
                  skipped, connect_timeout_s, save_results)
    else:
        used_jobs = min(jobs or default_jobs(), len(files))
        if used_jobs <= 1:
            engine = "serial"
            c0 = time.process_time()
            for f in str_files:
                rows, fails, skip = _analyze_one(f, reader_options, analysis_options,
                                                 save_results)
                _done(f, rows, fails, skip, results, skipped, bar)
            worker_cpu[os.getpid()] = time.process_time() - c0
        else:
            engine = "processes"
            _run_pool(str_files, used_jobs, reader_options, analysis_options, bar, results,
                      skipped, worker_cpu, save_results)
    bar.close()
    rows: list[dict[str, Any]] = []
    failures: list[BatchFailure] = []
    for f in str_files:  # keep the input order, whatever order the workers finished in
        r, fl = results.get(f, ([], [BatchFailure(f, "", "not analysed (worker lost)")]))
        rows += r
        failures += fl
    rows.sort(key=lambda r: (str(r["athlete_id"]), str(r["session_date"])))
    write_summary(summary_csv, rows)
    elapsed = time.perf_counter() - t0
    result = BatchResult(rows, failures, summary_csv, len(files), elapsed, used_jobs, engine,
                         {"worker_cpu_s": worker_cpu}, len(skipped))
    if progress:
        stream = progress_stream or sys.stderr
        current = f" ({len(skipped)} with current stored results)" if skipped else ""
        stream.write(f"{len(rows)} trials from {len(files) - len({f.path for f in failures})} "
                     f"of {len(files)} files{current} in {elapsed:.1f} s -> {summary_csv}\n")
        if failures:
            stream.write(f"{len(failures)} failed:\n")
            for fl in failures:
                stream.write(f"  {fl}\n")
        stream.flush()
    return result


def _done(f: str, rows: list[dict[str, Any]], fails: list[BatchFailure], skip: bool,
          results: dict[str, tuple[list[dict[str, Any]], list[BatchFailure]]],
          skipped: set[str], bar: Progress) -> None:
    results[f] = (rows, fails)
    if skip:
        skipped.add(f)
    bar.update(1, 1 if fails else 0, 1 if skip else 0)


def _run_pool(files: list[str], jobs: int, reader_options: dict[str, Any] | None,
              analysis_options: dict[str, Any] | None, bar: Progress,
              results: dict[str, tuple[list[dict[str, Any]], list[BatchFailure]]],
              skipped: set[str], worker_cpu: dict[int, float],
              save_results: bool = False) -> None:
    # small chunks keep both workers busy to the end while amortising the task overhead
    size = max(1, min(8, len(files) // (jobs * 8)))
    chunks = [files[i:i + size] for i in range(0, len(files), size)]
    with ProcessPoolExecutor(max_workers=jobs, mp_context=_pool_context()) as pool:
        pending = {pool.submit(_analyze_chunk, c, reader_options, analysis_options,
                               save_results): c
                   for c in chunks}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in done:
                chunk = pending.pop(fut)
                try:
                    pid, cpu, out = fut.result()
                    worker_cpu[pid] = worker_cpu.get(pid, 0.0) + cpu
                except Exception as exc:  # noqa: BLE001 - a crashed worker fails its files only
                    out = [(f, [], [BatchFailure(f, "", f"worker failed: {_describe(exc)}")],
                            False) for f in chunk]
                for f, rows, fails, skip in out:
                    _done(f, rows, fails, skip, results, skipped, bar)


def _run_dask(files: list[str], address: str, reader_options: dict[str, Any] | None,
              analysis_options: dict[str, Any] | None, bar: Progress,
              results: dict[str, tuple[list[dict[str, Any]], list[BatchFailure]]],
              skipped: set[str], timeout_s: float, save_results: bool = False) -> None:
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise InputError(
            "`dask_address` needs dask.distributed: pip install 'forcelab[dask]' (or "
            "dask[distributed])"
        ) from None
    try:
        client = Client(address, timeout=timeout_s, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise InputError(f"cannot reach the dask scheduler at {address}: {exc}") from None
    with client:
        futures = client.map(_analyze_one, files, reader_options=reader_options,
                             analysis_options=analysis_options, save_results=save_results,
                             pure=False)
        by_future = dict(zip(futures, files, strict=True))
        for fut in as_completed(futures, loop=client.loop):
            f = by_future[fut]
            try:
                rows, fails, skip = fut.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker fails its file only
                rows, fails, skip = [], [BatchFailure(f, "", f"dask worker failed: "
                                                      f"{_describe(exc)}")], False
            _done(f, rows, fails, skip, results, skipped, bar)


def write_summary(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write the summary CSV (text cells neutralised against spreadsheet formulas)."""
    cols = summary_columns()
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([neutralize(c) for c in cols])
    for r in rows:
        w.writerow([csv_cell(r.get(c)) for c in cols])
    write_atomic_text(path, buf.getvalue())
