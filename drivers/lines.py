"""Generic serial line devices: the DIY load-cell boards people already have.

``lines:///dev/ttyUSB0?baud=115200&format=csv&units=kg`` reads whatever a board prints, one
sample per line, in one of the formats of :mod:`forcelab.drivers.line_formats` (one number per
line, ``Reading: 12.3 kg``, a CSV of four cells with a header, ``{"w": ...}`` JSON,
``time_ms,force_N``). The board is never commanded: it prints, forcelab listens.

Options (query of the device string):

=================  =============================================================================
``baud``           line rate in bit/s (default 115200)
``format``         ``csv``, ``ws`` (whitespace, the default), ``json`` or ``regex``
``columns``        field names in order (csv, ws), each maybe ``name:role``; ``keys`` for json;
                   ``pattern`` (regex with named groups) for regex
``units``          ``raw`` (counts: calibrate in forcelab), ``N``, ``kg`` or ``g`` (default N)
``rate``           samples per second; needed when lines carry no time (otherwise measured)
``cells``          positions of the cell fields in order, from ``TL,TR,BL,BR`` (default that
                   order); with ``width_mm`` and ``length_mm`` (cell spacing) the COP is computed
``cop_threshold``  N below which the COP is NaN (default 20)
``board``          name of the board's calibration file (default: the port's USB serial number)
``average``        s of samples averaged for tare and calibration (default 0.5)
``boot_timeout``   s to wait for the first valid lines when opening (default 3)
=================  =============================================================================

Calibration happens in forcelab: ``F = (v · u − offset) / scale`` per field (``v`` as printed,
``u`` the unit factor: 1 for raw and N, 9.80665 for kg, 0.00980665 for g). :meth:`LineDevice.zero`
(tare) sets the offsets from the mean of ``average`` s with nothing on the plate;
:meth:`LineDevice.calibrate` with a known load on one cell sets that cell's scale, on the centre (or
on a single-force board) one common scale. Both are kept in ``info.calibration`` (so a session
stores them) and in a per-board JSON file (:func:`board_file`) that the next open reads.

Time: a time field (``t_ms``, ``t_s``, ``t_us``) numbers the samples (a step longer than 1.5
periods is an explicit gap; a time that does not advance is counted in ``time_backwards`` and
dropped; a jump back of more than two periods is a board restart, placed by the host clock);
without one, each line is the next sample at ``rate``. Host
times come from a line fitted to the earliest-arrival envelope (as for CSV4). Lines that are not
data (wrong field count, text, NaN, broken JSON, no regex match) are counted in
``stats.bad_lines`` (and per reason in ``stats.bad_reasons``), never turned into samples. An
unplugged board raises ConnectionLost; every later read tries to reopen it (same path or the same
USB serial number) and resumes with the missing time as a gap.
"""

from __future__ import annotations

import datetime
import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from forcelab.drivers.arrival_clock import ArrivalClock
from forcelab.drivers.base import (
    COP_THRESHOLD_N,
    KIND_DIY_PLATE,
    Block,
    Device,
    DeviceEvent,
    DeviceInfo,
    LinkStats,
    cell_plate_channels,
)
from forcelab.drivers.discovery import list_devices
from forcelab.drivers.errors import ConnectionLost, DeviceError, ProtocolError
from forcelab.drivers.line_formats import ROLE_FORCE, LineFormat
from forcelab.drivers.protocols.csv4 import cells_to_forces
from forcelab.drivers.serial_device import RECONNECT_INTERVAL_S, SerialDevice, open_all, split_ports
from forcelab.drivers.units import STANDARD_GRAVITY_M_S2

UNIT_FACTORS = {"raw": 1.0, "N": 1.0, "kg": STANDARD_GRAVITY_M_S2,
                "g": STANDARD_GRAVITY_M_S2 / 1000.0}
POSITIONS = ("TL", "TR", "BL", "BR")
OPTIONS = ("baud", "format", "columns", "keys", "pattern", "units", "rate", "cells",
           "width_mm", "length_mm", "cop_threshold", "board", "average", "boot_timeout")


