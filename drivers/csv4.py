"""CSV4 driver: ASCII lines from a DIY four-load-cell plate (HX711 on an ESP32/Arduino).

The board prints a banner, a header and then one line per sample (80 Hz, or 10 Hz with the
HX711 RATE pin low)::

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

Host side (this module): :class:`Csv4Parser` (pure, incremental: partial first line, banner,
comments, garbage; a data line needs exactly 5 numeric fields, everything else counts as a bad
line), :func:`cells_to_forces` (F_i = (c_i − off_i)/s_i, Fz = Σ F_i,
COPx = (W/2)((TR+BR) − (TL+BL))/Fz, COPy = (L/2)((TL+TR) − (BL+BR))/Fz), and
:class:`Csv4Device` (identify through an Arduino auto-reset, tare, calibration, rate, units,
``millis()`` unwrap, gaps longer than 1.5 periods as explicit gaps, host time from the lower
envelope of arrival times, unplug detection and reconnect by board id).

Block columns: ``c0, c1, c2, c3`` (N per cell), ``fz`` (N), ``cop_x``, ``cop_y`` (m from the
plate centre, NaN when Fz is below ``cop_threshold_n``).
"""

from __future__ import annotations

import re
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from forcelab.drivers.base import (
    KIND_DIY_PLATE,
    ROLE_CELL,
    ROLE_COP_AP,
    ROLE_COP_ML,
    ROLE_VERTICAL,
    Block,
    Channel,
    Device,
    DeviceEvent,
    DeviceInfo,
    LinkStats,
)
from forcelab.drivers.errors import ConnectionLost, DeviceError, ProtocolError
from forcelab.drivers.ins1 import TERMIOS_ERRORS, ClockFit

RATES_HZ = (10, 80)
UNITS = ("raw", "N")
RAW_LIMIT = (1 << 23) - 1
"""HX711 full scale: a raw reading of ±(2^23 − 1) means the cell saturated."""
STATUS_OVERRANGE = 1 << 0
"""Block.status bit: a cell saturated in this block."""

CHANNELS = (
    Channel("c0", "N", ROLE_CELL),
    Channel("c1", "N", ROLE_CELL),
    Channel("c2", "N", ROLE_CELL),
    Channel("c3", "N", ROLE_CELL),
    Channel("fz", "N", ROLE_VERTICAL),
    Channel("cop_x", "m", ROLE_COP_ML),
    Channel("cop_y", "m", ROLE_COP_AP),
)

_NUM = r"[-+]?\d+(?:\.\d*)?"
_SEP = r"[ \t]*,[ \t]*"
_DATA_LINE = rf"[ \t]*(\d+){_SEP}({_NUM}){_SEP}({_NUM}){_SEP}({_NUM}){_SEP}({_NUM})[ \t]*\r?"
_DATA_LINE_NC = rf"[ \t]*\d+{_SEP}{_NUM}{_SEP}{_NUM}{_SEP}{_NUM}{_SEP}{_NUM}[ \t]*\r?"
#: A data line: exactly five numbers (t_ms an unsigned integer), one line (re.M).
_DATA_RE_M = re.compile(rf"^{_DATA_LINE}$", re.M)
#: Every line that is not a data line (comments, header, garbage), without its "\r".
_OTHER_RE_M = re.compile(rf"^(?!{_DATA_LINE_NC}$)([^\n]*?)\r?$", re.M)
_HEADER_RE = re.compile(r"^\s*t_ms\s*,\s*c0\s*,\s*c1\s*,\s*c2\s*,\s*c3\s*$")
_BANNER_RE = re.compile(r"#\s*fpdiy\s+v(\S+)(.*)$")
_CAL_RE = re.compile(r"#\s*cal\s+off=(\S+)\s+scale=(\S+)")


# --------------------------------------------------------------------------------------------
# Parsing


@dataclass
class Csv4Chunk:
    """What one :meth:`Csv4Parser.feed` call produced."""

    t_ms: np.ndarray  # int64, raw millis() values (not unwrapped)
    cells: np.ndarray  # float64, shape (n, 4), as sent (counts or N)
    comments: list[str] = field(default_factory=list)
    headers: int = 0


