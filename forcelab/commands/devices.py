"""``forcelab devices``: the serial ports of this machine and the simulated devices running."""

from __future__ import annotations

import argparse

HELP = ("List serial ports (VID:PID, serial number, description), running simulated devices and "
        "the Lab Streaming Layer streams on the network.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``forcelab devices``."""
    parser.add_argument(
        "--json", action="store_true", help="print one JSON list instead of a table"
    )
    parser.add_argument(
        "--probe", nargs="*", metavar="DEVICE",
        help="open the listed ports (default: every port) and ask an FPB1 plate for its model "
             "and serial (opening may reset Arduino-style boards)",
    )
    parser.add_argument(
        "--lsl-wait", type=float, default=1.0, metavar="S",
        help="seconds to look for LSL streams (0: do not look; default 1)",
    )
    parser.add_argument(
        "--all", action="store_true",
        help="also list built-in serial ports without USB information (/dev/ttyS*)",
    )


def _vid_pid(d: dict) -> str:
    if d.get("vid") is None or d.get("pid") is None:
        return "-"
    return f"{int(d['vid']):04X}:{int(d['pid']):04X}"


def run(args: argparse.Namespace) -> int:
    """List ports; returns 0."""
    import json

    from forcelab.drivers import list_devices

    devices = list_devices()
    if not args.all:
        devices = [d for d in devices if d["simulated"] or d.get("vid") is not None
                   or d.get("hwid") not in ("", "n/a")]
    if args.probe is not None:
        from forcelab.drivers.discovery import probe_port

        wanted = set(args.probe)
        for d in devices:
            if not wanted or d["device"] in wanted:
                d["probe"] = probe_port(d["device"])
    streams = []
    if args.lsl_wait > 0:
        from forcelab.drivers.lsl import list_streams

        streams = list_streams(min(args.lsl_wait, 30.0))
    if args.json:
        print(json.dumps(devices + [{"device": s["device"], "lsl": s} for s in streams],
                         indent=1))
        return 0
    real = [d for d in devices if not d["simulated"]]
    sims = [d for d in devices if d["simulated"]]
    rows = [("DEVICE", "VID:PID", "SERIAL", "DESCRIPTION")]
    rows += [(d["device"], _vid_pid(d), d["serial_number"] or "-", _describe(d)) for d in real]
    if len(rows) == 1:
        print("no serial ports found (plug in a device, or run `forcelab simulate treadmill`)")
    else:
        _table(rows)
    if sims:
        print()
        print("simulated devices (open them with fpb1://, ins1://, csv4:// + the path):")
        _table([("DEVICE", "VID:PID", "SERIAL", "DESCRIPTION")]
               + [(d["device"], _vid_pid(d), d["serial_number"] or "-", _describe(d))
                  for d in sims])
    if streams:
        print()
        print("LSL streams (open them with the device string shown; see docs/labs.md):")
        _table([("DEVICE", "NAME", "TYPE", "CHANNELS", "RATE", "HOST")]
               + [(s["device"], s["name"], s["type"] or "-", str(s["channel_count"]),
                   f"{s['rate_hz']:g} Hz" if s["rate_hz"] > 0 else "irregular", s["hostname"])
                  for s in streams])
    return 0


def _describe(d: dict) -> str:
    text = d["description"] or "-"
    probe = d.get("probe")
    if probe:
        if probe.get("protocol"):
            text += f"  [{probe['protocol']} {probe['model']} serial {probe['serial']}]"
        else:
            text += f"  [{probe.get('note', 'no answer')}]"
    return text


def _table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
