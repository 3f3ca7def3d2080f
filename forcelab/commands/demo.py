"""``forcelab demo``: the main job on a simulated instrumented treadmill, end to end.

Starts the built-in simulated treadmill (two FPB1 plates, one per belt, with a known left/right
asymmetry of mid-stance peak loading) behind real pseudo-terminals, records it through the real
drivers, recorder and session store, analyses the file and prints the coach's summary together
with the simulated and the recovered asymmetry.
"""

from __future__ import annotations

import argparse

HELP = "Record and analyse a simulated treadmill run with a known asymmetry (the main job)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``forcelab demo``."""
    parser.add_argument(
        "--duration", type=float, default=60.0, metavar="S", help="seconds to record (default 60)"
    )
    parser.add_argument(
        "--asymmetry",
        type=float,
        default=-0.08,
        metavar="SI",
        help="simulated symmetry index of mid-stance peak loading, (R-L)/((R+L)/2) as a "
        "fraction: -0.08 (default) = the left side loads 8 %% more",
    )
    parser.add_argument(
        "--speed", type=float, default=3.5, metavar="M_S", help="belt speed in m/s (default 3.5)"
    )
    parser.add_argument(
        "--body-mass", type=float, default=70.0, metavar="KG", help="simulated runner (default 70)"
    )
    parser.add_argument("--seed", type=int, default=1, help="simulator seed (default 1)")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE.h5",
        help="session file to create (default: forcelab-demo-DATE-TIME.h5 in the current "
        "folder, or the temp folder when that is not writable; never overwritten)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress lines while recording")


def default_output_path() -> str:
    """A new file name in the current folder (or the temp folder), never an existing one."""
    import os
    import tempfile
    import time

    folder = os.getcwd()
    if not os.access(folder, os.W_OK):
        folder = tempfile.gettempdir()
    stem = time.strftime("forcelab-demo-%Y%m%d-%H%M%S")
    path = os.path.join(folder, stem + ".h5")
    k = 2
    while os.path.lexists(path):
        path = os.path.join(folder, f"{stem}-{k}.h5")
        k += 1
    return path


def run(args: argparse.Namespace) -> int:
    """Run the demo; returns 0 when the recovered asymmetry matches the simulated one."""
    import math

    from forcelab.acquisition.headless import check_duration, check_new_file
    from forcelab.commands._demo_session import run_demo
    from forcelab.errors import InputError
    from forcelab.recording import check_body_mass

    duration_s = check_duration(args.duration)
    if not (math.isfinite(args.asymmetry) and -0.5 <= args.asymmetry <= 0.5):
        raise InputError(
            f"--asymmetry is a fraction between -0.5 and 0.5 (e.g. -0.08 = the left loads 8 % "
            f"more), got {args.asymmetry}"
        )
    if not (math.isfinite(args.speed) and 1.0 <= args.speed <= 8.0):
        raise InputError(f"--speed must be a running speed of 1 to 8 m/s, got {args.speed}")
    body_mass_kg = check_body_mass(args.body_mass)
    if not 10 <= body_mass_kg <= 300:
        raise InputError(f"--body-mass must be 10 to 300 kg, got {args.body_mass}")
    path = check_new_file(args.output) if args.output else default_output_path()
    outcome = run_demo(
        path,
        duration_s=duration_s,
        asymmetry=args.asymmetry,
        speed_m_s=args.speed,
        body_mass_kg=body_mass_kg,
        seed=args.seed,
        progress=not args.quiet,
    )
    return 0 if outcome["recovered"] else 1