class Csv4Parser:
    """Incremental, tolerant CSV4 line parser (pure, no I/O).

    Parameters
    ----------
    skip_first_line : bool
        Treat everything up to the first line end as a partial line (what a port opened
        mid-stream delivers first). A banner inside it (after reset garbage) is still found.

    Notes
    -----
    Counters: ``lines`` (complete lines seen), ``data_lines``, ``bad_lines`` (neither data,
    header, comment nor empty; includes garbage before a ``#``), ``bytes_discarded`` (partial
    first line, garbage). Documented exceptions: TypeError for a non-bytes argument only.
    """

    MAX_LINE = 512

    def __init__(self, skip_first_line: bool = True) -> None:
        self._buf = bytearray()
        self._skip_first = skip_first_line
        self.lines = 0
        self.data_lines = 0
        self.bad_lines = 0
        self.bytes_discarded = 0

    def reset(self, skip_first_line: bool = True) -> None:
        """Forget buffered bytes (after a reconnect); counters are kept."""
        self._buf.clear()
        self._skip_first = skip_first_line

    def feed(self, data: bytes | bytearray | memoryview) -> Csv4Chunk:
        """Add received bytes; return the complete data lines and comments."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"Csv4Parser.feed needs bytes, not {type(data).__name__}")
        buf = self._buf
        buf += data
        end = buf.rfind(b"\n")
        if end < 0:
            if len(buf) > self.MAX_LINE:  # no line end for too long: garbage
                self.bytes_discarded += len(buf)
                self.bad_lines += 1
                buf.clear()
            return Csv4Chunk(np.zeros(0, np.int64), np.zeros((0, 4)))
        text = bytes(buf[:end])  # complete lines without the last line end
        del buf[: end + 1]
        if self._skip_first:
            self._skip_first = False
            nl = text.find(b"\n")
            first = text if nl < 0 else text[:nl]
            hash_at = first.find(b"#")
            if hash_at < 0:  # a partial line: drop it
                self.bytes_discarded += len(first) + 1
                if nl < 0:
                    return Csv4Chunk(np.zeros(0, np.int64), np.zeros((0, 4)))
                text = text[nl + 1 :]
            else:  # reset garbage before the banner
                self.bytes_discarded += hash_at
                text = text[hash_at:]
        s = text.decode("ascii", "replace")
        n_lines = s.count("\n") + 1
        self.lines += n_lines
        rows = _DATA_RE_M.findall(s)  # every data line at C speed
        comments: list[str] = []
        headers = 0
        if len(rows) < n_lines:
            for line in _OTHER_RE_M.findall(s):  # the few other lines
                stripped = line.strip()
                if not stripped:
                    continue
                if stripped.startswith("#"):
                    comments.append(stripped)
                elif _HEADER_RE.match(line):
                    headers += 1
                else:
                    self.bad_lines += 1
                    hash_at = line.find("#")
                    if hash_at > 0:  # garbage glued to a comment (reset noise, banner)
                        self.bytes_discarded += hash_at
                        comments.append(line[hash_at:].strip())
                    else:
                        self.bytes_discarded += len(line) + 1
        self.data_lines += len(rows)
        if rows:
            arr = np.array(rows, dtype=np.float64)
            ok = arr[:, 0] < 2.0**32
            if not ok.all():
                self.bad_lines += int((~ok).sum())
                self.data_lines -= int((~ok).sum())
                arr = arr[ok]
            return Csv4Chunk(arr[:, 0].astype(np.int64), arr[:, 1:5], comments, headers)
        return Csv4Chunk(np.zeros(0, np.int64), np.zeros((0, 4)), comments, headers)


def parse_banner(line: str) -> dict[str, Any] | None:
    """``# fpdiy v1.0 id=FPDIY-0001 cells=4 rate=80 units=raw`` -> dict, or None."""
    m = _BANNER_RE.search(line)
    if not m:
        return None
    fields = dict(re.findall(r"(\w+)=(\S+)", m.group(2)))
    out: dict[str, Any] = {"version": m.group(1), "id": fields.get("id", ""),
                           "units": fields.get("units", "raw")}
    try:
        out["cells"] = int(fields.get("cells", 4))
        out["rate_hz"] = int(fields.get("rate", 80))
    except ValueError:
        return None
    return out


