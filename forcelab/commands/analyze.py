"""``forcelab analyze``: stances, loading metrics and left/right asymmetry of a recording.

One file: ``forcelab analyze FILE [reader options] [--json] [--save]`` prints the tables per side
and the coach's asymmetry lines (or, with ``--json``, one JSON object with ``stances``,
``summary``, ``asymmetry``, ``parameters``). ``--save`` stores the results in a forcelab
session file. Several files or folders: ``--summary OUT.csv [--jobs N] [--dask ADDRESS]
[--save]`` runs the batch analysis of ``forcelab.batch`` (exit status 1 when some files failed;
they are listed on stderr); with ``--save`` the results go back into the session files and a
re-run skips files whose stored results are current.
"""

from __future__ import annotations

import argparse

from forcelab.commands._reader_options import TypedStream, add_reader_arguments, as_typed

HELP = "Analyse a recording: stances, loading metrics and left/right asymmetry."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``forcelab analyze``."""
    parser.add_argument(
        "paths", nargs="+", metavar="FILE",
        help="recording: CSV/TSV, OpenSim .mot/.sto, C3D, Moticon OpenGo .txt or session .h5 "
             "(several files or folders with --summary)",
    )
    add_reader_arguments(parser)
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true",
                     help="print one JSON object (stances, summary, asymmetry, parameters)")
    out.add_argument("--save", action="store_true",
                     help="store the results in the session file (forcelab .h5 files only); "
                          "with --summary: in every session file, and skip files whose stored "
                          "results are current (resume)")
    out.add_argument("--bands", metavar="FILE.json",
                     help="the lab's own asymmetry bands per metric (default: the published "
                          "bands of healthy runners)")
    out.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                     help="analysis option, e.g. min_contact_s=0.08 (repeatable; see "
                          "docs for the names)")
    pelvis = parser.add_argument_group("pelvis markers (C3D or sessions with /motion)")
    pelvis.add_argument("--static", metavar="FILE_OR_TRIAL",
                        help="static standing trial whose mean pelvic obliquity is the neutral: a "
                             "recording with markers, or the name of a trial of this session")
    pelvis.add_argument("--marker-vertical", choices=("x", "y", "z"),
                        help="the markers' upward lab axis, when the file does not say")
    batch = parser.add_argument_group("several files")
    batch.add_argument("--summary", metavar="OUT.csv",
                       help="analyse every file (folders: all recordings in them) into one CSV")
    batch.add_argument("--force", action="store_true",
                       help="replace an existing --summary CSV (never one of the inputs)")
    batch.add_argument("--jobs", metavar="N", help="parallel processes for --summary")
    batch.add_argument("--dask", metavar="ADDRESS",
                       help="run --summary on a dask.distributed scheduler at ADDRESS")


def analysis_options(items: list[str]) -> dict | None:
    """Parse repeated ``--option KEY=VALUE`` into a dict (numbers as float).

    Raises
    ------
    forcelab.errors.InputError
        If an item has no ``=`` or an empty key.
    """
    from forcelab.errors import InputError

    options: dict = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--option {item!r}: write it as KEY=VALUE, e.g. min_contact_s=0.08")
        value = value.strip()
        try:
            options[key] = float(value)
        except ValueError:
            options[key] = value
    return options or None


def run(args: argparse.Namespace) -> int:
    """Run ``forcelab analyze``; returns the exit status."""
    from pathlib import Path

    from forcelab.commands._reader_options import reader_options
    from forcelab.errors import InputError

    opts = reader_options(args)
    paths = [Path(p) for p in args.paths]
    if args.summary is not None:
        if args.json:
            raise InputError("--json applies to one file; --summary writes one CSV")
        return _run_batch(args, paths, opts)
    if args.jobs is not None or args.dask is not None or args.force:
        raise InputError("--jobs, --dask and --force apply to --summary OUT.csv (several files)")
    if len(paths) > 1:
        raise InputError(f"{len(paths)} files given: analyse several files with --summary OUT.csv")
    path = paths[0]
    if path.is_dir():
        raise InputError(f"{path} is a folder: analyse folders with --summary OUT.csv")
    return _run_one(args, path, opts)


def _run_one(args: argparse.Namespace, path, opts: dict) -> int:
    import json
    import sys

    from forcelab.errors import InputError
    from forcelab.interop import detect_format, load_recording, reader_notes
    from forcelab.interop.export_common import json_safe

    if args.save and detect_format(path) != "session":
        raise InputError(
            f"--save stores results in forcelab session files (.h5); {path} is not one"
        )
    recording = load_recording(path, **opts)
    from forcelab.analysis import analyze_recording

    options = analysis_options(args.option) or {}
    options.update(_pelvis_options(args, path, opts))
    if args.bands:
        from forcelab.commands._bands import load_bands

        options["bands"] = load_bands(args.bands)
    result = analyze_recording(recording, options or None)
    for note in reader_notes(recording):
        print(f"forcelab analyze: note: {as_typed(note)}", file=sys.stderr)
    if args.save:
        _save(path, result)
    if args.json:
        print(json.dumps(json_safe(result.to_dict()), allow_nan=False, indent=1))
    else:
        print(result.format_text())
    return 0


def _save(path, result) -> None:
    """Store the result in the session without ever leaving it half-written
    (:func:`forcelab.store.write_analysis`: one copy beside the session gets the result and
    replaces it; a full disk leaves the session as it was)."""
    import sys

    from forcelab.store import write_analysis

    write_analysis(path, result.to_dict(), result.parameters)
    print(f"analysis saved in {path}", file=sys.stderr)


def _pelvis_options(args: argparse.Namespace, path, opts: dict) -> dict:
    """Analysis options from --static and --marker-vertical."""
    from pathlib import Path

    from forcelab.errors import InputError
    from forcelab.interop import detect_format, load_recording

    out: dict = {}
    if args.marker_vertical:
        out["vertical_axis"] = "xyz".index(args.marker_vertical)
    if args.static:
        static = Path(args.static)
        if static.is_file():
            source = load_recording(static)
        elif detect_format(path) == "session":
            source = load_recording(path, trial=args.static)
        else:
            raise InputError(f"--static {args.static!r}: no such file")
        if source.trajectories is None:
            raise InputError(f"--static {args.static!r} holds no marker trajectories")
        out["static"] = source.trajectories
    return out


def _run_batch(args: argparse.Namespace, paths: list, opts: dict) -> int:
    import sys
    from pathlib import Path

    from forcelab.errors import InputError

    jobs = None
    if args.jobs is not None:
        try:
            jobs = int(args.jobs)
        except ValueError:
            jobs = 0
        if jobs < 1:
            raise InputError(f"--jobs must be a whole number of processes >= 1, got {args.jobs!r}")
    for p in paths:
        if not p.exists():
            raise FileNotFoundError(2, "No such file or directory", str(p))
    summary = Path(args.summary)
    if not summary.parent.is_dir():
        raise InputError(f"folder {summary.parent} does not exist; create it or choose another "
                         "--summary")
    if summary.is_dir():
        raise InputError(f"{summary} is a folder; --summary names the CSV file to write")
    if summary.exists():
        if any(summary.resolve() == p.resolve() for p in paths):
            raise InputError(f"{summary} is one of the files to analyse; pick another --summary")
        if not args.force:
            raise InputError(f"{summary} already exists; remove it, pick another --summary, "
                             "or use --force")
    try:
        from forcelab.batch import run_batch
    except ImportError:
        raise InputError(
            "batch analysis (--summary) is not available in this installation of forcelab"
        ) from None
    result = run_batch([str(p) for p in paths], summary_csv=args.summary, jobs=jobs,
                       dask_address=args.dask, reader_options=opts, overwrite=args.force,
                       analysis_options=analysis_options(args.option), save_results=args.save,
                       progress_stream=TypedStream(sys.stderr))
    failures = getattr(result, "failures", [])
    n_files = getattr(result, "n_files", len(paths))
    print(f"{n_files} file(s) analysed, {len(failures)} failed; summary written to "
          f"{args.summary}", file=sys.stderr)
    return 1 if failures else 0
