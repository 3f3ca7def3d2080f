"""``forcelab simulate SETUP``: run a simulated setup behind real ptys until interrupted."""

from __future__ import annotations

import argparse

HELP = "Run simulated plates/insoles behind serial ports (treadmill, plate, insoles, diy)."

SETUP_NAMES = ("treadmill", "plate", "insoles", "diy")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``forcelab simulate``."""
    parser.add_argument("setup", metavar="SETUP", help=f"one of: {', '.join(SETUP_NAMES)}")
    parser.add_argument("--speed", type=float, help="running/walking speed in m/s")
    parser.add_argument("--mode", choices=("run", "walk"), help="running or walking")
    parser.add_argument("--strike", choices=("rear", "mid", "fore"), help="foot strike")
    parser.add_argument("--mass", type=float, help="body mass in kg")
    parser.add_argument(
        "--asymmetry", type=float,
        help="symmetry index of mid-stance peak loading, (R-L)/((R+L)/2); -0.08 = left 8%% more",
    )
    parser.add_argument(
        "--stand", type=float, metavar="S",
        help="the athlete first stands still on both feet for S seconds (for tare-and-weigh "
             "workflows), then runs",
    )
    parser.add_argument("--seed", type=int, help="random seed (same seed, same gait)")
    parser.add_argument("--faults", help="fault injection, e.g. bitflip:1e-4,drop:0.001")
    parser.add_argument(
        "-o", "--option", action="append", default=[], metavar="KEY=VALUE",
        help="any other setup option (cadence, contact_time, noise, drift, rate, ...)",
    )
    parser.add_argument(
        "--duration", type=float, metavar="S",
        help="stop after S seconds (default: run until Ctrl-C)",
    )


def _options(args: argparse.Namespace) -> dict[str, str]:
    from forcelab.drivers.errors import DeviceError

    opts: dict[str, str] = {}
    for key, name in (("speed", "speed"), ("mode", "mode"), ("strike", "strike"),
                      ("mass", "body_mass"), ("asymmetry", "asymmetry"), ("seed", "seed"),
                      ("stand", "stand"), ("faults", "faults")):
        v = getattr(args, key)
        if v is not None:
            opts[name] = str(v)
    for item in args.option:
        if "=" not in item:
            raise DeviceError(f"option {item!r} must look like KEY=VALUE (e.g. -o cadence=180)")
        k, v = item.split("=", 1)
        opts[k.strip().lower()] = v.strip()
    return opts


def pair_string(urls: list[str]) -> str | None:
    """The one device string that opens all INS1 insoles of ``urls`` together
    (``ins1:///left,/right``, as :func:`forcelab.drivers.open_devices` accepts), or None when
    fewer than two of them are INS1 ports."""
    paths = [u[len("ins1://"):] for u in urls if u.startswith("ins1://") and "?" not in u]
    return "ins1://" + ",".join(paths) if len(paths) >= 2 else None


def run(args: argparse.Namespace) -> int:
    """Start the setup, print its ports, run until Ctrl-C/SIGTERM/--duration; returns 0."""
    import signal
    import threading
    import time

    from forcelab.drivers.errors import DeviceError
    from forcelab.drivers.sim.setups import start_setup

    if args.duration is not None and not args.duration > 0:
        raise DeviceError(f"--duration must be > 0 s, not {args.duration}")
    if args.seed is not None and not 0 <= args.seed < 2**32:
        raise DeviceError(f"--seed must be a whole number from 0 to {2**32 - 1}, not {args.seed}")
    setup = start_setup(args.setup, _options(args))
    stop = threading.Event()
    # Ctrl-C stops it even when started from a script in the background (SIGINT ignored then)
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        print(f"simulating {args.setup!r}; device strings (use with --device):", flush=True)
        for url in setup.urls:
            print(f"  {url}", flush=True)
        pair = pair_string(setup.urls)
        if pair:
            print(f"  both feet in one string: {pair}", flush=True)
        standing = setup.standing()
        if standing is not None:
            print(f"the athlete steps on {standing['start_s']:.1f} s after start, stands still "
                  f"until {standing['end_s']:.1f} s, then the run begins", flush=True)
        print("press Ctrl-C to stop", flush=True)
        sims = setup.simulators
        sims = list(sims.values()) if isinstance(sims, dict) else list(sims)
        t_end = None if args.duration is None else time.monotonic() + args.duration
        while not stop.wait(0.2):
            if t_end is not None and time.monotonic() >= t_end:
                break
            if any(getattr(s, "error", None) is not None for s in sims):
                break
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        setup.stop()
    print("simulation stopped", flush=True)
    return 0
