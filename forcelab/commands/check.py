"""``forcelab check FILE [--json] [--recover OUT.h5]``: what of a session file is recoverable.

Exit status: 0 = complete and closed cleanly; 1 = readable but incomplete (not closed cleanly,
still being recorded, closed after a full disk or write error, a trial never stopped, unreadable
parts); 2 = not a readable forcelab session (or a usage error). ``--recover OUT.h5`` writes
everything readable into a new, cleanly closed session (the original is left untouched).
"""

from __future__ import annotations

import argparse

HELP = "Check a session file and report what is recoverable (exit 0 ok, 1 incomplete, 2 bad)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``forcelab check``."""
    parser.add_argument("path", metavar="FILE", help="forcelab session file (.h5)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--recover", metavar="OUT.h5",
                        help="write everything readable into a new, cleanly closed session")


def run(args: argparse.Namespace) -> int:
    """Run ``forcelab check``; returns 0, 1 or 2 (see the module docstring)."""
    import json
    import sys
    from pathlib import Path

    from forcelab.errors import InputError
    from forcelab.store import check_session, recover_session

    if not Path(args.path).exists():
        raise FileNotFoundError(2, "No such file", args.path)
    if args.recover is not None and Path(args.recover).exists():
        raise InputError(f"{args.recover} already exists; forcelab never overwrites a file")
    if args.recover is not None and not Path(args.recover).parent.is_dir():
        raise InputError(f"folder {Path(args.recover).parent} does not exist; create it or "
                         "choose another --recover file")
    report = check_session(args.path, isolated=True)
    if args.json:
        print(json.dumps(report, indent=1))
    else:
        print(format_report(report))
    if args.recover is not None:
        if report["status"] == "unreadable":
            print(f"forcelab check: nothing to recover from {args.path}", file=sys.stderr)
            return report["exit_code"]
        recovered = recover_session(args.path, args.recover, isolated=True)
        lost = recovered.get("not_recovered")
        print(f"recovered into {args.recover} (closed cleanly)"
              + (f"; unreadable, not copied: {', '.join(lost)}" if lost else ""), file=sys.stderr)
    return report["exit_code"]


def format_report(r: dict) -> str:
    """The text ``forcelab check`` prints."""
    head = {"ok": "OK: complete and closed cleanly",
            "incomplete": "INCOMPLETE: readable, see below",
            "unreadable": "UNREADABLE"}[r["status"]]
    if r["status"] == "unreadable":
        return f"{r['path']}: {head}: {r['error']}"
    lines = [f"{r['path']}: {head}"]
    for name, s in r.get("streams", {}).items():
        if s.get("n_samples") is None:
            lines.append(f"  stream {name}: unreadable ({s['error']})")
            continue
        lines.append(
            f"  stream {name}: {s['readable_samples']} of {s['n_samples']} samples readable "
            f"({s['duration_s']:.1f} s at {s['rate_hz']:g} Hz), {s['gaps']} gaps, "
            f"{s['samples_missing']} samples missing"
        )
    lines.append(
        f"  trials: {len(r.get('trials', []))}"
        + (f" ({', '.join(r['trials'])})" if r.get("trials") else "")
        + f"; markers: {r.get('n_markers', 0)}; events: {r.get('n_events', 0)}; "
        f"analyses: {r.get('n_analyses', 0)}"
    )
    lines.append(f"  closed cleanly: {'yes' if r.get('closed_cleanly') else 'no'}; "
                 f"last flush {r.get('last_flush_utc')}")
    for p in r["problems"]:
        lines.append(f"  problem: {p}")
    if r["status"] == "incomplete" and not r.get("recording"):
        lines.append(f"  to rescue it: forcelab check {r['path']} --recover FIXED.h5")
    return "\n".join(lines)
