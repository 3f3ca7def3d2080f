"""``forcelab calibrate``: tare a DIY board and calibrate it with a known weight."""

from __future__ import annotations

import argparse

HELP = "Tare a DIY load-cell board or calibrate it with a known weight (lines:, csv4:)."

CELLS = ("TL", "TR", "BL", "BR")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``forcelab calibrate``."""
    parser.add_argument(
        "--device", "-d", required=True, metavar="DEV",
        help="the board: lines:///dev/ttyUSB0?format=csv&units=raw&rate=80 or csv4:///dev/ttyUSB0",
    )
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--tare", action="store_true",
                      help="zero the board: nothing may stand on it")
    what.add_argument("--known-kg", type=float, metavar="KG",
                      help="a known weight in kg stands on --cell (or on the centre)")
    what.add_argument("--show", action="store_true", help="print the calibration in use")
    parser.add_argument("--cell", choices=CELLS, type=str.upper,
                        help="the cell the weight stands on: top-left, top-right, bottom-left, "
                             "bottom-right (default: the centre, one common scale)")
    parser.epilog = (
        "Line boards (lines:) keep the result in a calibration file per board "
        "($XDG_CONFIG_HOME/forcelab/boards/<USB serial>.json) that every later recording uses; "
        "CSV4 boards keep it in their own EEPROM. Typical order: --tare with the board empty, "
        "then --known-kg for each cell (or once on the centre)."
    )


def run(args: argparse.Namespace) -> int:
    """Tare, calibrate or show; returns 0."""
    from forcelab.drivers import open_devices
    from forcelab.drivers.csv4 import Csv4Device
    from forcelab.drivers.errors import DeviceError
    from forcelab.drivers.lines import LineDevice
    from forcelab.drivers.units import STANDARD_GRAVITY_M_S2

    if args.known_kg is not None and not 0 < args.known_kg <= 1000:
        raise DeviceError(f"--known-kg must be a weight in kg (0..1000], got {args.known_kg}")
    devices = open_devices(args.device)
    try:
        if len(devices) != 1 or not isinstance(devices[0], (LineDevice, Csv4Device)):
            raise DeviceError(
                f"{args.device} is not one DIY board; forcelab calibrates lines: and csv4: "
                "boards (plates and insoles carry their own calibration)")
        dev = devices[0]
        if args.tare:
            dev.zero()
        elif args.known_kg is not None:
            load_n = args.known_kg * STANDARD_GRAVITY_M_S2
            if isinstance(dev, Csv4Device):
                if not args.cell:
                    raise DeviceError("a CSV4 board calibrates one cell at a time: give --cell "
                                      "TL, TR, BL or BR")
                dev.calibrate_cell(CELLS.index(args.cell), load_n)
            else:
                dev.calibrate(load_n, args.cell)
        _print_calibration(dev, isinstance(dev, LineDevice))
    finally:
        for d in devices:
            d.close()
    return 0


def _print_calibration(dev, is_lines: bool) -> None:
    cal = dev.info.calibration
    if is_lines:
        print(f"board {dev.board} ({cal['units']}): offsets {_fmt(cal['offsets'])} "
              f"{cal['value_unit']}, scales {_fmt(cal['scales'])} {cal['scale_unit']}")
        print(f"saved in {dev.info.extra['calibration_file']}")
    else:
        print(f"board {dev.info.serial}: offsets {_fmt(cal['offsets_counts'])} counts, "
              f"scales {_fmt(cal['scales_counts_per_n'])} counts per N (in the board's EEPROM)")


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.6g}" for v in values)
