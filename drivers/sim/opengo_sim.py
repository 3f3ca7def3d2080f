"""Simulated Moticon OpenGo live stream: OpenGo datagrams sent over real UDP.

:class:`OpenGoSender` sends one datagram per sample to ``HOST:PORT`` in real time (or ``speed``
times faster), from a real OpenGo export file (its rows as they are: a row with one foot only
sends ``nan`` for the other foot, a missing row is not sent) or from the gait model, with faults:

======================  ======================================================================
``drop:P``              per datagram: probability it is never sent
``duplicate:P``         per datagram: probability it is sent twice
``reorder:P``           per datagram: probability it is held back and sent after the next one
                        (logged when that one has gone out: a datagram still held when the
                        dropout starts or the run ends goes out in order, no reorder)
``garbage:P``           per datagram: probability a junk datagram is sent before it (text, a
                        wrong field count or a NaN timestamp, in turn)
``burst:R``             bursts per second: sending pauses ``burst_s`` (default 0.3 s), then the
                        held datagrams go out at once
``burst_s:S``           burst hold in s
``pause:T``             a prolonged dropout T s after the start: nothing is sent for
                        ``pause_s`` (default 1.5 s) and those samples are lost
``pause_s:S``           length of the dropout in s
======================  ======================================================================

Every fault is logged (:class:`~forcelab.drivers.sim.faults.FaultRecord`, ``frame`` = the row
index) so tests can compare what the driver counted. :func:`start_opengo` starts one for
``sim:opengo?file=...&faults=...`` and hands back the ``opengo-udp://`` string to open.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from forcelab.drivers.errors import DeviceError
from forcelab.drivers.opengo_codec import N_FIELDS, datagram_text, wire_order
from forcelab.drivers.sim.faults import UDP_FAULTS, FaultRecord, FaultSpec
from forcelab.drivers.sim.gait import GaitModel, insole_pressures
from forcelab.drivers.sim.ins1_sim import layout_for
from forcelab.drivers.sim.setup_base import Setup, check_unknown, setup_options

#: Junk datagrams sent by the ``garbage`` fault, in turn, and the reason a receiver gives.
JUNK = (
    (" ".join(["0.5"] * (N_FIELDS - 1) + ["overload"]).encode(), "not_numeric"),
    (" ".join(["0.5"] * (N_FIELDS - 1)).encode(), "bad_field_count"),
    (" ".join(["nan"] + ["0.5"] * (N_FIELDS - 1)).encode(), "bad_timestamp"),
)


def export_rows(path: str | Path) -> np.ndarray:
    """Rows of an OpenGo export file in datagram order.

    Returns
    -------
    ndarray, shape (n, 51)
        Timestamp (s) then 25 values per foot in wire order (NaN where the row has no data of
        that foot).

    Raises
    ------
    DeviceError
        The file cannot be read or is not an OpenGo export.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = next((ln for ln in fh if ln.startswith("# time\t")), None)
        data = np.genfromtxt(path, delimiter="\t", comments="#", dtype=float)
    except (OSError, ValueError) as exc:
        raise DeviceError(f"cannot read OpenGo file {path!r}: {exc}") from None
    if header is None or data.ndim != 2:
        raise DeviceError(f"{path!r} is not a Moticon OpenGo export (no '# time' header)")
    names = [n.strip() for n in header[1:].strip("\n").split("\t")]
    wire = []
    for side in ("left", "right"):
        wire += [f"{side} acceleration {a}[g]" for a in "XYZ"]
        wire += [f"{side} angular {a}[dps]" for a in "XYZ"]
        wire += [f"{side} center of pressure {a}[-0.5...+0.5]" for a in "XY"]
        wire += [f"{side} pressure {k}[N/cm²]" for k in range(1, 17)]
        wire.append(f"{side} total force[N]")
    try:
        cols = [names.index("time")] + [names.index(w) for w in wire]
    except ValueError as exc:
        raise DeviceError(f"{path!r} lacks an OpenGo column ({exc})") from None
    return data[:, cols]


def gait_rows(gait: GaitModel, t_s: np.ndarray) -> np.ndarray:
    """Datagram rows (n, 51) of the gait model at model times ``t_s`` (s)."""
    out = np.empty((len(t_s), N_FIELDS))
    out[:, 0] = t_s
    phase = 2 * np.pi * t_s * gait.params.mean_cadence_spm / 120.0
    for j, side in enumerate(("left", "right")):
        foot = gait.foot(side, t_s)
        lay = layout_for(side)
        p_kpa = insole_pressures(foot["fz"], foot["cop_x"], foot["cop_y"],
                                 np.array([s["x_mm"] for s in lay]),
                                 np.array([s["y_mm"] for s in lay]),
                                 np.array([s["area_mm2"] for s in lay]))
        on = foot["fz"] > 0
        acc = np.stack([0.3 * np.sin(phase), 0.8 * np.cos(phase),
                        np.where(on, 1.0, 1.0 + 0.6 * np.sin(2 * phase))], axis=1)
        gyr = np.stack([40 * np.sin(phase), 300 * np.cos(phase), 20 * np.sin(2 * phase)], 1)
        channels = np.column_stack([foot["fz"], np.nan_to_num(foot["cop_x"]),
                                    np.nan_to_num(foot["cop_y"]), p_kpa, acc, gyr])
        out[:, 1 + 25 * j: 26 + 25 * j] = wire_order(channels)
    return out


