"""Play a recording as a real LSL outlet, in real time, in its own process.

``python -m forcelab.drivers.sim.lsl_player REC.npz --name NAME [options]``

``REC.npz`` holds ``samples`` (n x channels, float), ``rate_hz``, and optionally ``labels`` and
``units`` (one string per channel): what a lab's LSL app would publish. Tests write it from a
real recording read with forcelab's readers; the player itself only needs NumPy and pylsl.

The stream carries ``desc/channels/channel/{label, unit, type}`` (unless ``--no-metadata``) and
``desc/acquisition``. Samples are time-stamped on the player's LSL clock at their nominal times
(``start + i / rate``; with ``--stamp-at-push`` by LSL when pushed) and pushed in chunks of
``--chunk-s`` s as that time passes, as a device with its own clock does.

Faults, as a lab sees them:

* ``--pause-at S --pause-for P``: the outlet is destroyed after S s of data and a new one with the
  same source_id opens P s later (the samples of the pause are lost, like an unplugged sender);
  ``--clock-back C`` stamps the samples after the pause C s earlier (a sender that restarted).
* ``--skip-at S --skip-s D``: D s of samples from S s on are never sent while the outlet stays
  (samples lost inside the sender: a jump in time stamps).
* ``--irregular``: the stream declares an irregular rate (nominal_srate 0).

``--wait-consumer S`` starts the first sample once an inlet connects. The player prints one line
per state change (``ready``, ``streaming``, ``paused``, ``resumed``, ``done``) and, after the last
sample, holds the outlet until it is terminated or its standard input closes.
"""

from __future__ import annotations

import argparse
import sys
import threading

import numpy as np
import pylsl


def make_outlet(name: str, stream_type: str, source_id: str, rate_hz: float,
                labels: list[str] | None, units: list[str] | None, n_channels: int,
                chunk_n: int) -> pylsl.StreamOutlet:
    """A float32 outlet with channel metadata (labels/units None: none written); ``rate_hz``
    is the declared nominal rate (0 = irregular)."""
    info = pylsl.StreamInfo(name, stream_type, n_channels, rate_hz, pylsl.cf_float32, source_id)
    if labels is not None:
        chans = info.desc().append_child("channels")
        for i in range(n_channels):
            ch = chans.append_child("channel")
            ch.append_child_value("label", labels[i])
            if units is not None:
                ch.append_child_value("unit", units[i])
            ch.append_child_value("type", "Force")
    acq = info.desc().append_child("acquisition")
    acq.append_child_value("manufacturer", "forcelab")
    acq.append_child_value("model", "LSL player")
    return pylsl.StreamOutlet(info, chunk_size=chunk_n, max_buffered=60)


def main(argv: list[str] | None = None) -> int:
    """Run the player; returns the exit status."""
    p = argparse.ArgumentParser(prog="python -m forcelab.drivers.sim.lsl_player",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("recording", help=".npz with samples, rate_hz, labels, units")
    p.add_argument("--name", required=True, help="LSL stream name")
    p.add_argument("--type", default="Force", help="LSL stream type (default Force)")
    p.add_argument("--source-id", default="", help="LSL source_id (default: the name)")
    p.add_argument("--chunk-s", type=float, default=0.01, help="push period in s")
    p.add_argument("--no-metadata", action="store_true", help="publish no channel labels")
    p.add_argument("--irregular", action="store_true",
                   help="declare an irregular rate (nominal_srate 0); samples keep their times")
    p.add_argument("--wait-consumer", type=float, default=0.0, metavar="S",
                   help="start the first sample once an inlet has connected (at most S s)")
    p.add_argument("--pause-at", type=float, default=None, metavar="S")
    p.add_argument("--pause-for", type=float, default=0.0, metavar="S")
    p.add_argument("--stamp-at-push", action="store_true",
                   help="let LSL stamp each chunk when it is pushed (its last sample at the push "
                        "time, the others back at the nominal rate), as most LSL apps do")
    p.add_argument("--skip-at", type=float, default=None, metavar="S",
                   help="never send the samples from S s on for --skip-s s (the outlet stays)")
    p.add_argument("--skip-s", type=float, default=0.0, metavar="S")
    p.add_argument("--clock-back", type=float, default=0.0, metavar="S",
                   help="after the pause, time-stamp S s earlier (a sender that restarted)")
    args = p.parse_args(argv)
    with np.load(args.recording, allow_pickle=False) as rec:
        samples = np.ascontiguousarray(rec["samples"], dtype=np.float32)
        rate_hz = float(rec["rate_hz"])
        labels = [str(x) for x in rec["labels"]] if "labels" in rec else None
        units = [str(x) for x in rec["units"]] if "units" in rec else None
    if args.no_metadata:
        labels = units = None
    n, n_ch = samples.shape
    chunk_n = max(1, int(round(args.chunk_s * rate_hz)))
    source_id = args.source_id or args.name

    def outlet() -> pylsl.StreamOutlet:
        declared = 0.0 if args.irregular else rate_hz
        return make_outlet(args.name, args.type, source_id, declared, labels, units, n_ch,
                           chunk_n)

    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    out = outlet()
    print(f"ready {args.name}", flush=True)
    if args.wait_consumer > 0:
        out.wait_for_consumers(args.wait_consumer)
    print(f"streaming {args.name} {n} samples at {rate_hz:g} Hz", flush=True)
    t0 = pylsl.local_clock()
    stamp0 = t0  # the clock the samples are stamped with
    sent = 0
    paused = args.pause_at is None
    while sent < n and not stop.is_set():
        now = pylsl.local_clock()
        due = min(n, int((now - t0) * rate_hz) + 1)
        if not paused and due / rate_hz >= args.pause_at:
            del out
            print(f"paused at {sent}", flush=True)
            stop.wait(args.pause_for)
            paused = True
            out = outlet()
            sent = min(n, int((pylsl.local_clock() - t0) * rate_hz) + 1)
            stamp0 = t0 - args.clock_back
            print(f"resumed at {sent}", flush=True)
            continue
        if due > sent:
            idx = np.arange(sent, due)
            if args.skip_at is not None:  # samples lost inside the sender: a jump in stamps
                lo, hi = int(args.skip_at * rate_hz), int((args.skip_at + args.skip_s) * rate_hz)
                idx = idx[(idx < lo) | (idx >= hi)]
            if idx.size and args.stamp_at_push:
                out.push_chunk(samples[idx])
            elif idx.size:
                out.push_chunk(samples[idx], (stamp0 + idx / rate_hz).tolist())
            sent = due
        stop.wait(max(0.0, t0 + (sent + chunk_n - 1) / rate_hz - pylsl.local_clock()))
    print(f"done {sent}", flush=True)
    stop.wait()
    del out
    return 0


if __name__ == "__main__":
    sys.exit(main())