# ------------------------------------------------------------------------ calibration files
def boards_dir() -> Path:
    """Folder of the per-board calibration files: ``$XDG_CONFIG_HOME/forcelab/boards``
    (``~/.config/forcelab/boards`` when XDG_CONFIG_HOME is not set)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "forcelab" / "boards"


def board_file(board: str) -> Path:
    """The calibration file of a board (its name made safe for a file name)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", board).strip("._") or "board"
    return boards_dir() / f"{safe}.json"


def port_serial(port: str) -> str:
    """The USB serial number of a port (real or simulated), or ``port-<name>`` without one."""
    real = os.path.realpath(port)
    for d in list_devices():
        if d.get("serial_number") and (d["device"] == port or
                                       os.path.realpath(d["device"]) == real):
            return str(d["serial_number"])
    return "port-" + os.path.basename(port.rstrip("/"))


def load_board_calibration(board: str, n_values: int, units: str) -> dict[str, Any] | None:
    """The stored calibration of a board if it fits (same number of fields and units).

    Raises
    ------
    DeviceError
        The file exists but is not a calibration file (the message names it).
    """
    path = board_file(board)
    if not path.exists():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        offsets = [float(v) for v in d["offsets"]]
        scales = [float(v) for v in d["scales"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DeviceError(f"calibration file {path} is damaged ({exc}); delete it and "
                          f"calibrate the board again") from None
    if len(offsets) != n_values or len(scales) != n_values or d.get("units") != units or \
            not all(np.isfinite(scales)) or any(s == 0 for s in scales):
        return None
    return {**d, "offsets": offsets, "scales": scales}


def save_board_calibration(board: str, calibration: dict[str, Any]) -> Path:
    """Write a board's calibration file (atomically); returns its path."""
    path = board_file(board)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(calibration, indent=2), encoding="utf-8")
    os.replace(tmp, path)
    return path


# ------------------------------------------------------------------------------- device
class LineStats(LinkStats):
    """LinkStats plus ``headers`` (header lines seen), ``time_backwards`` (lines whose time did
    not advance, dropped), ``restarts`` (the board's time started again) and ``bad_reasons``
    (bad lines per reason)."""

    def __init__(self) -> None:
        super().__init__()
        self.headers = 0
        self.time_backwards = 0
        self.restarts = 0
        self.bad_reasons: dict[str, int] = {}

    def to_dict(self) -> dict[str, int]:
        d = super().to_dict()
        d.update(headers=self.headers, time_backwards=self.time_backwards,
                 restarts=self.restarts)
        return d


class LineDevice(SerialDevice):
    """One DIY board printing lines on a serial port (see the module docstring).

    Parameters
    ----------
    port : str
        Serial port path or pyserial URL.
    line_format : LineFormat
    units : {"raw", "N", "kg", "g"}
    rate_hz : float or None
        Samples per second; None: measured from the time field when opening.
    cells : tuple of str or None
        Positions (TL, TR, BL, BR) of the cell fields; None: the board has one force field.
    width_m, length_m : float or None
        Cell spacing for the COP (four cells).
    cop_threshold_n : float
    board : str or None
        Calibration file name (default: the port's serial number).
    average_s, boot_timeout_s, baudrate, reconnect_interval_s : float, float, int, float
    """

    kind_label = "board"
    identified_by = "its USB serial number"

    def __init__(self, port: str, line_format: LineFormat, *, units: str = "N",
                 rate_hz: float | None = None, cells: tuple[str, ...] | None = None,
                 width_m: float | None = None, length_m: float | None = None,
                 cop_threshold_n: float = COP_THRESHOLD_N, board: str | None = None,
                 average_s: float = 0.5, boot_timeout_s: float = 3.0, baudrate: int = 115200,
                 reconnect_interval_s: float = RECONNECT_INTERVAL_S) -> None:
        self._init_link(port, baudrate, reconnect_interval_s)
        self.fmt = line_format
        self.units = units
        self.unit_factor = UNIT_FACTORS[units]
        self.cells = cells
        self.width_m, self.length_m = width_m, length_m
        self.cop_threshold_n = float(cop_threshold_n)
        self.average_s = float(average_s)
        self.boot_timeout_s = float(boot_timeout_s)
        self.stats = LineStats()
        self.clock = ArrivalClock()
        self._buf = bytearray()
        self._skip_partial = True
        self._pending: list[tuple[float | None, tuple[float, ...], float]] = []
        self._ready: list[Block] = []
        self._streaming = False
        self._seq: int | None = None
        self._t_last: float | None = None
        self._tc_last = 0.0
        self._arr_last = 0.0
        self._rebase = False
        self._open_transport()
        try:
            self.rate_hz = self._handshake(rate_hz)
        except BaseException:
            self._transport.close()
            raise
        self.board = board or port_serial(port)
        n = len(self.fmt.value_roles)
        stored = load_board_calibration(self.board, n, units)
        self.offsets = np.array(stored["offsets"] if stored else [0.0] * n)
        self.scales = np.array(stored["scales"] if stored else [1.0] * n)
        self._method = stored.get("method", {}) if stored else {}
        self._stored = stored is not None
        self.info = DeviceInfo(
            protocol="LINES", kind=KIND_DIY_PLATE,
            model=f"serial line board ({self.fmt.fmt}, {n} field{'s' if n > 1 else ''})",
            serial=self.board, firmware="", side=None, rate_hz=float(self.rate_hz),
            channels=cell_plate_channels(len(self.cells or ()), cop=self._has_cop),
            calibration=self._calibration_dict(), layout=None,
            extra={"port": port, "format": self.fmt.fmt, "fields": self.fmt.names,
                   "roles": self.fmt.roles, "units": units, "cells": list(cells or []),
                   "width_m": width_m, "length_m": length_m,
                   "cop_threshold_n": self.cop_threshold_n,
                   "calibration_file": str(board_file(self.board))},
        )

    # -- description ---------------------------------------------------------------------
    @property
    def _has_cop(self) -> bool:
        return self.cells is not None and len(self.cells) == 4 and self.width_m is not None \
            and self.length_m is not None

    def _calibration_dict(self) -> dict[str, Any]:
        calibrated = self.units != "raw" or self._stored or bool(self._method.get("scale"))
        return {"units": self.units, "unit_factor": self.unit_factor,
                "value_unit": "counts" if self.units == "raw" else "N",
                "offsets": self.offsets.tolist(), "scales": self.scales.tolist(),
                "scale_unit": "counts per N" if self.units == "raw" else "1",
                "fields": self.fmt.names, "board": self.board, "method": self._method,
                "calibrated": calibrated}

    # -- opening -------------------------------------------------------------------------
    def _handshake(self, rate_hz: float | None) -> float:
        """Read lines until the format is known and, without ``rate_hz``, the rate measured."""
        deadline = time.monotonic() + self.boot_timeout_s
        times: list[float] = []
        examples: list[str] = []
        n_data = 0
        while time.monotonic() < deadline:
            for parsed, text, _ in self._read_lines(min(0.1, deadline - time.monotonic())):
                if parsed.kind == "bad" and len(examples) < 3:
                    examples.append(f"{text!r} ({parsed.reason})")
                if parsed.kind == "data":
                    n_data += 1
                    if parsed.t is not None:
                        times.append(parsed.t)
            if self.fmt.decided and n_data >= 3 and (
                    rate_hz is not None or not self.fmt.has_time or len(times) >= 20):
                break
        self._pending.clear()
        if n_data < 3:
            raise ProtocolError(
                f"no lines in format={self.fmt.fmt} from {self.port} within "
                f"{self.boot_timeout_s:g} s ({self.stats.bad_lines} bad"
                + (f", e.g. {examples[0]}" if examples else "")
                + f"): check baud= ({self.baudrate}), format= and columns=/keys=/pattern=")
        if self.cells is not None and len(self.cells) != len(self.fmt.value_roles):
            raise DeviceError(f"cells= names {len(self.cells)} positions but the lines carry "
                              f"{len(self.fmt.value_roles)} values")
        if self.cells is None and self.fmt.value_roles != [ROLE_FORCE]:
            self.cells = POSITIONS[: len(self.fmt.value_roles)] \
                if len(self.fmt.value_roles) <= 4 else tuple(
                    f"c{i}" for i in range(len(self.fmt.value_roles)))
        if rate_hz is not None:
            return float(rate_hz)
        if not self.fmt.has_time:
            raise DeviceError(f"the lines from {self.port} carry no time: give the board's "
                              f"rate, e.g. rate=80")
        t = np.array(times)
        steps = np.diff(t)
        steps = steps[steps > 0]
        if steps.size < 5:
            raise ProtocolError(f"the time field from {self.port} does not advance; give rate=")
        rate = (len(steps)) / float(steps.sum())
        return float(round(rate)) if abs(rate - round(rate)) < 0.02 * rate else round(rate, 2)

    # -- bytes -> lines ------------------------------------------------------------------
    def _read_lines(self, timeout_s: float) -> list[tuple[Any, str, float]]:
        """Read what arrived; parse complete lines (the first, partial one is dropped)."""
        data = self._transport.read(max(0.0, timeout_s))
        if not data:
            return []
        arrival = time.time()
        self.stats.bytes_received += len(data)
        self._buf += data
        end = self._buf.rfind(b"\n")
        if end < 0:
            if len(self._buf) > 4 * LineFormat.MAX_LINE:
                self._bad("line too long", len(self._buf))
                self._buf.clear()
            return []
        text = bytes(self._buf[:end]).decode("ascii", "replace")
        del self._buf[: end + 1]
        lines = text.split("\n")
        if self._skip_partial:
            # the first line may be cut (the board printed before the port opened): dropped,
            # unless it is a whole header (numbers from a cut line would be wrong values)
            self._skip_partial = False
            if not self.fmt.decided and self.fmt.parse(lines[0].rstrip("\r")).kind == "header":
                self.stats.headers += 1
            else:
                self.stats.bytes_discarded += len(lines[0]) + 1
            lines = lines[1:]
        out = []
        for line in lines:
            parsed = self.fmt.parse(line.rstrip("\r"))
            if parsed.kind == "data":
                self.stats.frames += 1
                self._pending.append((parsed.t, parsed.values, arrival))
            elif parsed.kind == "header":
                self.stats.headers += 1
            elif parsed.kind == "bad":
                self._bad(parsed.reason, len(line) + 1)
            out.append((parsed, line, arrival))
        return out

    def _bad(self, reason: str, n_bytes: int) -> None:
        self.stats.bad_lines += 1
        self.stats.bytes_discarded += n_bytes
        key = reason.split(":")[0]
        self.stats.bad_reasons[key] = self.stats.bad_reasons.get(key, 0) + 1

    # -- lines -> blocks -----------------------------------------------------------------
    def _place(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Number the pending lines; returns seq, continuous device time (s), values, gaps and
        arrival times (s)."""
        period = 1.0 / self.rate_hz
        seqs, tcs, vals, gaps, arrivals = [], [], [], [], []
        for t, values, arrival in self._pending:
            if self._seq is None:
                gap, tc, seq = 0, (t if t is not None else 0.0), 0
            elif self._rebase or (t is not None and self._t_last is not None
                                  and t - self._t_last < -2 * period):
                if not self._rebase:
                    self.stats.restarts += 1
                    self._events.append(DeviceEvent("clock_reset", self._seq, arrival, 0,
                                                    "the board's time started again"))
                self._rebase = False
                dt = max(arrival - self._arr_last, period)
                gap = max(0, int(round(dt * self.rate_hz)) - 1)
                tc, seq = self._tc_last + (gap + 1) * period, self._seq + gap + 1
            elif t is not None:
                dt = t - self._t_last
                if dt <= 0:
                    self.stats.time_backwards += 1
                    continue
                gap = int(round(dt * self.rate_hz)) - 1 if dt > 1.5 * period else 0
                tc, seq = self._tc_last + dt, self._seq + gap + 1
            else:
                gap, tc, seq = 0, self._tc_last + period, self._seq + 1
            self._seq, self._t_last, self._tc_last, self._arr_last = seq, t, tc, arrival
            seqs.append(seq)
            tcs.append(tc)
            vals.append(values)
            gaps.append(gap)
            arrivals.append(arrival)
        self._pending.clear()
        return (np.array(seqs, np.int64), np.array(tcs), np.array(vals, float).reshape(
            len(vals), len(self.fmt.value_roles)), np.array(gaps, np.int64), np.array(arrivals))

    def _make_blocks(self) -> list[Block]:
        if not self._pending:
            return []
        seq, tc, values, gaps, arrival = self._place()
        if not len(seq):
            return []
        self.clock.add(tc, arrival)
        t_host = self.clock.to_host(tc)
        return Block.split_at_gaps(seq, tc, t_host, self._to_forces(values), gaps, self.stats)

    def _to_forces(self, values: np.ndarray) -> np.ndarray:
        """Board values -> channel values (N, m)."""
        x = values * self.unit_factor
        if self.cells is None:
            return ((x - self.offsets) / self.scales).reshape(-1, 1)
        if self._has_cop:
            order = [self.cells.index(p) for p in POSITIONS]
            out = cells_to_forces(x[:, order], self.offsets[order], self.scales[order],
                                  self.width_m, self.length_m, self.cop_threshold_n)
            back = np.argsort(order)  # cell channels in the board's field order
            out[:, :4] = out[:, :4][:, back]
            return out
        f = (x - self.offsets) / self.scales
        return np.column_stack([f, f.sum(axis=1)])

    # -- Device API ----------------------------------------------------------------------
    def start(self) -> None:
        """Turn received lines into blocks from now on (the board prints all the time)."""
        self._guard()
        self._streaming = True

    def stop(self) -> None:
        """Stop making blocks (blocks already made are still returned)."""
        self._streaming = False

    def read(self, timeout: float = 0.1) -> list[Block]:
        """Blocks received within ``timeout`` s (early once 50 ms worth arrived).

        Raises
        ------
        ConnectionLost
            The port went away (raised by every read until it is back).
        """
        self._before_read()
        if self._ready:
            out, self._ready = self._ready, []
            return out
        deadline = time.monotonic() + max(0.0, float(timeout))
        want = max(1, int(self.rate_hz * 0.05))
        try:
            while True:
                self._read_lines(max(0.0, min(deadline - time.monotonic(), 0.05)))
                if not self._streaming:
                    self._discard()
                if len(self._pending) >= want or (time.monotonic() >= deadline):
                    return self._make_blocks()
        except ConnectionLost as exc:
            lost = self._on_lost(exc)
            blocks = self._make_blocks()
            if blocks:
                return blocks  # the next read raises (or reconnects)
            raise lost from exc

    def _discard(self) -> None:
        """Lines received while stopped: they still move the time line (no false gap later)."""
        if self._pending:
            self._place()

    def _average(self) -> np.ndarray:
        """Mean of the board values (× unit factor) over ``average_s`` s; the blocks made
        meanwhile are kept for the next read."""
        deadline = time.monotonic() + self.average_s + 2.0
        rows: list[tuple[float, ...]] = []
        n_want = max(3, int(round(self.average_s * self.rate_hz)))
        while len(rows) < n_want:
            if time.monotonic() > deadline:
                raise ProtocolError(f"only {len(rows)} lines from {self.port} in "
                                    f"{self.average_s + 2:g} s; is the board still printing?")
            try:
                self._read_lines(0.05)
            except ConnectionLost as exc:
                raise self._on_lost(exc) from exc
            rows += [v for _, v, _ in self._pending]
            if self._streaming:
                self._ready += self._make_blocks()
            else:
                self._discard()
        return np.array(rows[:n_want]).mean(axis=0) * self.unit_factor

    def zero(self) -> None:
        """Tare: offsets = the mean of ``average_s`` s with nothing on the board; saved."""
        self._guard()
        self.offsets = self._average()
        self._method = {**self._method, "tare_utc": _now_utc()}
        self._save()

    tare = zero

    def calibrate(self, load_n: float, cell: str | int | None = None) -> np.ndarray:
        """Known load ``load_n`` (N) on one cell (position ``TL``/``TR``/``BL``/``BR`` or field
        index) or, with ``cell=None``, on the centre / on a single-force board; returns the
        scales (saved with the offsets).

        Raises
        ------
        DeviceError
            A bad load or cell, or no load seen.
        """
        self._guard()
        if not (np.isfinite(load_n) and load_n > 0):
            raise DeviceError(f"calibration load must be a positive force in N, got {load_n}")
        if cell is not None:
            names = list(self.cells or [])
            if isinstance(cell, str) and cell.upper() in names:
                cell = names.index(cell.upper())
            if not isinstance(cell, int) or not 0 <= cell < len(names):
                raise DeviceError(f"cell must be one of {', '.join(names) or '(no cells)'}, "
                                  f"not {cell!r}")
        net = self._average() - self.offsets
        if cell is None:
            scale = float(net.sum()) / load_n
            if abs(scale) < 1e-9:
                raise DeviceError("no load seen: put the known weight on the board and retry")
            self.scales = np.full(len(net), scale)
            self._method = {**self._method, "scale": f"centre {load_n:g} N",
                            "scale_utc": _now_utc()}
        else:
            scale = float(net[cell]) / load_n
            if abs(scale) < 1e-9:
                raise DeviceError(f"no load seen on cell {self.cells[cell]}: put the known "
                                  f"weight on it and retry")
            self.scales = self.scales.copy()
            self.scales[cell] = scale
            self._method = {**self._method, f"scale_{self.cells[cell]}": f"{load_n:g} N",
                            "scale": "per cell", "scale_utc": _now_utc()}
        self._save()
        return self.scales.copy()

    def _save(self) -> None:
        self._stored = True
        self.info.calibration = self._calibration_dict()
        save_board_calibration(self.board, {**self.info.calibration, "port": self.port})

    # -- loss and reconnect: SerialDevice's, with the board's own order ------------------
    def _stop_quickly(self) -> None:
        """Nothing to send: the board is never commanded."""

    def _event_seq(self) -> int:
        return self._seq or -1

    def _reattach(self, path: str) -> None:
        """No handshake (the board prints on its own): drop the first, partial line and place
        the next samples by the host clock (the missing time becomes a gap)."""
        self._buf.clear()
        self._skip_partial = True
        self._pending.clear()
        self._rebase = self._seq is not None
        self._lost = None


def _now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _split_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def open_lines(target: str, options: dict[str, str]) -> list[Device]:
    """Registry opener of ``lines:`` (one board per comma-separated port; see the module
    docstring for the options).

    Raises
    ------
    DeviceNotFound
        The port does not exist.
    ProtocolError
        No valid line arrives.
    DeviceError
        An unknown option or a bad value.
    """
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise DeviceError(f"unknown lines option(s) {', '.join(unknown)}; valid: "
                          f"{', '.join(OPTIONS)}")
    fmt = options.get("format", "ws").lower()
    units = options.get("units", "N")
    if units not in UNIT_FACTORS:
        raise DeviceError(f"lines: units={units!r}: choose raw, N, kg or g")
    columns = _split_list(options.get("columns")) or _split_list(options.get("keys"))
    try:
        LineFormat(fmt, columns, options.get("pattern"))  # checked with the other options, before
        # any port opens; each board gets an instance of its own below
    except ValueError as exc:
        raise DeviceError(f"lines: {exc}") from None
    cells = _split_list(options.get("cells"))
    if cells is not None:
        cells = [c.upper() for c in cells]
        if len(cells) == 4 and sorted(cells) != sorted(POSITIONS):
            raise DeviceError(f"lines: cells={','.join(cells)}: name each of TL, TR, BL, BR once")
    kw: dict[str, Any] = {}
    try:
        for key, name, conv in (("baud", "baudrate", int), ("rate", "rate_hz", float),
                                ("width_mm", "width_m", float), ("length_mm", "length_m", float),
                                ("cop_threshold", "cop_threshold_n", float),
                                ("average", "average_s", float),
                                ("boot_timeout", "boot_timeout_s", float)):
            if key in options:
                kw[name] = conv(options[key])
    except ValueError:
        raise DeviceError("lines: baud, rate, width_mm, length_mm, cop_threshold, average and "
                          "boot_timeout must be numbers") from None
    for key in ("width_m", "length_m"):
        if key in kw:
            kw[key] /= 1000.0
            if not 0.05 <= kw[key] <= 5.0:
                raise DeviceError(f"lines: {key[:-2]}_mm must be 50..5000 mm")
    if "rate_hz" in kw and not 0.1 <= kw["rate_hz"] <= 100_000:
        raise DeviceError("lines: rate must be 0.1..100000 samples per second")
    if ("width_m" in kw) != ("length_m" in kw):
        raise DeviceError("lines: give both width_mm and length_mm (cell spacing) for the COP")
    return open_all(split_ports(target), lambda port: LineDevice(
        port, LineFormat(fmt, columns, options.get("pattern")), units=units,
        cells=tuple(cells) if cells else None, board=options.get("board"), **kw))
