"""``forcelab info FILE [--json]``: what a session file holds (athlete, streams, trials)."""

from __future__ import annotations

import argparse

HELP = "Summarise a session file: athlete, streams (samples, gaps, link errors), trials."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``forcelab info``."""
    parser.add_argument("path", metavar="FILE", help="forcelab session file (.h5)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    """Run ``forcelab info``; returns the exit status."""
    import json

    from forcelab.store import open_session

    with open_session(args.path) as sf:
        info = sf.info_dict()
    if args.json:
        print(json.dumps(_strict(info), indent=1, allow_nan=False))
    else:
        print(format_info(info))
    return 0


def format_info(info: dict) -> str:
    """The text ``forcelab info`` prints."""
    st = info["state"]
    if st["closed"]:
        state = f"closed {st['closed_utc']}" + (
            "" if st["close_reason"] == "normal" else f" after an error ({st['close_reason']})"
        )
    elif st["recording"]:
        state = "being recorded now"
    else:
        state = f"NOT closed (recorder stopped; last flush {st['last_flush_utc']})"
    a = info["athlete"]
    mass = a.get("body_mass_kg")
    mass_text = f"{mass:.1f} kg ({a.get('body_mass_method') or 'entered'})" if mass else "unknown"
    lines = [
        f"session   {info['path']}",
        f"created   {info['created_utc']}  (forcelab {info['software_version']}, "
        f"schema {info['schema_version']})",
        f"state     {state}",
        f"athlete   {a.get('name') or '-'}" + (f" [{a['id']}]" if a.get("id") else "")
        + f", body mass {mass_text}",
    ]
    if info.get("operator"):
        lines.append(f"operator  {info['operator']}")
    if info.get("notes"):
        lines.append(f"notes     {info['notes']}")
    lines.append("")
    lines.append(
        f"{'stream':<12} {'device':<18} {'side':<6} {'rate Hz':>8} {'samples':>10} "
        f"{'duration s':>10} {'gaps':>5} {'missing':>8} {'crc':>5} {'resync':>6} {'reconn':>6}"
    )
    for name, s in info["streams"].items():
        dev = f"{s['protocol']} {s['serial']}".strip()
        link = s["link"]
        lines.append(
            f"{name:<12} {dev[:18]:<18} {(s['side'] or '-'):<6} {s['rate_hz']:>8g} "
            f"{s['n_samples']:>10} {s['duration_s']:>10.2f} {s['gaps']:>5} "
            f"{s['samples_missing']:>8} {link.get('crc_errors', 0):>5} "
            f"{link.get('resyncs', 0):>6} {link.get('reconnects', 0):>6}"
        )
    if not info["streams"]:
        lines.append("(no streams)")
    for name in info.get("incomplete_streams", []):
        lines.append(f"{name:<12} (never completely created: the disk filled while declaring it)")
    lines.append("")
    if info["trials"]:
        lines.append(f"{'trial':<24} {'start s':>9} {'stop s':>9} {'speed m/s':>9}  tags")
        for t in info["trials"]:
            stop = "running" if t["stop_s"] is None else f"{t['stop_s']:.2f}"
            speed = "-" if t["speed_m_s"] is None else f"{t['speed_m_s']:.2f}"
            lines.append(
                f"{t['name'][:24]:<24} {t['start_s']:>9.2f} {stop:>9} {speed:>9}  "
                f"{', '.join(t['tags'])}"
            )
    else:
        lines.append("no trials")
    if info["markers"]:
        lines.append(f"markers   {len(info['markers'])}: " + ", ".join(
            f"{m['label']} @ {m['t_s']:.1f} s" for m in info["markers"][:8]
        ) + (" ..." if len(info["markers"]) > 8 else ""))
    if info["event_counts"]:
        lines.append("events    " + ", ".join(
            f"{k} x{v}" for k, v in sorted(info["event_counts"].items())))
    if info["analyses"]:
        lines.append("analyses  " + ", ".join(
            f"{x['name']} ({x['created_utc']})" for x in info["analyses"]))
    return "\n".join(lines)


def _strict(value):
    import math

    if isinstance(value, dict):
        return {str(k): _strict(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_strict(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):
        return _strict(value.item())
    return value
