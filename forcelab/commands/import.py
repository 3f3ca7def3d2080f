"""``forcelab import SRC -o OUT.h5``: turn any readable recording into a forcelab session file.

The source is read with the same readers and reader options as ``forcelab analyze`` (CSV/TSV,
OpenSim .mot/.sto, C3D, Moticon OpenGo, another session); each stream becomes a session stream
(protocol "import", float64 samples, times kept) and one trial spans the recording.
"""

from __future__ import annotations

import argparse

from forcelab.commands._reader_options import add_reader_arguments

HELP = "Turn a recording (CSV, .mot, C3D, insole export) into a forcelab session file."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``forcelab import``."""
    parser.add_argument("source", metavar="SRC", help="recording file to import")
    parser.add_argument("-o", "--output", required=True, metavar="OUT.h5",
                        help="session file to create (never overwritten)")
    add_reader_arguments(parser)
    session = parser.add_argument_group("session")
    session.add_argument("--athlete", metavar="NAME", default="", help="athlete name")
    session.add_argument("--athlete-id", metavar="ID", default="", help="athlete id / code")
    session.add_argument("--operator", metavar="NAME", default="", help="who imports")
    session.add_argument("--notes", metavar="TEXT", default="", help="session notes")
    session.add_argument("--trial-name", metavar="NAME",
                         help="name of the trial spanning the recording (default: file name)")


def run(args: argparse.Namespace) -> int:
    """Run ``forcelab import``; returns the exit status."""
    from pathlib import Path

    from forcelab.commands._reader_options import reader_options
    from forcelab.errors import InputError
    from forcelab.interop import load_recording
    from forcelab.store import write_recording

    out = Path(args.output)
    if out.exists():
        raise InputError(f"{out} already exists; forcelab never overwrites a session file")
    if out.suffix.lower() not in (".h5", ".hdf5"):
        raise InputError(f"session files end in .h5; got {out.name!r}")
    if not out.parent.is_dir():
        raise InputError(f"folder {out.parent} does not exist; create it or choose another -o")
    recording = load_recording(Path(args.source), **reader_options(args))
    if not recording.streams:
        raise InputError(f"{args.source} holds no force stream to import")
    athlete = {"name": args.athlete, "id": args.athlete_id}
    if recording.body_mass_kg is not None:
        athlete["body_mass_kg"] = recording.body_mass_kg
        athlete["body_mass_method"] = (
            "entered" if args.body_mass is not None else f"from {Path(args.source).name}"
        )
    write_recording(
        recording, out, athlete=athlete, operator=args.operator, notes=args.notes,
        trial=args.trial_name,
    )
    for s in recording.streams:
        side = f", {s.side}" if s.side else ""
        print(f"  {s.name}: {s.n_samples} samples at {s.rate_hz:g} Hz{side}, "
              f"channels {', '.join(s.channels)}")
    print(f"imported {len(recording.streams)} stream(s) from {args.source} into {out}")
    return 0
