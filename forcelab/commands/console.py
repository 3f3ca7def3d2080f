"""``forcelab console``: the PyQt5 operator console (live plots, trials, asymmetry, review)."""

from __future__ import annotations

import argparse

HELP = "Open the operator console window (devices, athlete, trials, live asymmetry, review)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the console's options."""
    parser.add_argument(
        "--device", action="append", default=[], metavar="DEV",
        help="device string to connect at start (repeatable), e.g. sim:treadmill, "
             "fpb1:///dev/ttyACM0; without it the built-in simulator is offered",
    )
    parser.add_argument(
        "--output-dir", metavar="DIR", default=None,
        help="folder where session files are created (remembered for next time)",
    )
    parser.add_argument(
        "--review", metavar="FILE.h5", default=None,
        help="open this session file in the Review tab",
    )


def run(args: argparse.Namespace) -> int:
    """Open the console window and run the Qt event loop until it is closed."""
    from forcelab.console.app import run_console

    return run_console(
        devices=list(args.device),
        output_dir=args.output_dir,
        review=args.review,
    )
