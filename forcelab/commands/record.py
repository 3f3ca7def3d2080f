"""``forcelab record``: record devices into a session file without a GUI."""

from __future__ import annotations

import argparse

HELP = "Record devices into a new session file (headless), with live per-side figures."


def add_session_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options every headless recording takes (record, feedback): devices,
    athlete, output file, taring and weighing, progress."""
    parser.add_argument(
        "--device",
        "-d",
        action="append",
        required=True,
        metavar="DEV",
        help="device string, repeatable: fpb1:///dev/ttyACM0, ins1:///dev/rfcomm0, "
        "csv4:///dev/ttyUSB0?baud=115200, lsl:NAME (a Lab Streaming Layer stream), or a "
        "simulated setup such as sim:treadmill",
    )
    parser.add_argument("--athlete", required=True, metavar="NAME", help="athlete name")
    parser.add_argument("--athlete-id", default="", metavar="ID", help="athlete id (optional)")
    parser.add_argument(
        "--body-mass", type=float, metavar="KG", help="body mass in kg (figures in body weights)"
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE.h5",
        help="new session file (never overwritten)",
    )
    parser.add_argument("--operator", default="", help="who runs the session")
    parser.add_argument("--notes", default="", help="free notes stored in the file")
    parser.add_argument(
        "--tare", action="store_true", help="zero the devices first (nothing may stand on them)"
    )
    parser.add_argument(
        "--weigh",
        type=float,
        default=0.0,
        metavar="S",
        help="measure body mass from S seconds of quiet standing before recording (instead of "
        "--body-mass; with --tare the athlete steps on after zeroing)",
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        metavar="S",
        help="seconds between progress lines (0: none; default 1)",
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``forcelab record``."""
    add_session_arguments(parser)
    parser.add_argument(
        "--duration", type=float, required=True, metavar="S", help="recording length in seconds"
    )
    parser.add_argument("--trial", metavar="NAME", help='trial name (default "trial 1")')
    parser.add_argument(
        "--tag", action="append", default=[], metavar="T", help="trial tag, repeatable"
    )
    parser.add_argument(
        "--lsl-outlet",
        action="store_true",
        help="also publish every recorded stream as an LSL outlet (forcelab-<stream>, type "
        "Force) and stances and markers on forcelab-markers (needs forcelab[lsl])",
    )
    parser.epilog = (
        "Stops at the end of --duration or on Ctrl-C; the file is always finalised. "
        "Exit status: 0 recorded, 1 recorded but a device or the disk failed during the "
        "recording (the file keeps everything before the failure), 2 nothing recorded "
        "(bad option, device not found, file exists)."
    )


def _hangup_stops_like_sigterm() -> None:
    """A closed terminal (SIGHUP) stops the recording as SIGTERM does: the file is finalised."""
    import os
    import signal

    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: os.kill(os.getpid(), signal.SIGTERM))


def check_session_arguments(args: argparse.Namespace) -> dict:
    """Check the options of :func:`add_session_arguments` (before anything is opened) and
    return the athlete dict; also makes a closed terminal stop the recording cleanly.

    Raises
    ------
    InputError, SessionFileError
        On a bad option or an output file that exists.
    """
    from forcelab.acquisition.headless import check_new_file
    from forcelab.errors import InputError
    from forcelab.recording import check_body_mass

    body_mass_kg = check_body_mass(args.body_mass)
    if not args.athlete.strip():
        raise InputError("--athlete needs a name")
    if not args.interval >= 0:
        raise InputError(f"--interval must be 0 or a positive number of s, got {args.interval}")
    if args.weigh and not 0.5 <= args.weigh <= 60:
        raise InputError(f"--weigh must be 0.5 to 60 s of quiet standing, got {args.weigh}")
    if args.weigh and body_mass_kg is not None:
        raise InputError("give either --body-mass or --weigh, not both")
    check_new_file(args.output)
    _hangup_stops_like_sigterm()
    athlete = {"name": args.athlete.strip(), "id": args.athlete_id}
    if body_mass_kg is not None:
        athlete.update(body_mass_kg=body_mass_kg, body_mass_method="entered")
    return athlete


def print_summary(summary: dict, command: str = "record") -> None:
    """Print the end of a headless recording: file, samples per stream, live figures, and
    the first error (to stderr)."""
    import sys

    from forcelab.acquisition.headless import format_live_summary

    print(
        f"saved {summary['path']} ({summary['duration_s']:.1f} s"
        + (f", stopped by {summary['interrupted']}" if summary["interrupted"] else "")
        + ")"
    )
    for name, s in summary["streams"].items():
        lost = s["dropped_samples"] + s["overflow_writer_samples"] + s["samples_unwritten"]
        print(f"  {name:<14} {s['samples_recorded']:9d} samples recorded, {lost} missing")
    text = format_live_summary(summary.get("live") or {})
    if text:
        print(text)
    if summary.get("errors"):
        first = summary["errors"][0]
        more = len(summary["errors"]) - 1
        print(
            f"forcelab {command}: error during recording: {first}"
            + (f" (and {more} more)" if more else "")
            + "; the file keeps everything recorded",
            file=sys.stderr,
        )


def run(args: argparse.Namespace) -> int:
    """Record; returns the exit status."""
    from forcelab.acquisition.headless import check_duration, record_headless

    duration_s = check_duration(args.duration)
    athlete = check_session_arguments(args)
    controller = None
    if args.lsl_outlet:
        from forcelab.acquisition import SessionController
        from forcelab.acquisition.lsl_outlet import outlet_writer_factory

        controller = SessionController(session_writer_factory=outlet_writer_factory())
    summary = record_headless(
        args.device,
        args.output,
        duration_s,
        athlete=athlete,
        trial=args.trial,
        tags=args.tag,
        operator=args.operator,
        notes=args.notes,
        tare=args.tare,
        weigh_s=args.weigh,
        interval_s=args.interval,
        controller=controller,
    )
    print_summary(summary)
    return 1 if summary.get("errors") else 0