@dataclass
class UdpTarget:
    """Where a sender sends (in the place of a simulated serial port in a Setup)."""

    host: str
    port: int

    @property
    def device(self) -> str:
        """The device string that receives it."""
        return f"opengo-udp://{self.host}:{self.port}"


class OpenGoSender:
    """Sends OpenGo datagrams over UDP in a thread (see the module docstring).

    Parameters
    ----------
    host, port : str, int
        Destination.
    rows : ndarray, shape (n, 51), optional
        Datagram rows to send (timestamps in s in column 0), e.g. from :func:`export_rows`.
    gait : GaitModel, optional
        Generate rows from the model instead (endless, ``rate_hz``).
    rate_hz : float
        Rate of generated rows in Hz.
    speed : float
        Replay speed (2 = twice as fast as the timestamps say).
    unit : {"s", "ms"}
        Unit of the timestamps sent.
    faults : str or FaultSpec
    seed : int
    wait_listener_s : float
        Wait up to this long for a receiver to listen on the port before sending (so the start
        of a file is not sent into the void).
    """

    def __init__(self, host: str, port: int, *, rows: np.ndarray | None = None,
                 gait: GaitModel | None = None, rate_hz: float = 100.0, speed: float = 1.0,
                 unit: str = "s", faults: str | FaultSpec | None = None, seed: int = 0,
                 wait_listener_s: float = 10.0) -> None:
        if (rows is None) == (gait is None):
            raise DeviceError("an OpenGo sender needs either rows (a file) or a gait model")
        if unit not in ("s", "ms"):
            raise DeviceError(f"sim:opengo unit={unit!r}: s or ms")
        if not 0.1 <= speed <= 100:
            raise DeviceError(f"sim:opengo speed={speed:g}: 0.1..100")
        self.port = UdpTarget(host, int(port))
        self.rows = rows
        self.gait = gait
        self.rate_hz = float(rate_hz)
        self.speed = float(speed)
        self.unit = unit
        self.faults = (faults if isinstance(faults, FaultSpec)
                       else FaultSpec.parse(faults, UDP_FAULTS))
        self.rng = np.random.default_rng([int(seed), 0x0D60])
        self.wait_listener_s = float(wait_listener_s)
        self.log: list[FaultRecord] = []
        self.sent_rows: list[int] = []
        self.datagrams_sent = 0
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._stop = threading.Event()
        self._t0_wall: float | None = None
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._thread = threading.Thread(target=self._run, name=f"opengo-sim-{port}", daemon=True)

    @property
    def serial(self) -> str:
        """Shown by ``Setup.describe``."""
        return "opengo"

    def model_time_s(self) -> float:
        """Timestamp time (s) being sent now (0 before the start)."""
        if self._t0_wall is None:
            return 0.0
        return (time.monotonic() - self._t0_wall) * self.speed

    def start(self) -> OpenGoSender:
        """Start sending (after a receiver listens, or ``wait_listener_s``)."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop sending; re-raises an error of the thread."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        self._sock.close()
        if self.error is not None:
            err, self.error = self.error, None
            raise RuntimeError(f"OpenGo sender to port {self.port.port} failed: {err!r}") from err

    def records(self, kind: str) -> list[FaultRecord]:
        """Logged faults of one kind."""
        return [r for r in self.log if r.kind == kind]

    # -- thread ----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            _wait_for_listener(self.port.port, self.wait_listener_s, self._stop)
            self._send_all()
        except BaseException as exc:  # kept and re-raised by stop(): never swallowed
            self.error = exc
        finally:
            self.done.set()

    def _row_source(self) -> Any:
        if self.rows is not None:
            t = self.rows[:, 0]
            for k in range(len(self.rows)):
                yield k, float(t[k] - t[0]), self.rows[k]
            return
        period = 1.0 / self.rate_hz
        k = 0
        while True:
            t = (k + np.arange(50)) * period
            rows = gait_rows(self.gait, t)
            for i in range(50):
                yield k + i, float(t[i]), rows[i]
            k += 50

    def _send_all(self) -> None:
        f = self.faults
        rng = self.rng
        self._t0_wall = t0 = time.monotonic()
        held: list[tuple[int, bytes]] = []  # burst
        reorder: tuple[int, bytes, float] | None = None  # held back: (row, datagram, wall)
        burst_until = -1.0
        last_check = 0.0
        junk_turn = 0
        for k, t_rel, row in self._row_source():
            due = t0 + t_rel / self.speed
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= due:
                    break
                self._stop.wait(min(due - now, 0.05))
            if self._stop.is_set():
                return
            wall = time.monotonic() - t0
            if f.burst and burst_until < wall:
                if rng.random() < f.burst * max(0.0, wall - last_check):
                    burst_until = wall + f.burst_s
                    self.log.append(FaultRecord("burst", k, t_s=wall,
                                                detail={"burst_s": f.burst_s}))
            last_check = wall
            if f.pause is not None and f.pause <= wall < f.pause + f.pause_s:
                if reorder is not None:  # no datagram follows it before the dropout
                    held.append(reorder[:2])
                    reorder = None
                    if wall >= burst_until:
                        self._send(held)
                        held = []
                self.log.append(FaultRecord("pause", k, seq=k, n=1, t_s=wall))
                continue
            if f.drop and rng.random() < f.drop:
                self.log.append(FaultRecord("drop", k, seq=k, n=1, t_s=wall))
                continue
            ts = row[0] * (1000.0 if self.unit == "ms" else 1.0)
            text = datagram_text(ts, row[1:26], row[26:51], 1 if self.unit == "ms" else 3)
            out: list[tuple[int, bytes]] = []
            if f.garbage and rng.random() < f.garbage:
                junk, reason = JUNK[junk_turn % len(JUNK)]
                junk_turn += 1
                self.log.append(FaultRecord("garbage", k, t_s=wall, detail={"reason": reason}))
                out.append((-1, junk))
            if reorder is None and f.reorder and rng.random() < f.reorder:
                reorder = (k, text, wall)
            else:
                out.append((k, text))
                if f.duplicate and rng.random() < f.duplicate:
                    self.log.append(FaultRecord("duplicate", k, seq=k, n=1, t_s=wall))
                    out.append((k, text))
                if reorder is not None:  # sent after this one: a reorder
                    held_k, held_text, held_wall = reorder
                    self.log.append(FaultRecord("reorder", held_k, seq=held_k, n=1,
                                                t_s=held_wall))
                    out.append((held_k, held_text))
                    reorder = None
            if wall < burst_until:
                held += out
                continue
            self._send(held + out)
            held = []
        self._send(held + ([reorder[:2]] if reorder is not None else []))  # in order

    def _send(self, items: list[tuple[int, bytes]]) -> None:
        for k, payload in items:
            try:
                self._sock.sendto(payload, (self.port.host, self.port.port))
            except ConnectionRefusedError:
                pass  # an ICMP "port unreachable" from an earlier datagram: UDP goes on
            self.datagrams_sent += 1
            if k >= 0:
                self.sent_rows.append(k)


def _wait_for_listener(port: int, timeout_s: float, stop: threading.Event) -> None:
    """Wait until a UDP socket is bound to ``port`` on this machine (Linux ``/proc/net/udp``),
    at most ``timeout_s``; elsewhere wait 0.5 s."""
    deadline = time.monotonic() + timeout_s
    tables = [Path("/proc/net/udp"), Path("/proc/net/udp6")]
    if not any(t.exists() for t in tables):
        stop.wait(min(0.5, timeout_s))
        return
    want = f":{port:04X}"
    while time.monotonic() < deadline and not stop.is_set():
        for table in tables:
            try:
                lines = table.read_text().splitlines()[1:]
            except OSError:
                continue
            if any(ln.split()[1].endswith(want) for ln in lines if len(ln.split()) > 1):
                return
        stop.wait(0.02)


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


SIM_OPTIONS = ("file", "port", "host", "speed", "unit", "rate", "faults", "name")


def start_opengo(options: dict[str, Any] | None = None) -> Setup:
    """Start a simulated OpenGo stream (``sim:opengo?...``).

    Options: ``file`` (an OpenGo export to replay; default the gait model with the common gait
    options, ``mode=walk`` unless given), ``host`` (default 127.0.0.1) and ``port`` (default a
    free one), ``speed`` (replay speed), ``unit`` (s or ms timestamps), ``rate`` (Hz of the gait
    model, default 100), ``faults`` (see the module docstring), ``seed``.

    Raises
    ------
    DeviceError
        Unknown option, a bad value, or a file that is not an OpenGo export.
    """
    opts, gait, seed = setup_options(options, {"mode": "walk"})
    file = opts.pop("file", None)
    host = str(opts.pop("host", "127.0.0.1"))
    try:
        port = int(opts.pop("port", 0)) or _free_udp_port()
        speed = float(opts.pop("speed", 1.0))
        rate = float(opts.pop("rate", 100.0))
    except ValueError:
        raise DeviceError("sim:opengo port, speed and rate must be numbers") from None
    unit = str(opts.pop("unit", "s"))
    faults = opts.pop("faults", None)
    opts.pop("name", None)
    check_unknown("opengo", opts, SIM_OPTIONS)
    rows = export_rows(file) if file else None
    sender = OpenGoSender(host, port, rows=rows, gait=None if file else gait, rate_hz=rate,
                          speed=speed, unit=unit, faults=faults, seed=seed).start()
    url = sender.port.device + ("" if rate == 100.0 else f"?rate={rate:g}")
    return Setup("opengo", [sender.port.device], [url], [sender], gait, dict(options or {}))

