"""Helpers the driver tests share: streaming for a while, per-sample views, waiting on a
condition (never on the clock), reading through a reconnect, polling as a recorder does, feeding
a codec in chunks, matching stances."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from forcelab.drivers.base import Block, Device
from forcelab.drivers.errors import ConnectionLost


def wait_until(condition: Callable[[], object], timeout_s: float, what: str,
               poll_s: float = 0.005) -> None:
    """Return as soon as ``condition()`` is true; fail the test after ``timeout_s`` s."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout_s:g} s waiting for {what}"
        time.sleep(poll_s)


def stream_for(devices: list[Device], seconds: float) -> list[list[Block]]:
    """Start the devices, read for ``seconds`` s, stop, drain; Blocks per device."""
    out: list[list[Block]] = [[] for _ in devices]
    for d in devices:
        d.start()
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        for i, d in enumerate(devices):
            out[i] += d.read(0.01)
    for i, d in enumerate(devices):
        d.stop()
        out[i] += d.read(0.05)
    return out


def collect(dev: Device, duration_s: float) -> tuple[list[Block], float, float]:
    """Stream one device for ``duration_s`` s (reads of 50 ms), stop and drain it.

    Returns the Blocks and the host times (``time.time()``) streaming started and stopped.
    """
    blocks: list[Block] = []
    dev.start()
    t_start = time.time()
    end = time.monotonic() + duration_s
    while time.monotonic() < end:
        blocks += dev.read(0.05)
    t_stop = time.time()
    dev.stop()
    blocks += dev.read(0.15)
    return blocks, t_start, t_stop


def read_samples(dev: Device, n: int, timeout_s: float) -> list[Block]:
    """Read until at least ``n`` samples arrived; fail after ``timeout_s`` s."""
    blocks: list[Block] = []
    wait_until(lambda: blocks.extend(dev.read(0.05)) or sum(b.n for b in blocks) >= n,
               timeout_s, f"{n} samples", poll_s=0.0)
    return blocks


def stream_samples(dev: Device, n: int, timeout_s: float) -> list[Block]:
    """Start the device, read until at least ``n`` samples arrived (fail after ``timeout_s``
    s), stop and drain it: a test that needs so many samples waits for them, not for a time."""
    dev.start()
    blocks = read_samples(dev, n, timeout_s)
    dev.stop()
    return blocks + dev.read(0.05)


def read_after_reconnect(dev: Device, timeout_s: float) -> list[Block]:
    """Read a lost device until it reconnected and Blocks arrive again (or ``timeout_s``)."""
    after: list[Block] = []
    deadline = time.monotonic() + timeout_s
    while not after and time.monotonic() < deadline:
        try:
            after = dev.read(0.1)
        except ConnectionLost:
            time.sleep(0.05)  # the port is still gone: try again (the driver paces retries)
    return after


def stream_pair(pair: Any, seconds: float) -> dict[str, list[Block]]:
    """Start an insole pair, read it for ``seconds`` s (reads of 50 ms), stop and drain it:
    the Blocks of each side (``{"left": [...], "right": [...]}``)."""
    got: dict[str, list[Block]] = {"left": [], "right": []}
    pair.start()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for side, blocks in pair.read(0.05).items():
            got[side] += blocks
    pair.stop()
    for side, blocks in pair.read(0.2).items():
        got[side] += blocks
    return got


def poll_then_stop(dev: Device, sent: Callable[[], int],
                   n: int) -> tuple[list[Block], list[Block]]:
    """Start ``dev``, poll ``read(0.0)`` every 5 ms (a recorder polling often) until the device
    has sent ``n`` more samples (``sent()`` counts them, e.g. its simulator's ground truth), stop it
    and read once more: (the Blocks handed out while streaming, those read after the stop)."""
    dev.start()
    n_end = sent() + n
    while_streaming: list[Block] = []
    while sent() < n_end:
        while_streaming += dev.read(0.0)
        time.sleep(0.005)
    dev.stop()
    return while_streaming, dev.read(0.2)


def feed_in_cuts(feed: Callable[[bytes], Any], data: bytes, cuts: list[int]) -> list[Any]:
    """Feed ``data`` to a codec's ``feed`` in chunks of the sizes ``cuts`` (the rest in one
    last chunk), as reads of a port would deliver it; what each call returned, in order."""
    out, pos = [], 0
    for n in [*cuts, len(data)]:
        out.append(feed(data[pos:pos + n]))
        pos += n
    return out


def per_sample(blocks: list[Block]) -> tuple[np.ndarray, np.ndarray]:
    """(sequence number of every sample, samples) of a list of Blocks."""
    seq = np.concatenate([b.seq + np.arange(b.n) for b in blocks])
    return seq, np.concatenate([b.samples for b in blocks])


def match_stances(found, true, lo, hi, tol):
    """Every true stance inside (lo, hi) was found, and every found stance safely inside was
    true, with both edges within ``tol`` s. Returns the number of true stances checked."""
    found = np.asarray(found, dtype=float).reshape(-1, 2)
    true = np.asarray(true, dtype=float).reshape(-1, 2)
    true_in = true[(true[:, 0] > lo) & (true[:, 1] < hi)]
    found_in = found[(found[:, 0] > lo + tol) & (found[:, 1] < hi - tol)]
    for a, b in true_in:
        k = int(np.argmin(np.abs(found[:, 0] - a)))
        assert abs(found[k, 0] - a) <= tol and abs(found[k, 1] - b) <= tol, (a, b, found[k])
    for a, b in found_in:
        k = int(np.argmin(np.abs(true[:, 0] - a)))
        assert abs(true[k, 0] - a) <= tol and abs(true[k, 1] - b) <= tol, (a, b, true[k])
    return len(true_in)
