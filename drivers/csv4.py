"""CSV4 DIY plate device: the :class:`~forcelab.drivers.base.Device` over the CSV4 line parser.

The board (HX711 on an ESP32/Arduino) prints a banner, a header and then one line per sample
(80 Hz, or 10 Hz with the HX711 RATE pin low)::

    # fpdiy v1.0 id=FPDIY-0001 cells=4 rate=80 units=raw
    t_ms,c0,c1,c2,c3
    123456,-8123,10422,9981,-120

``t_ms`` is the board's ``millis()`` (u32, wraps after 49.7 days), ``c0..c3`` the cells
top-left, top-right, bottom-left, bottom-right ("top" = forward, "right" = the athlete's right)
as raw signed 24-bit counts (``units=raw``) or newtons with two decimals (``units=N``).
Lines starting with ``#`` are comments and replies.

Commands (one line each; replies are ``#`` lines)::

    ?  or  i        -> # fpdiy v1.0 id=... cells=4 rate=80 units=raw
    s               -> # ok start           (streaming is on after boot)
    x               -> # ok stop
    t               -> # ok tare off=o0,o1,o2,o3          (after averaging 40 samples)
    r 10 | r 80     -> # ok rate=80
    u raw | u N     -> # ok units=N
    k               -> # cal off=o0,o1,o2,o3 scale=s0,s1,s2,s3   (scale in counts per N)
    c <cell> <N>    -> # ok cal cell=2 scale=s2   (known load on one cell; 40 samples)
    anything else   -> # err unknown '<cmd>'      (bad arguments: # err <reason>)

:class:`Csv4Device` — identify through an Arduino auto-reset, tare, calibration, rate, units,
``millis()`` unwrap, gaps longer than 1.5 periods as explicit gaps, host time from the lower
envelope of arrival times (:class:`~forcelab.drivers.clock.ClockFit`), unplug detection and
reconnect by board id (:class:`~forcelab.drivers.serial_device.SerialDevice`).
:func:`open_csv4` is the registry opener of ``csv4:`` device strings. The line format lives in
:mod:`forcelab.drivers.protocols.csv4`.

Block columns: ``c0, c1, c2, c3`` (N per cell), ``fz`` (N), ``cop_x``, ``cop_y`` (m from the
plate centre, NaN when Fz is below ``cop_threshold_n``).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
from forcelab.drivers.base import (
    COP_THRESHOLD_N,
    KIND_DIY_PLATE,
    Block,
    Device,
    DeviceEvent,
    DeviceInfo,
    LinkStats,
)
from forcelab.drivers.clock import ClockFit
from forcelab.drivers.errors import ConnectionLost, DeviceError, DeviceNotFound, ProtocolError
from forcelab.drivers.protocols.csv4 import (
    CHANNELS,
    RATES_HZ,
    RAW_LIMIT,
    UNITS,
    Csv4Chunk,
    Csv4Parser,
    cells_to_forces,
    parse_banner,
    parse_calibration,
    signed_ms,
    validate_millis,
)
from forcelab.drivers.serial_device import RECONNECT_INTERVAL_S, SerialDevice, open_all, split_ports
from forcelab.drivers.transport import Transport

STATUS_OVERRANGE = 1 << 0
"""Block.status bit: a cell saturated in this block."""


@dataclass
class Csv4Stats(LinkStats):
    """LinkStats plus CSV4 counters: ``duplicates`` (repeated t_ms dropped), ``overrange``
    (samples with a saturated cell), ``clock_resets`` (millis() went backwards: the board
    restarted), ``comments``."""

    duplicates: int = 0
    overrange: int = 0
    clock_resets: int = 0
    comments: int = 0


class Csv4Device(SerialDevice):
    """A DIY CSV4 plate on a serial link.

    Opened connected and stopped: the handshake waits through an Arduino auto-reset (silence,
    garbage, banner) by asking ``?`` until the banner arrives (``boot_timeout_s``), stops the
    stream, applies the requested rate and units and reads the calibration (``k``).

    Time: the board has no time sync; ``Block.t_host_s`` maps ``millis()`` to the host clock
    through a line fitted to the lower envelope of arrival times (minus the line's transmission
    time), so blocks of a CSV4 plate share the host time base with other devices.

    Unplug and reconnect as every :class:`~forcelab.drivers.serial_device.SerialDevice`: the blocks
    decoded before the loss are returned, then ConnectionLost is raised; every later ``read``
    tries to reopen the port (or any port whose board id matches) and raises ConnectionLost
    until it succeeds.

    Parameters
    ----------
    port : str
        Serial port path, pty symlink or pyserial URL.
    width_m, length_m : float
        Cell spacing left-right and front-back in m (COP scale).
    rate_hz : {10, 80}, optional
        Sampling rate to set; default: keep the board's.
    units : {"raw", "N"}, optional
        Units the board should send; default: keep the board's.
    cop_threshold_n : float
        COP is NaN below this vertical force (N).
    boot_timeout_s : float
        How long to wait for the board to answer after opening (an auto-reset takes ~1.5 s).
    command_timeout_s : float
        Time to wait for each reply in s (tare and calibration add 40 sample periods).
    baudrate : int
        Line rate in bit/s (default 115200).
    reconnect_interval_s : float
        Least time between two reconnect attempts while the link is down, in s.

    Attributes
    ----------
    info : DeviceInfo
        Board id (``serial``), rate, channels, calibration (``units``, ``offsets_counts``,
        ``scales_counts_per_n``), ``extra`` (plate size, cell order, COP threshold).
    stats : Csv4Stats
        Link counters plus ``duplicates``, ``overrange``, ``clock_resets``, ``comments``.
    max_step_ms : int
        Longest plausible step between two lines' t_ms (longer: a corrupt line or a restart).

    Notes
    -----
    ``Block.status`` bit 0 (:data:`STATUS_OVERRANGE`): a cell saturated (raw ±(2^23 − 1)).
    Bit flips cannot be detected in a line protocol without a checksum when they leave a
    well-formed line: a flipped digit in a cell value passes (a flipped t_ms is caught by
    :func:`validate_millis`).
    """

    kind_label = "CSV4 plate"
    identified_by = "board id"
    scheme = "csv4"
    #: ``csv4:///dev/ttyUSB1?baud=115200&width=0.4&length=0.6``: ``baud`` (bit/s), ``width`` /
    #: ``length`` (cell spacing, m), ``rate`` (10 or 80 Hz), ``units`` (raw or N),
    #: ``cop_threshold`` (N), ``boot_timeout`` (s), ``command_timeout`` (s), each also under its
    #: keyword's name.
    url_options = {"baud": ("baudrate", int), "baudrate": ("baudrate", int),
                   "width": ("width_m", float), "width_m": ("width_m", float),
                   "length": ("length_m", float), "length_m": ("length_m", float),
                   "rate": ("rate_hz", int), "rate_hz": ("rate_hz", int),
                   "units": ("units", str),
                   "cop_threshold": ("cop_threshold_n", float),
                   "cop_threshold_n": ("cop_threshold_n", float),
                   "boot_timeout": ("boot_timeout_s", float),
                   "boot_timeout_s": ("boot_timeout_s", float),
                   "command_timeout": ("command_timeout_s", float),
                   "command_timeout_s": ("command_timeout_s", float)}

    def __init__(
        self,
        port: str,
        *,
        width_m: float = 0.40,
        length_m: float = 0.60,
        rate_hz: int | None = None,
        units: str | None = None,
        cop_threshold_n: float = COP_THRESHOLD_N,
        boot_timeout_s: float = 3.0,
        command_timeout_s: float = 0.6,
        baudrate: int = 115200,
        reconnect_interval_s: float = RECONNECT_INTERVAL_S,
    ) -> None:
        for name, v in (("width_m", width_m), ("length_m", length_m)):
            if not (np.isfinite(v) and 0.05 <= v <= 5.0):
                raise DeviceError(f"CSV4 plate {name}={v} is not a plate size in m (0.05..5)")
        if rate_hz is not None and int(rate_hz) not in RATES_HZ:
            raise DeviceError(f"CSV4 rate {rate_hz} Hz is not supported; choose 10 or 80")
        if units is not None and units not in UNITS:
            raise DeviceError(f"CSV4 units {units!r}: choose 'raw' or 'N'")
        if not (np.isfinite(cop_threshold_n) and cop_threshold_n >= 0):
            raise DeviceError(f"cop_threshold_n must be >= 0 N, got {cop_threshold_n}")
        self._init_link(port, baudrate, reconnect_interval_s)
        self.width_m = float(width_m)
        self.length_m = float(length_m)
        self.cop_threshold_n = float(cop_threshold_n)
        self.boot_timeout_s = float(boot_timeout_s)
        self.command_timeout_s = float(command_timeout_s)
        self._requested_rate = int(rate_hz) if rate_hz is not None else None
        self._requested_units = units
        self.stats = Csv4Stats()
        self.parser = Csv4Parser()
        self.clock = ClockFit(keep=600, n_bins=16, min_span_s=2.0, outlier_s=0.05, gate_s=None)
        self._pending_t: list[np.ndarray] = []
        self._pending_c: list[np.ndarray] = []
        self._pending_a: list[np.ndarray] = []
        self._pending_k: list[np.ndarray] = []
        self._chunks = 0
        self.max_step_ms = 5000  # longer steps between lines: corrupt t_ms or a restart
        self._streaming = False
        #: While streaming, lines younger than this (s) when a read() times out wait for the
        #: next read (fewer, larger blocks for a recorder that polls often); one block period
        #: of the transport.
        self.hold_s = Transport.STREAM_GATHER_S
        self._reset_stream_state()
        self._connect()

    # -- state ---------------------------------------------------------------------------
    def _reset_stream_state(self) -> None:
        self._t_last_raw: int | None = None
        self._t_last_ms = 0
        self._seq = -1
        self._gap_from_host = False
        self._t_host_last: float | None = None
        self._hold_t = np.zeros(0, np.int64)
        self._hold_c = np.zeros((0, 4))
        self._hold_a = np.zeros(0)
        self._hold_k = np.zeros(0, np.int64)

    @property
    def period_ms(self) -> float:
        """Nominal sample period in ms."""
        return 1000.0 / self.rate_hz

    def _event_seq(self) -> int:
        return self._seq

    # -- I/O -----------------------------------------------------------------------------
    def _read_chunk(self, timeout_s: float) -> Csv4Chunk | None:
        data = self._transport.read(timeout_s)
        if not data:
            return None
        t_arr = time.time()
        self.stats.bytes_received += len(data)
        chunk = self.parser.feed(data)
        st = self.stats
        st.bad_lines = self.parser.bad_lines
        st.bytes_discarded = self.parser.bytes_discarded
        st.frames = self.parser.data_lines
        st.comments += len(chunk.comments)
        n = len(chunk.t_ms)
        if n:
            self._pending_t.append(chunk.t_ms)
            self._pending_c.append(chunk.cells)
            # Latest possible host time of each line: the chunk arrived at t_arr; a line took
            # ~40 characters × 10 bits / baud on the wire, and the lines after it came later.
            line_s = 40 * 10.0 / self.baudrate
            self._pending_a.append(t_arr - line_s * (n - np.arange(n)))
            self._pending_k.append(np.full(n, self._chunks, dtype=np.int64))
            self._chunks += 1
        for c in chunk.comments:
            self._on_comment(c)
        return chunk

    def _on_comment(self, line: str) -> None:
        banner = parse_banner(line)
        if banner is not None and getattr(self, "board", None) is not None and \
                self._streaming and banner["id"] == self.board["id"]:
            # the board restarted by itself (brown-out, watchdog): millis() restarted
            self._events.append(DeviceEvent("reboot", self._seq, time.time(), 0, line))

    def _write_line(self, text: str) -> None:
        self._transport.write(text.encode("ascii") + b"\n")

    def _command(self, text: str, prefixes: tuple[str, ...], *, timeout_s: float | None = None,
                 retries: int = 2) -> str:
        """Send one command line; return the first reply line starting with a prefix."""
        timeout_s = self.command_timeout_s if timeout_s is None else timeout_s
        for _ in range(retries + 1):
            self._write_line(text)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                chunk = self._read_chunk(min(0.05, max(0.0, deadline - time.monotonic())))
                if chunk is None:
                    continue
                for c in chunk.comments:
                    if c.startswith("# err"):
                        raise ProtocolError(f"CSV4 board refused {text!r}: {c[2:]}")
                    if c.startswith(prefixes):
                        return c
        raise ProtocolError(
            f"no reply to CSV4 command {text!r} from {self.port} within {timeout_s:g} s: "
            f"check that the port is a CSV4 board (fpdiy firmware) at {self.baudrate} baud"
        )

    def _identify(self) -> dict[str, Any]:
        """Ask ``?`` until the banner arrives (an auto-reset keeps the board silent ~1.5 s)."""
        deadline = time.monotonic() + self.boot_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                line = self._command("?", ("# fpdiy",), timeout_s=min(0.5, remaining),
                                     retries=0)
            except ProtocolError:
                continue
            banner = parse_banner(line)
            if banner is not None:
                return banner
        raise ProtocolError(
            f"no CSV4 banner from {self.port} within {self.boot_timeout_s:g} s: check that the "
            f"board runs the fpdiy firmware and the baud rate ({self.baudrate}) matches"
        )

    def _handshake(self) -> None:
        banner = self._identify()
        if banner["cells"] != 4:
            raise ProtocolError(f"CSV4 board reports {banner['cells']} cells; 4 are needed")
        self.board = banner
        self._command("x", ("# ok stop",))
        if self._requested_rate is not None and self._requested_rate != banner["rate_hz"]:
            self._command(f"r {self._requested_rate}", ("# ok rate",))
            banner["rate_hz"] = self._requested_rate
        if self._requested_units is not None and self._requested_units != banner["units"]:
            self._command(f"u {self._requested_units}", ("# ok units",))
            banner["units"] = self._requested_units
        if banner["rate_hz"] not in RATES_HZ:
            raise ProtocolError(f"CSV4 board reports rate {banner['rate_hz']} Hz (10 or 80)")
        if banner["units"] not in UNITS:
            raise ProtocolError(f"CSV4 board reports units {banner['units']!r} (raw or N)")
        self.rate_hz = int(banner["rate_hz"])
        self.units = banner["units"]
        # a block per streaming block period at most: a line waits no longer than a gathering
        # read of the other drivers (one line at 80 Hz)
        self.min_block_lines = max(1, int(self.rate_hz * Transport.STREAM_GATHER_S))
        self._read_calibration()
        self._discard_pending()
        self._reset_stream_state()
        self.info = DeviceInfo(
            protocol="CSV4",
            kind=KIND_DIY_PLATE,
            model=f"fpdiy v{banner['version']} 4-cell plate",
            serial=banner["id"],
            firmware=str(banner["version"]),
            side=None,
            rate_hz=float(self.rate_hz),
            channels=CHANNELS,
            calibration=self._calibration_dict(),
            layout=None,
            extra={"width_m": self.width_m, "length_m": self.length_m, "port": self.port,
                   "cells": ["TL", "TR", "BL", "BR"], "cop_threshold_n": self.cop_threshold_n},
        )

    def _read_calibration(self) -> None:
        line = self._command("k", ("# cal",))
        cal = parse_calibration(line)
        if cal is None:
            raise ProtocolError(f"CSV4 calibration reply is malformed: {line!r}")
        self.offsets_counts, self.scales_counts_per_n = cal

    def _calibration_dict(self) -> dict[str, Any]:
        return {"units": self.units, "offsets_counts": self.offsets_counts.tolist(),
                "scales_counts_per_n": self.scales_counts_per_n.tolist()}

    def _discard_pending(self) -> None:
        self._pending_t.clear()
        self._pending_c.clear()
        self._pending_a.clear()
        self._pending_k.clear()

    # -- public API ----------------------------------------------------------------------
    def _call(self, fn: Any, *args: Any, **kw: Any) -> Any:
        self._guard()
        try:
            return fn(*args, **kw)
        except ConnectionLost as exc:
            raise self._on_lost(exc) from exc

    def start(self) -> None:
        """Start streaming (``s``)."""
        self._call(self._command, "s", ("# ok start",))
        self._streaming = True

    def stop(self) -> None:
        """Stop streaming (``x``); lines already sent are returned by the next read()."""
        try:
            self._call(self._command, "x", ("# ok stop",))
        finally:
            self._streaming = False

    def zero(self) -> None:
        """Tare (``t``: the board averages 40 samples with the plate unloaded)."""
        timeout = self.command_timeout_s + 40.0 / self.rate_hz
        line = self._call(self._command, "t", ("# ok tare",), timeout_s=timeout, retries=0)
        m = re.search(r"off=(\S+)", line)
        if m:
            self.offsets_counts = np.array([float(v) for v in m.group(1).split(",")])
        self._call(self._read_calibration)
        self.info.calibration = self._calibration_dict()

    tare = zero

    def calibrate_cell(self, cell: int, load_n: float) -> float:
        """Single-point calibration: ``load_n`` N placed on ``cell`` (0..3); returns the new
        scale (counts per N) read back from the board."""
        if cell not in (0, 1, 2, 3):
            raise DeviceError(f"CSV4 cell must be 0, 1, 2 or 3 (TL, TR, BL, BR), not {cell}")
        if not (np.isfinite(load_n) and load_n > 0):
            raise DeviceError(f"calibration load must be a positive force in N, got {load_n}")
        timeout = self.command_timeout_s + 40.0 / self.rate_hz
        self._call(self._command, f"c {cell} {load_n:g}", ("# ok cal",), timeout_s=timeout,
                   retries=0)
        self._call(self._read_calibration)
        self.info.calibration = self._calibration_dict()
        return float(self.scales_counts_per_n[cell])

    def read(self, timeout: float = 0.1) -> list[Block]:
        """Return the Blocks decoded within ``timeout`` s (early once ``min_block_lines``
        arrived: one block period of the transport, ``Transport.STREAM_GATHER_S``).

        While streaming, lines received less than ``hold_s`` (that period) ago when the timeout
        ends wait for the next read, so a recorder polling every few ms gets the same blocks;
        after stop() or an unplug every received line is returned at once.
        """
        self._before_read()
        deadline = time.monotonic() + max(0.0, float(timeout))
        try:
            while True:
                self._read_chunk(max(0.0, min(deadline - time.monotonic(), 0.05)))
                n_pending = sum(len(t) for t in self._pending_t)
                at_deadline = time.monotonic() >= deadline
                if n_pending >= self.min_block_lines or (n_pending and at_deadline and (
                        not self._streaming
                        or time.time() - float(self._pending_a[0][0]) >= self.hold_s)):
                    # stopped: no line will follow the newest to vouch for its t_ms
                    return self._make_blocks(flush=not self._streaming)
                if n_pending:
                    if at_deadline:
                        return []  # young lines wait for the next read (few, larger blocks)
                    continue  # bytes are taken at once (a pulled cable loses what waits in
                    # the OS buffer); they become Blocks once 50 ms worth arrived
                if at_deadline:
                    # the held-back newest line is released once nothing follows it
                    stale = len(self._hold_a) and \
                        time.time() - float(self._hold_a[-1]) > 3e-3 * self.period_ms
                    return self._make_blocks(flush=bool(stale))
        except ConnectionLost as exc:
            lost = self._on_lost(exc)
            blocks = self._make_blocks(flush=True)
            if blocks:
                self._raise_pending = lost
                return blocks
            raise lost from exc

    def _stop_quickly(self) -> None:
        self._command("x", ("# ok stop",), timeout_s=0.2, retries=0)

    # -- lines -> blocks -----------------------------------------------------------------
    def _make_blocks(self, flush: bool = False) -> list[Block]:
        """Validate pending lines' millis(), unwrap, convert to forces, split at gaps.

        The newest line is held back until the next one arrives (or ``flush``): a t_ms with a
        flipped digit is recognised only by its neighbours.
        """
        if not self._pending_t and not (flush and len(self._hold_t)):
            return []
        t_raw = np.concatenate([self._hold_t] + self._pending_t).astype(np.int64)
        cells = np.concatenate([self._hold_c] + self._pending_c)
        arrival = np.concatenate([self._hold_a] + self._pending_a)
        chunk = np.concatenate([self._hold_k] + self._pending_k)
        self._discard_pending()
        keep, restart, undecided, n_dup, n_bad = validate_millis(
            t_raw, self._t_last_raw, self.max_step_ms, flush)
        self.stats.duplicates += n_dup
        if n_bad:
            self.parser.bad_lines += n_bad
            self.parser.data_lines -= n_bad
            self.stats.bad_lines = self.parser.bad_lines
            self.stats.frames = self.parser.data_lines
        self._hold_t, self._hold_c = t_raw[undecided], cells[undecided]
        self._hold_a, self._hold_k = arrival[undecided], chunk[undecided]
        t_raw, cells, arrival, chunk, restart = (t_raw[keep], cells[keep], arrival[keep],
                                                 chunk[keep], restart[keep])
        n = len(t_raw)
        if not n:
            return []
        period = self.period_ms
        first_ever = self._t_last_raw is None
        ref = int(t_raw[0]) if first_ever else self._t_last_raw
        dt = signed_ms(np.diff(np.concatenate(([ref], t_raw))))
        dt = np.where(restart, round(period), dt)
        gaps = np.where(dt > 1.5 * period, np.round(dt / period) - 1, 0).astype(np.int64)
        t_ms = (int(t_raw[0]) if first_ever else self._t_last_ms) + np.cumsum(dt)
        # segments with their own clock: a restart (or a reconnect before index 0)
        host_gap_at = set(np.flatnonzero(restart).tolist())
        if self._gap_from_host:
            host_gap_at.add(0)
        self._gap_from_host = False
        self.stats.clock_resets += int(restart.sum())
        for _ in range(int(restart.sum())):
            self._events.append(DeviceEvent("clock_reset", -1, time.time(), 0,
                                            "the board's millis() restarted"))
        seg_bounds = sorted(host_gap_at | {0, n})
        last_of_chunk = np.ones(n, bool)
        last_of_chunk[:-1] = chunk[1:] != chunk[:-1]
        prev_host = self._t_host_last
        t_host = np.empty(n)
        for a, b in zip(seg_bounds[:-1], seg_bounds[1:], strict=True):
            if a in host_gap_at:
                self.clock.reset()
            pts = [i for i in range(a, b) if last_of_chunk[i]] or [b - 1]
            for i in pts:
                self.clock.add_point(t_ms[i] * 1e-3, float(arrival[i]),
                                     float(arrival[i]) - t_ms[i] * 1e-3)
            t_host[a:b] = self.clock.to_host(t_ms[a:b] * 1e-3)
            if a in host_gap_at and prev_host is not None:
                gaps[a] = max(0, int(round((t_host[a] - prev_host) * self.rate_hz)) - 1)
            prev_host = float(t_host[b - 1])
        seq = self._seq + np.cumsum(gaps + 1)
        self._seq = int(seq[-1])
        self._t_last_raw = int(t_raw[-1])
        self._t_last_ms = int(t_ms[-1])
        self._t_host_last = prev_host
        if self.units == "raw":
            values = cells_to_forces(cells, self.offsets_counts, self.scales_counts_per_n,
                                     self.width_m, self.length_m, self.cop_threshold_n)
            over = np.any(np.abs(cells) >= RAW_LIMIT, axis=1)
        else:
            values = cells_to_forces(cells, np.zeros(4), np.ones(4), self.width_m,
                                     self.length_m, self.cop_threshold_n)
            over = np.zeros(n, bool)
        self.stats.overrange += int(over.sum())
        return Block.split_at_gaps(seq, t_ms * 1e-3, t_host, values, gaps, self.stats,
                                   cuts=host_gap_at, status=np.where(over, STATUS_OVERRANGE, 0))

    # -- reconnect -----------------------------------------------------------------------
    def reconnect(self, timeout_s: float = 4.0) -> bool:
        """Try to reopen the link until ``timeout_s`` passes; True when connected again."""
        return self._reconnect_within(timeout_s)

    def _reattach(self, path: str) -> None:
        """CSV4 order: identify the board by id, restore its rate and units, stop it, restart
        the time line (the time away becomes a gap), resume streaming; the loss is cleared
        after all of it (by the caller)."""
        self.parser.reset()
        banner = self._identify()
        if banner["id"] != self.info.serial:
            raise DeviceNotFound(f"{path} is CSV4 board {banner['id']}, not {self.info.serial}")
        if banner["rate_hz"] != self.rate_hz:
            self._command(f"r {self.rate_hz}", ("# ok rate",))
        if banner["units"] != self.units:
            self._command(f"u {self.units}", ("# ok units",))
        self._command("x", ("# ok stop",))
        self._discard_pending()
        self.clock.reset()
        t_host_last, seq = self._t_host_last, self._seq
        self._reset_stream_state()
        self._seq = seq
        if t_host_last is not None:
            self._gap_from_host = True
            self._t_host_last = t_host_last
        if self._streaming:
            self._command("s", ("# ok start",))


def open_csv4(target: str, options: dict[str, str]) -> list[Device]:
    """Registry opener of ``csv4:``: one DIY plate per comma-separated port."""
    return open_all(split_ports(target), lambda port: Csv4Device.from_url(port, **options))