def parse_calibration(line: str) -> tuple[np.ndarray, np.ndarray] | None:
    """``# cal off=o0,o1,o2,o3 scale=s0,s1,s2,s3`` -> (offsets, scales in counts/N), or None."""
    m = _CAL_RE.search(line)
    if not m:
        return None
    try:
        off = np.array([float(v) for v in m.group(1).split(",")])
        scale = np.array([float(v) for v in m.group(2).split(",")])
    except ValueError:
        return None
    if off.shape != (4,) or scale.shape != (4,) or not np.all(np.isfinite(scale)) or \
            np.any(scale == 0):
        return None
    return off, scale


def cells_to_forces(
    cells: np.ndarray,
    offsets: np.ndarray,
    scales: np.ndarray,
    width_m: float,
    length_m: float,
    cop_threshold_n: float = 20.0,
) -> np.ndarray:
    """Cells -> Block columns ``c0..c3`` (N), ``fz`` (N), ``cop_x``, ``cop_y`` (m).

    Parameters
    ----------
    cells : ndarray, shape (n, 4)
        Readings TL, TR, BL, BR (counts, or N with offsets 0 and scales 1).
    offsets, scales : ndarray, shape (4,)
        Zero offsets (counts) and sensitivities (counts per N).
    width_m, length_m : float
        Distance between the left and right cells / the front and back cells, in m.
    cop_threshold_n : float
        Below this Fz (N) the COP is NaN (undefined, not garbage).
    """
    f = (np.asarray(cells, dtype=np.float64) - offsets) / scales
    fz = f.sum(axis=1)
    out = np.empty((len(f), 7))
    out[:, :4] = f
    out[:, 4] = fz
    loaded = fz >= cop_threshold_n
    safe = np.where(loaded, fz, 1.0)
    tl, tr, bl, br = f[:, 0], f[:, 1], f[:, 2], f[:, 3]
    out[:, 5] = np.where(loaded, 0.5 * width_m * ((tr + br) - (tl + bl)) / safe, np.nan)
    out[:, 6] = np.where(loaded, 0.5 * length_m * ((tl + tr) - (bl + br)) / safe, np.nan)
    return out


