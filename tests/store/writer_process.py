"""A recorder stand-in run as a real subprocess by the durability tests.

Appends deterministic 9-channel plate blocks (values from store_helpers.values) to a new session
and prints ``appended N`` (samples so far) after every append. Exits 0 after closing cleanly
(also on SIGINT), 3 after a SessionFileError (message printed as ``ERROR: ...``). SIGINT sets a
flag, as ``forcelab record`` does: a KeyboardInterrupt raised inside the writer (or h5py) at any
point could leave a lock held, so the close that follows would wait for ever.
"""

import argparse
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from raw_plate import raw_block, raw_plate_info  # noqa: E402
from store_helpers import make_block, plate_info  # noqa: E402

from forcelab.errors import SessionFileError  # noqa: E402
from forcelab.store import SessionWriter  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("path")
    p.add_argument("--rate", type=float, default=1000.0)
    p.add_argument("--block", type=int, default=10)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--fast", action="store_true", help="append as fast as possible")
    p.add_argument("--min-free", type=int, default=16 * 1024 * 1024)
    p.add_argument("--reserve", type=int, default=1024 * 1024)
    p.add_argument("--raw", action="store_true", help="a plate streaming raw bridge counts")
    a = p.parse_args()
    t0 = time.time()
    try:
        w = SessionWriter.create(a.path, athlete={"name": "proc"}, min_free_bytes=a.min_free,
                                 reserve_bytes=a.reserve)
        w.add_stream("plate", raw_plate_info(a.rate) if a.raw else plate_info(rate_hz=a.rate))
        w.start_trial("run")
    except SessionFileError as exc:
        print(f"ERROR: {exc}", flush=True)
        return 3
    seq = 0
    n_total = int(a.seconds * a.rate)
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))
    try:
        while seq < n_total and not stop:
            w.append("plate", raw_block(seq, a.block, a.rate, t0) if a.raw
                     else make_block(seq, a.block, 9, a.rate, t0))
            seq += a.block
            print(f"appended {seq}", flush=True)
            if not a.fast:
                delay = t0 + seq / a.rate - time.time()
                if delay > 0:
                    time.sleep(delay)
        w.close()
    except SessionFileError as exc:
        print(f"ERROR: {exc}", flush=True)
        w.close()
        return 3
    print("closed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
