"""``forcelab report``: a one-page coach report (HTML or PDF) from sessions or recordings."""

from __future__ import annotations

import argparse

from forcelab.commands._reader_options import add_reader_arguments, reader_options

HELP = "Coach report (HTML or PDF): stance curves, stride peaks, left/right asymmetry, trends."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the command's arguments."""
    parser.add_argument("paths", nargs="+", metavar="FILE",
                        help="session file(s) or recording(s); several sessions of one athlete "
                             "add a trend across sessions")
    parser.add_argument("-o", "--output", required=True, metavar="OUT",
                        help="report file ending in .html (self-contained) or .pdf")
    parser.add_argument("--bands", metavar="FILE.json",
                        help="the lab's own asymmetry bands per metric (default: the published "
                             "bands of healthy runners)")
    parser.add_argument("--anonymize", action="store_true",
                        help="show a pseudonym instead of the athlete's name and id, drop notes")
    parser.add_argument("--force", action="store_true", help="replace an existing report")
    add_reader_arguments(parser)


def run(args: argparse.Namespace) -> int:
    """Build and write the report; prints its path."""
    from pathlib import Path

    from forcelab.commands._bands import load_bands
    from forcelab.errors import InputError
    from forcelab.report.render import write_report

    folder = Path(args.output).parent
    if not folder.is_dir():
        raise InputError(f"folder {folder} does not exist; create it or choose another -o")

    options = reader_options(args, omit=("trial",))
    bands = load_bands(args.bands) if args.bands else None
    out = write_report(args.paths, args.output, overwrite=args.force, reader_options=options,
                       trial=getattr(args, "trial", None), bands=bands, anonymize=args.anonymize)
    print(out)
    return 0