def validate_millis(
    t_raw: np.ndarray, ref: int | None, max_step_ms: int = 5000, flush: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Judge each line's ``millis()`` against its neighbours (pure).

    Parameters
    ----------
    t_raw : ndarray of int
        Raw t_ms values of consecutive data lines.
    ref : int or None
        t_ms of the last accepted line before them (None at the start).
    max_step_ms : int
        Largest plausible forward step between lines in ms (longer: corrupt or a restart).
    flush : bool
        Decide the newest line too (otherwise it waits for the next one).

    Returns
    -------
    keep, restart, undecided : ndarray of bool
        Lines accepted; accepted lines that start a new timeline (the board restarted, confirmed
        by the next line); lines left for the next call.
    n_duplicates, n_corrupt : int
        Lines dropped as repeats (same t_ms) and as corrupt (a spike or dip that the next line
        undoes: a flipped digit).
    """
    n = len(t_raw)
    keep = np.zeros(n, bool)
    restart = np.zeros(n, bool)
    undecided = np.zeros(n, bool)
    n_dup = n_bad = 0
    if n == 0:
        return keep, restart, undecided, 0, 0
    last = n if flush else n - 1
    if not flush:
        undecided[n - 1] = True
    if ref is not None:
        steps = _signed_ms(np.diff(np.concatenate(([ref], t_raw))))
        if np.all((steps > 0) & (steps <= max_step_ms)):
            keep[:last] = True  # the usual case: a clean progression
            return keep, restart, undecided, 0, 0

    def plausible(d: int) -> bool:
        return 0 < d <= max_step_ms

    for i in range(last):
        t = int(t_raw[i])
        if ref is None:
            keep[i] = True
            ref = t
            continue
        d = int(_signed_ms(t - ref))
        if d == 0:
            n_dup += 1
            continue
        if i + 1 < n:
            nxt = int(t_raw[i + 1])
            d_next = int(_signed_ms(nxt - t))
            next_ok = plausible(d_next)
            skip_ok = plausible(int(_signed_ms(nxt - ref)))
            if plausible(d) and d_next != 0 and not next_ok and skip_ok:
                n_bad += 1  # a spike that the next line undoes
                continue
            if not plausible(d) and next_ok and not skip_ok:
                keep[i] = restart[i] = True  # a new timeline that the next line confirms
                ref = t
                continue
        if plausible(d) or (i + 1 == n and d > 0):
            keep[i] = True
            ref = t
        else:
            n_bad += 1
    return keep, restart, undecided, n_dup, n_bad


# --------------------------------------------------------------------------------------------
# Device


class Csv4Stats(LinkStats):
    """LinkStats plus CSV4 counters: ``duplicates`` (repeated t_ms dropped), ``overrange``
    (samples with a saturated cell), ``clock_resets`` (millis() went backwards: the board
    restarted), ``comments``."""

    def __init__(self) -> None:
        super().__init__()
        self.duplicates = 0
        self.overrange = 0
        self.clock_resets = 0
        self.comments = 0

    def to_dict(self) -> dict[str, int]:
        d = super().to_dict()
        d.update(duplicates=self.duplicates, overrange=self.overrange,
                 clock_resets=self.clock_resets, comments=self.comments)
        return d


class Csv4Device(Device):
    """A DIY CSV4 plate on a serial link.

    Opened connected and stopped: the handshake waits through an Arduino auto-reset (silence,
    garbage, banner) by asking ``?`` until the banner arrives (``boot_timeout_s``), stops the
    stream, applies the requested rate and units and reads the calibration (``k``).

    Time: the board has no time sync; ``Block.t_host_s`` maps ``millis()`` to the host clock
    through a line fitted to the lower envelope of arrival times (minus the line's transmission
    time), so blocks of a CSV4 plate share the host time base with other devices.

    Unplug and reconnect behave as in :class:`forcelab.drivers.ins1.Ins1Device`: the blocks
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

    def __init__(
        self,
        port: str,
        *,
        width_m: float = 0.40,
        length_m: float = 0.60,
        rate_hz: int | None = None,
        units: str | None = None,
        cop_threshold_n: float = 20.0,
        boot_timeout_s: float = 3.0,
        command_timeout_s: float = 0.6,
        baudrate: int = 115200,
        reconnect_interval_s: float = 0.25,
    ) -> None:
        from forcelab.drivers.transport import Transport

        for name, v in (("width_m", width_m), ("length_m", length_m)):
            if not (np.isfinite(v) and 0.05 <= v <= 5.0):
                raise DeviceError(f"CSV4 plate {name}={v} is not a plate size in m (0.05..5)")
        if rate_hz is not None and int(rate_hz) not in RATES_HZ:
            raise DeviceError(f"CSV4 rate {rate_hz} Hz is not supported; choose 10 or 80")
        if units is not None and units not in UNITS:
            raise DeviceError(f"CSV4 units {units!r}: choose 'raw' or 'N'")
        if not (np.isfinite(cop_threshold_n) and cop_threshold_n >= 0):
            raise DeviceError(f"cop_threshold_n must be >= 0 N, got {cop_threshold_n}")
        self.port = port
        self.width_m = float(width_m)
        self.length_m = float(length_m)
        self.cop_threshold_n = float(cop_threshold_n)
        self.boot_timeout_s = float(boot_timeout_s)
        self.command_timeout_s = float(command_timeout_s)
        self.baudrate = int(baudrate)
        self.reconnect_interval_s = float(reconnect_interval_s)
        self._requested_rate = int(rate_hz) if rate_hz is not None else None
        self._requested_units = units
        self.stats = Csv4Stats()
        self.parser = Csv4Parser()
        self.clock = ClockFit(keep=600, n_bins=16, min_span_s=2.0, outlier_s=0.05, gate_s=None)
        self._events: list[DeviceEvent] = []
        self._pending_t: list[np.ndarray] = []
        self._pending_c: list[np.ndarray] = []
        self._pending_a: list[np.ndarray] = []
        self._pending_k: list[np.ndarray] = []
        self._chunks = 0
        self.max_step_ms = 5000  # longer steps between lines: corrupt t_ms or a restart
        self._streaming = False
        #: While streaming, lines younger than this (s) when a read() times out wait for the
        #: next read (fewer, larger blocks for a recorder that polls often).
        self.hold_s = 0.05
        self._closed = False
        self._lost: ConnectionLost | None = None
        self._raise_pending: ConnectionLost | None = None
        self._last_reconnect_try = 0.0
        self._reset_stream_state()
        self._transport = Transport.open(port, baudrate=self.baudrate)
        try:
            self._handshake()
        except BaseException:
            self._transport.close()
            raise

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

    @property
    def connected(self) -> bool:
        """False while the link is lost or after close()."""
        return not self._closed and self._lost is None

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
        try:
            self._transport.write(text.encode("ascii") + b"\n")
        except TERMIOS_ERRORS as exc:  # tcdrain on a vanished pty: not an OSError
            raise ConnectionLost(f"serial link {self.port!r} lost during write: {exc}") from exc

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
        self.min_block_lines = max(1, self.rate_hz // 20)  # 50 ms per block
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
    def _guard(self) -> None:
        if self._closed:
            raise DeviceError(f"CSV4 device on {self.port} is closed")
        if self._lost is not None:
            raise self._lost

    def _on_lost(self, exc: ConnectionLost) -> ConnectionLost:
        self._lost = ConnectionLost(
            f"CSV4 plate {self.info.serial} on {self.port}: connection lost ({exc}). Plug it "
            f"back in; forcelab reconnects by board id."
        )
        self._events.append(DeviceEvent("unplug", self._seq, time.time(), 0, str(self._lost)))
        self._transport.close()
        return self._lost

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
        """Return the Blocks decoded within ``timeout`` s (early once 50 ms worth arrived).

        While streaming, lines received less than ``hold_s`` (50 ms) ago when the timeout ends
        wait for the next read, so a recorder polling every few ms gets 50 ms blocks; after
        stop() or an unplug every received line is returned at once.
        """
        if self._raise_pending is not None:
            exc, self._raise_pending = self._raise_pending, None
            raise exc
        if self._closed:
            raise DeviceError(f"CSV4 device on {self.port} is closed")
        if self._lost is not None:
            self._try_reconnect()
        deadline = time.monotonic() + max(0.0, float(timeout))
        try:
            while True:
                self._read_chunk(max(0.0, min(deadline - time.monotonic(), 0.05)))
                n_pending = sum(len(t) for t in self._pending_t)
                at_deadline = time.monotonic() >= deadline
                if n_pending >= self.min_block_lines or (n_pending and at_deadline and (
                        not self._streaming
                        or time.time() - float(self._pending_a[0][0]) >= self.hold_s)):
                    return self._make_blocks()
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

    def pop_events(self) -> list[DeviceEvent]:
        """Events since the last call (unplug, replug, reboot, clock reset)."""
        ev, self._events = self._events, []
        return ev

    def close(self) -> None:
        """Stop streaming (if the link is up) and release the port; safe to call twice."""
        if self._closed:
            return
        if self._lost is None and self._streaming:
            try:
                self._command("x", ("# ok stop",), timeout_s=0.2, retries=0)
            except DeviceError:
                pass
        self._streaming = False
        self._closed = True
        self._transport.close()

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
        dt = _signed_ms(np.diff(np.concatenate(([ref], t_raw))))
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
        cuts = sorted(set(np.flatnonzero(gaps > 0).tolist()) | host_gap_at)
        bounds = [0] + [c for c in cuts if c > 0] + [n]
        blocks = []
        for a, b in zip(bounds[:-1], bounds[1:], strict=True):
            g = int(gaps[a])
            if g:
                self.stats.dropped_samples += g
                self.stats.gaps += 1
            blocks.append(Block(seq=int(seq[a]), t_device_s=float(t_ms[a]) * 1e-3,
                                t_host_s=float(t_host[a]), samples=values[a:b],
                                status=STATUS_OVERRANGE if over[a:b].any() else 0,
                                gap_before=g))
        return blocks

    # -- reconnect -----------------------------------------------------------------------
    def reconnect(self, timeout_s: float = 4.0) -> bool:
        """Try to reopen the link until ``timeout_s`` passes; True when connected again."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self._try_reconnect(force=True):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _try_reconnect(self, force: bool = False) -> bool:
        from forcelab.drivers.discovery import ports_for_serial
        from forcelab.drivers.transport import Transport

        if self._lost is None:
            return True
        now = time.monotonic()
        if not force and now - self._last_reconnect_try < self.reconnect_interval_s:
            raise self._lost
        self._last_reconnect_try = now
        for path in ports_for_serial(self.info.serial, self.port):
            try:
                tr = Transport.open(path, baudrate=self.baudrate)
            except DeviceError:
                continue
            old = self._transport
            self._transport = tr
            self.parser.reset()
            try:
                banner = self._identify()
                if banner["id"] != self.info.serial:
                    raise ProtocolError("another board")
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
            except DeviceError:
                tr.close()
                self._transport = old
                continue
            self._lost = None
            self.port = path
            self.stats.reconnects += 1
            self._events.append(DeviceEvent("replug", self._seq, time.time(), 0,
                                            f"CSV4 {self.info.serial} reconnected on {path}"))
            return True
        if not force:
            raise self._lost
        return False


def _signed_ms(d: np.ndarray | int) -> np.ndarray:
    """Difference of u32 millis() values as a signed step (wraps handled)."""
    return (np.asarray(d, dtype=np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)


def _parse_url(port_url: str) -> tuple[str, dict[str, str]]:
    url = port_url
    if url.lower().startswith("csv4://"):
        url = url[len("csv4://") :]
    path, _, query = url.partition("?")
    if "://" in path:
        return url, {}
    return path, dict(urllib.parse.parse_qsl(query))


def open_csv4(port_url: str, **opts: Any) -> Csv4Device:
    """Open a CSV4 plate from ``csv4:///dev/ttyUSB1?baud=115200&width=0.4&length=0.6``.

    Options (keyword or URL query): ``baud`` (bit/s), ``width`` / ``length`` (cell spacing,
    m), ``rate`` (10 or 80 Hz), ``units`` (raw or N), ``cop_threshold`` (N), ``boot_timeout``
    (s), ``command_timeout`` (s).

    Raises
    ------
    DeviceNotFound
        The port does not exist.
    ProtocolError
        The port answers, but not as a CSV4 board.
    DeviceError
        An option is not valid.
    """
    path, query = _parse_url(port_url)
    merged: dict[str, Any] = {**query, **opts}
    conv = {"baud": ("baudrate", int), "baudrate": ("baudrate", int),
            "width": ("width_m", float), "width_m": ("width_m", float),
            "length": ("length_m", float), "length_m": ("length_m", float),
            "rate": ("rate_hz", int), "rate_hz": ("rate_hz", int), "units": ("units", str),
            "cop_threshold": ("cop_threshold_n", float),
            "cop_threshold_n": ("cop_threshold_n", float),
            "boot_timeout": ("boot_timeout_s", float),
            "boot_timeout_s": ("boot_timeout_s", float),
            "command_timeout": ("command_timeout_s", float),
            "command_timeout_s": ("command_timeout_s", float)}
    kw: dict[str, Any] = {}
    for key, value in merged.items():
        if key not in conv:
            raise DeviceError(f"CSV4: unknown option {key!r}; valid: {sorted(conv)}")
        name, fn = conv[key]
        try:
            kw[name] = fn(value)
        except (TypeError, ValueError):
            raise DeviceError(f"CSV4: option {key}={value!r} is not valid") from None
    return Csv4Device(path, **kw)
