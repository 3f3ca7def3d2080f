"""Simulated INS1 insoles: the firmware's byte behaviour behind real ptys, paced in real time.

- :class:`Ins1Firmware` is the device: it parses command frames and answers exactly as the
  protocol says (GET_INFO, GET_LAYOUT, SET_RATE, START, STOP, ZERO, SET_WEIGHT, TIME_SYNC,
  GET_STATUS; unknown commands get UNSUPPORTED), sends BOOT at power-up, and produces SAMPLE
  frames on its own drifting device clock (``drift_ppm``) from the :class:`GaitModel`: the foot's
  vertical force is spread over the 16 sensors of the layout (:func:`insole_pressures`), the
  pressures are quantised to 2.5 kPa and the device total ``f_total`` is Σ p·A of the quantised
  pressures (as a device summing its own readings), so host-side cross-checks agree.
- :class:`SimRunner` paces one or more simulated devices on a background thread: it reads
  commands from each pty, answers at once, emits samples when their model time has come, and
  applies the seeded faults of :mod:`forcelab.drivers.sim.faults` (bit flips, garbage,
  truncation, duplicates, drops, stalls then bursts, clock jumps, unplug and replug).
- :func:`start_insoles` starts a left + right pair (same pair id) and returns an
  :class:`InsoleSetup` (ports, device strings, ground truth, ``close()``).

Ground truth: every SAMPLE a firmware generated is kept (``Ins1Firmware.sent``: seq, device
time, raw values, the frame id given to the fault injector), the model's true stances come from
``setup.gait.stances()``, and model time 0 is host time ``setup.t0_host_s``.
"""

from __future__ import annotations

import select
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from forcelab.drivers import ins1
from forcelab.drivers.errors import DeviceError
from forcelab.drivers.sim.faults import FaultInjector, FaultSpec
from forcelab.drivers.sim.gait import GaitModel, GaitParams, insole_pressures
from forcelab.drivers.sim.pty import SimPort, free_name

#: Default sensor layout of the right insole (mm from the heel centre, +x toward the wearer's
#: right, +y toward the toes); the left insole is its mirror image (x -> -x).
RIGHT_LAYOUT: list[dict[str, Any]] = [
    {"x_mm": -14, "y_mm": 0, "area_mm2": 600, "region": "heel-med"},
    {"x_mm": 14, "y_mm": 0, "area_mm2": 600, "region": "heel-lat"},
    {"x_mm": -12, "y_mm": 30, "area_mm2": 500, "region": "heel-med"},
    {"x_mm": 14, "y_mm": 32, "area_mm2": 500, "region": "heel-lat"},
    {"x_mm": 22, "y_mm": 70, "area_mm2": 450, "region": "midfoot-lat"},
    {"x_mm": 24, "y_mm": 100, "area_mm2": 450, "region": "midfoot-lat"},
    {"x_mm": -8, "y_mm": 85, "area_mm2": 400, "region": "midfoot-med"},
    {"x_mm": -26, "y_mm": 150, "area_mm2": 550, "region": "MTH1"},
    {"x_mm": -4, "y_mm": 158, "area_mm2": 550, "region": "MTH2-3"},
    {"x_mm": 18, "y_mm": 150, "area_mm2": 550, "region": "MTH4-5"},
    {"x_mm": 30, "y_mm": 135, "area_mm2": 450, "region": "MTH4-5"},
    {"x_mm": -30, "y_mm": 185, "area_mm2": 500, "region": "hallux"},
    {"x_mm": -22, "y_mm": 205, "area_mm2": 450, "region": "hallux"},
    {"x_mm": -2, "y_mm": 195, "area_mm2": 400, "region": "toes2-5"},
    {"x_mm": 14, "y_mm": 188, "area_mm2": 400, "region": "toes2-5"},
    {"x_mm": 26, "y_mm": 176, "area_mm2": 350, "region": "toes2-5"},
]


def layout_for(side: str) -> list[dict[str, Any]]:
    """The default layout of the ``"left"`` or ``"right"`` insole."""
    if side == "right":
        return [dict(s) for s in RIGHT_LAYOUT]
    return [dict(s, x_mm=-s["x_mm"]) for s in RIGHT_LAYOUT]


SENT_DTYPE = np.dtype(
    [("frame", "<i8"), ("seq", "<i8"), ("seq16", "<u2"), ("t_dev_us", "<u4"),
     ("t_model_s", "<f8"), ("f_total", "<u2"), ("p", "<u2", (16,))]
)
"""What each generated SAMPLE carried (ground truth for tests)."""


class Ins1Firmware:
    """One INS1 insole's firmware (no I/O: bytes in, frames out).

    Parameters
    ----------
    side : {"left", "right"}
    serial : str
        Serial number (12 characters at most).
    pair_id : int
        Pair id shared by both insoles of a pair.
    gait : GaitModel
        Where the forces come from.
    rate_hz : int
        Initial rate (25, 50, 100, 200).
    drift_ppm : float
        Device crystal error: device seconds per model second − 1, × 1e6.
    clock_start_s : float
        Device clock at boot (s); the u32 µs counter wraps every 4294.97 s.
    sensor_fault : int or None
        Index (0..15) of a sensor that reports 0xFFFF.
    """

    def __init__(
        self,
        side: str,
        serial: str,
        pair_id: int,
        gait: GaitModel,
        *,
        rate_hz: int = 100,
        drift_ppm: float = 0.0,
        clock_start_s: float = 0.0,
        sensor_fault: int | None = None,
        size_code: int = 42,
        firmware: str = "1.2.0",
    ) -> None:
        if side not in ("left", "right"):
            raise DeviceError(f"insole side must be 'left' or 'right', not {side!r}")
        if rate_hz not in ins1.RATES_HZ:
            raise DeviceError(f"INS1 rate {rate_hz} Hz: choose one of {ins1.RATES_HZ}")
        self.info = ins1.Ins1Info(side, int(pair_id), size_code, serial[:12], firmware, 16,
                                  int(rate_hz), 2.5, 1 / 4096, 0.1)
        self.layout = layout_for(side)
        self._x = np.array([s["x_mm"] for s in self.layout], float)
        self._y = np.array([s["y_mm"] for s in self.layout], float)
        self._area = np.array([s["area_mm2"] for s in self.layout], float)
        self.gait = gait
        self.drift_ppm = float(drift_ppm)
        self.clock_start_s = float(clock_start_s)
        self.sensor_fault = sensor_fault
        self.codec = ins1.Ins1Codec()
        self.sent_chunks: list[np.ndarray] = []
        self.commands: list[int] = []
        self.samples_dropped = 0
        self.battery_pct = 87
        self._zero_raw = np.zeros(16, dtype=np.int64)
        self._offset_raw = (np.arange(16) % 3).astype(np.int64)  # unzeroed sensor offsets
        self.reboot(0.0)

    # -- clock ---------------------------------------------------------------------------
    def reboot(self, t_model_s: float) -> None:
        """Power-up at model time ``t_model_s``: clock restarts, streaming off, seq 0."""
        self.t_boot_model_s = float(t_model_s)
        self.clock_jump_us = 0
        self.streaming = False
        self.seq = 0
        self.flags = 0
        self.weight_scale = 1.0
        self.overflow = False
        self._next_k = 0
        self._t_start_model = 0.0

    def device_us(self, t_model_s: float) -> int:
        """Device clock (unwrapped µs) at model time ``t_model_s``."""
        crystal = (t_model_s - self.t_boot_model_s) * (1.0 + self.drift_ppm * 1e-6)
        return int(round((self.clock_start_s + crystal) * 1e6)) + self.clock_jump_us

    def boot_frame(self) -> bytes:
        """The BOOT frame sent at power-up."""
        return ins1.encode_frame(ins1.BOOT, self.info.pack())

    # -- commands ------------------------------------------------------------------------
    def handle(self, data: bytes, t_model_s: float) -> list[bytes]:
        """Feed bytes from the host; return the reply frames (in order)."""
        out = []
        for fr in self.codec.feed(data):
            if not fr.payload:
                continue
            token = fr.payload[0]
            self.commands.append(fr.type)
            status, body = self._command(fr.type, fr.payload[1:], t_model_s)
            out.append(ins1.encode_frame(fr.type | ins1.REPLY, bytes([token, status]) + body))
        return out

    def _command(self, ctype: int, arg: bytes, t: float) -> tuple[int, bytes]:
        info = self.info
        if ctype == ins1.GET_INFO:
            return 0, info.pack()
        if ctype == ins1.GET_LAYOUT:
            return 0, ins1.pack_layout(self.layout)
        if ctype == ins1.SET_RATE:
            if len(arg) < 2:
                return 1, b""
            (hz,) = struct.unpack_from("<H", arg)
            if self.streaming:
                return 2, b""
            if hz not in ins1.RATES_HZ:
                return 1, b""
            info.rate_hz = hz
            return 0, struct.pack("<H", hz)
        if ctype == ins1.START:
            if self.streaming:
                return 2, b""
            self.streaming = True
            self._t_start_model = t
            self._next_k = 0
            return 0, struct.pack("<I", self.device_us(t) % (1 << 32))
        if ctype == ins1.STOP:
            self.streaming = False
            return 0, struct.pack("<H", (self.seq - 1) % 65536)
        if ctype == ins1.ZERO:
            if self._true_force(np.array([t]))[0] > 20.0:
                return 2, b""  # foot loaded: refuse
            self._zero_raw = self._offset_raw.copy()
            self.flags |= ins1.FLAG_ZEROED
            return 0, struct.pack("<16H", *self._zero_raw.tolist())
        if ctype == ins1.SET_WEIGHT:
            if len(arg) < 4:
                return 1, b""
            (w,) = struct.unpack_from("<f", arg)
            if not np.isfinite(w) or w <= 0:
                return 1, b""
            self.weight_scale = float(w) / self.gait.params.body_weight_n
            self.flags |= ins1.FLAG_WEIGHT_CALIBRATED
            return 0, struct.pack("<f", self.weight_scale)
        if ctype == ins1.TIME_SYNC:
            if len(arg) < 8:
                return 1, b""
            (host_ns,) = struct.unpack_from("<Q", arg)
            rx = self.device_us(t) % (1 << 32)
            tx = (rx + 15) % (1 << 32)
            return 0, struct.pack("<QII", host_ns, rx, tx)
        if ctype == ins1.GET_STATUS:
            return 0, struct.pack("<BBbI", self.battery_pct, 0, -58, self.samples_dropped)
        return 3, b""

    # -- samples -------------------------------------------------------------------------
    @property
    def period_model_s(self) -> float:
        """Sample period in model seconds (the crystal runs fast or slow)."""
        return 1.0 / self.info.rate_hz / (1.0 + self.drift_ppm * 1e-6)

    def next_sample_model_s(self) -> float:
        """Model time of the next sample (inf when not streaming)."""
        if not self.streaming:
            return np.inf
        return self._t_start_model + self._next_k * self.period_model_s

    def _true_force(self, t: np.ndarray) -> np.ndarray:
        return self.gait.foot(self.info.side, t)["fz"]

    def samples_due(self, t_model_s: float) -> tuple[np.ndarray, np.ndarray]:
        """Generate the samples whose time has come: (structured SAMPLE array, model times)."""
        if not self.streaming:
            return np.zeros(0, ins1.SAMPLE_DTYPE), np.zeros(0)
        k_end = int(np.floor((t_model_s - self._t_start_model) / self.period_model_s)) + 1
        if k_end <= self._next_k:
            return np.zeros(0, ins1.SAMPLE_DTYPE), np.zeros(0)
        k = np.arange(self._next_k, k_end)
        self._next_k = k_end
        t = self._t_start_model + k * self.period_model_s
        foot = self.gait.foot(self.info.side, t)
        fz = foot["fz"] * self.weight_scale
        p_kpa = insole_pressures(fz, foot["cop_x"], foot["cop_y"], self._x, self._y, self._area)
        raw = np.rint(p_kpa / self.info.p_lsb_kpa).astype(np.int64)
        if not self.flags & ins1.FLAG_ZEROED:
            raw = raw + self._offset_raw
        raw = np.clip(raw, 0, 0xFFFE)
        valid = np.ones(16, bool)
        if self.sensor_fault is not None:
            raw[:, self.sensor_fault] = ins1.SENSOR_FAULT
            valid[self.sensor_fault] = False
        f_sum = (raw[:, valid] * self.info.p_lsb_kpa) @ (self._area[valid] * 1e-3)
        n = len(k)
        s = np.zeros(n, ins1.SAMPLE_DTYPE)
        s["side"] = ord("L" if self.info.side == "left" else "R")
        seq = self.seq + np.arange(n)
        s["seq"] = seq % 65536
        dev_us = np.array([self.device_us(x) for x in t], dtype=np.int64)
        s["t_dev_us"] = dev_us % (1 << 32)
        s["p"] = raw
        phase = 2 * np.pi * t * self.gait.params.mean_cadence_spm / 120.0
        on = fz > 0
        acc = np.stack([0.3 * np.sin(phase), 0.8 * np.cos(phase),
                        np.where(on, 1.0, 1.0 + 0.6 * np.sin(2 * phase))], axis=1)
        s["acc"] = np.clip(np.rint(acc * 4096), -32768, 32767)
        gyr = np.stack([40 * np.sin(phase), 300 * np.cos(phase), 20 * np.sin(2 * phase)], 1)
        s["gyr"] = np.clip(np.rint(gyr * 10), -32768, 32767)
        s["f_total"] = np.clip(np.rint(f_sum / ins1.F_TOTAL_LSB_N), 0, 0xFFFF)
        cop = np.stack([foot["cop_x"], foot["cop_y"]], axis=1)
        s["cop"] = np.rint(np.nan_to_num(cop) / ins1.COP_LSB)
        s["battery_pct"] = self.battery_pct
        flags = self.flags | (ins1.FLAG_SENSOR_FAULT if self.sensor_fault is not None else 0)
        s["flags"] = flags
        if self.overflow:
            s["flags"][0] |= ins1.FLAG_BUFFER_OVERFLOW
            self.overflow = False
        self.seq += n
        return s, t

    def record_sent(self, s: np.ndarray, t: np.ndarray, frame_ids: np.ndarray,
                    seq: np.ndarray) -> None:
        """Keep the ground truth of generated samples."""
        rec = np.zeros(len(s), SENT_DTYPE)
        rec["frame"] = frame_ids
        rec["seq"] = seq
        rec["seq16"] = s["seq"]
        rec["t_dev_us"] = s["t_dev_us"]
        rec["t_model_s"] = t
        rec["f_total"] = s["f_total"]
        rec["p"] = s["p"]
        self.sent_chunks.append(rec)

    @property
    def sent(self) -> np.ndarray:
        """Every SAMPLE generated so far (:data:`SENT_DTYPE`)."""
        if not self.sent_chunks:
            return np.zeros(0, SENT_DTYPE)
        return np.concatenate(self.sent_chunks)


# --------------------------------------------------------------------------------------------
# Real-time runner (shared with the CSV4 simulator)


@dataclass
class SimDevice:
    """One simulated device behind one pty, as the runner drives it.

    ``firmware`` must offer ``handle(bytes, t_model_s) -> list[bytes]``,
    ``next_sample_model_s()``, ``reboot(t_model_s)``, ``boot_frame()``, ``streaming`` and a
    ``frames_due(t_model_s, dev) -> list[(bytes, frame_id, seq, n)]`` (see :class:`Ins1Frames`).
    """

    port: SimPort
    firmware: Any
    faults: FaultInjector
    unplugged_at: float | None = None
    replugged_at: float | None = None
    stream_started_at: float | None = None
    stalled_until: float = -np.inf
    backlog: list[bytes] = field(default_factory=list)
    frame_counter: int = 0
    last_seq_before_unplug: int | None = None
    reply_frames: int = 0


class Ins1Frames:
    """Adapter: turns an :class:`Ins1Firmware`'s due samples into one frame per sample."""

    def __init__(self, fw: Ins1Firmware) -> None:
        self.fw = fw

    def __getattr__(self, name: str) -> Any:
        return getattr(self.fw, name)

    def frames_due(self, t_model_s: float, dev: SimDevice) -> list[tuple[bytes, int, int, int]]:
        """(frame bytes, frame id, first seq, n) per SAMPLE due; ground truth recorded."""
        seq0 = self.fw.seq
        s, t = self.fw.samples_due(t_model_s)
        if not len(s):
            return []
        payloads = ins1.encode_samples(s)
        seq = seq0 + np.arange(len(s))
        ids = dev.frame_counter + np.arange(len(s))
        dev.frame_counter += len(s)
        self.fw.record_sent(s, t, ids, seq)
        return [(ins1.encode_frame(ins1.SAMPLE, p), int(i), int(q), 1)
                for p, i, q in zip(payloads, ids.tolist(), seq.tolist(), strict=True)]


class SimRunner:
    """Pace simulated devices in real time on one background thread.

    Model time 0 is ``t0_host_s`` (host ``time.time()``) / ``t0_mono_s`` (monotonic). The thread
    wakes when a sample is due or a command arrives (at least every ``tick_s``).
    """

    def __init__(self, devices: list[SimDevice], tick_s: float = 0.004) -> None:
        self.devices = devices
        self.tick_s = float(tick_s)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.t0_mono_s = time.monotonic()
        self.t0_host_s = time.time()
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def model_time(self) -> float:
        """Current model time in s."""
        return time.monotonic() - self.t0_mono_s

    def start(self) -> None:
        """Start the pacing thread."""
        for d in self.devices:
            d.port.write(d.firmware.boot_frame())
        self._thread = threading.Thread(target=self._run, name="forcelab-sim", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (ports stay open)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)

    def _run(self) -> None:
        try:
            last = self.model_time()
            while not self._stop.is_set():
                t = self.model_time()
                dt = max(t - last, 0.0)
                last = t
                with self._lock:
                    for d in self.devices:
                        self._step(d, t, dt)
                nxt = min((d.firmware.next_sample_model_s() for d in self.devices),
                          default=np.inf)
                wait = min(self.tick_s, max(0.0, nxt - self.model_time()))
                fds = [d.port.fileno() for d in self.devices if d.port.plugged]
                fds = [f for f in fds if f >= 0]
                if fds and wait > 0:
                    try:
                        select.select(fds, [], [], wait)
                    except (OSError, ValueError):
                        time.sleep(wait)
                elif wait > 0:
                    time.sleep(wait)
        except BaseException as exc:  # noqa: BLE001 - surfaced to the owner via .error
            self.error = exc
            raise

    def _send(self, d: SimDevice, data: bytes, t: float) -> None:
        if t < d.stalled_until or d.backlog:
            d.backlog.append(data)
            if t >= d.stalled_until:
                burst = b"".join(d.backlog)
                d.backlog.clear()
                self._write(d, burst)
            return
        self._write(d, data)

    def _write(self, d: SimDevice, data: bytes) -> None:
        if data and not d.port.write(data):
            fw = d.firmware
            fw.samples_dropped += 1
            fw.overflow = True

    def _step(self, d: SimDevice, t: float, dt: float) -> None:
        fw = d.firmware
        spec: FaultSpec = d.faults.spec
        if not d.port.plugged:
            if d.unplugged_at is not None and spec.replug is not None and \
                    t >= d.unplugged_at + spec.replug:
                d.port.replug()
                d.replugged_at = t
                d.faults.note("replug", t_s=t)
                fw.reboot(t)
                d.port.write(fw.boot_frame())
            return
        if hasattr(fw, "on_open") and d.port.poll_opened():
            fw.on_open(t)
        data = d.port.read()
        if data:
            for reply in fw.handle(data, t):
                d.reply_frames += 1
                self._send(d, d.faults.frame(reply, -d.reply_frames, t_s=t), t)
        if fw.streaming and d.stream_started_at is None:
            d.stream_started_at = t
        if fw.streaming and dt > 0:
            stall = d.faults.stall(dt, t)
            if stall:
                d.stalled_until = t + stall
            jump = d.faults.clock_jump(dt, t)
            if jump:
                fw.clock_jump_us += int(round(jump * 1e6))
        for frame, frame_id, seq, n in fw.frames_due(t, d):
            self._send(d, d.faults.frame(frame, frame_id, seq=seq, n=n, t_s=t), t)
        if t >= d.stalled_until and d.backlog:
            self._send(d, b"", t)
        d.port.pump()
        if spec.unplug is not None and d.unplugged_at is None and \
                d.stream_started_at is not None and t >= d.stream_started_at + spec.unplug:
            d.last_seq_before_unplug = fw.seq - 1
            d.port.unplug()
            d.unplugged_at = t
            d.faults.note("unplug", t_s=t, seq=fw.seq - 1)

    def close(self) -> None:
        """Stop the thread and close every port."""
        self.stop()
        for d in self.devices:
            d.port.close()


# --------------------------------------------------------------------------------------------
# Setup


def _opt(options: dict[str, Any], name: str, default: Any, conv: Any) -> Any:
    v = options.get(name, default)
    if v is None:
        return None
    try:
        return conv(v)
    except (TypeError, ValueError):
        raise DeviceError(f"simulated insoles: option {name}={v!r} is not valid") from None


class InsoleSetup:
    """A running pair of simulated INS1 insoles.

    Attributes
    ----------
    ports : list of SimPort
        Left then right.
    urls : list of str
        Device strings ``ins1://<path>`` for the drivers.
    firmwares : dict
        ``{"left": Ins1Firmware, "right": Ins1Firmware}``.
    devices : list of SimDevice
        Runner state per port (fault injector, unplug times, ...).
    gait : GaitModel
        The gait (true stances via ``gait.stances()``; model time 0 = ``t0_host_s``).
    """

    name = "insoles"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        opts = dict(options or {})
        known = {"speed", "mode", "strike", "body_mass", "asymmetry", "contact_asymmetry",
                 "cadence", "seed", "faults", "rate", "drift_ppm", "drift_ppm_right",
                 "clock_start_s", "sensor_fault", "pair_id", "fault_side", "name", "variability",
                 "start_s"}
        unknown = sorted(set(opts) - known)
        if unknown:
            raise DeviceError(f"sim:insoles does not know option(s) {unknown}; "
                              f"valid: {sorted(known)}")
        seed = _opt(opts, "seed", 0, int)
        try:
            params = GaitParams(
                mode=_opt(opts, "mode", "run", str),
                speed_m_s=_opt(opts, "speed", 3.0, float),
                strike=_opt(opts, "strike", "rear", str),
                body_mass_kg=_opt(opts, "body_mass", 70.0, float),
                asymmetry=_opt(opts, "asymmetry", 0.0, float),
                contact_asymmetry=_opt(opts, "contact_asymmetry", 0.0, float),
                cadence_spm=_opt(opts, "cadence", None, float),
                variability=_opt(opts, "variability", 0.02, float),
                start_s=_opt(opts, "start_s", 0.5, float),
            )
        except ValueError as exc:
            raise DeviceError(f"sim:insoles: {exc}") from None
        self.gait = GaitModel(params, seed=seed)
        rate = _opt(opts, "rate", 100, int)
        drift_l = _opt(opts, "drift_ppm", 60.0, float)
        drift_r = _opt(opts, "drift_ppm_right", -0.5 * drift_l, float)
        clock_start = _opt(opts, "clock_start_s", None, float)
        sensor_fault = _opt(opts, "sensor_fault", None, int)
        if sensor_fault is not None and not 0 <= sensor_fault < 16:
            raise DeviceError(f"sensor_fault must be a sensor index 0..15, not {sensor_fault}")
        pair_id = _opt(opts, "pair_id", 0x5EED0000 + seed % 0xFFFF, int)
        fault_side = _opt(opts, "fault_side", "both", str)
        if fault_side not in ("left", "right", "both"):
            raise DeviceError(f"fault_side must be left, right or both, not {fault_side!r}")
        spec = FaultSpec.parse(opts.get("faults"))
        base = _opt(opts, "name", "ins1", str)
        rng = np.random.default_rng([seed, 0x1251])
        self.firmwares: dict[str, Ins1Firmware] = {}
        self.devices: list[SimDevice] = []
        self.ports: list[SimPort] = []
        try:
            for k, side in enumerate(("left", "right")):
                serial = f"INS{seed % 10000:04d}{'LR'[k]}{pair_id % 1000:03d}"[:12]
                start = clock_start if clock_start is not None else float(rng.uniform(10, 3000))
                fw = Ins1Firmware(side, serial, pair_id, self.gait, rate_hz=rate,
                                  drift_ppm=drift_l if side == "left" else drift_r,
                                  clock_start_s=start,
                                  sensor_fault=sensor_fault if side == "left" else None)
                self.firmwares[side] = fw
                port = SimPort(free_name(f"{base}-{side}"),
                               description=f"forcelab simulated INS1 insole ({side})",
                               serial_number=serial, pid=0xF0C1)
                port.open()
                self.ports.append(port)
                f_spec = spec if fault_side in (side, "both") else FaultSpec()
                self.devices.append(SimDevice(port, Ins1Frames(fw),
                                              FaultInjector(f_spec, seed=seed * 2 + k)))
        except BaseException:
            for p in self.ports:
                p.close()
            raise
        self.runner = SimRunner(self.devices)
        self.runner.start()

    @property
    def urls(self) -> list[str]:
        """Device strings of the left and right insole."""
        return [f"ins1://{p.device}" for p in self.ports]

    @property
    def t0_host_s(self) -> float:
        """Host time (``time.time()``) of model time 0."""
        return self.runner.t0_host_s

    def describe(self) -> list[str]:
        """One line per port for ``forcelab simulate``."""
        return [f"{p.device}  INS1 {fw.info.side} insole  serial {fw.info.serial}  "
                f"pair {fw.info.pair_id:#x}  {fw.info.rate_hz} Hz"
                for p, fw in zip(self.ports, self.firmwares.values(), strict=True)]

    def truth(self) -> dict[str, Any]:
        """Ground truth: true stances (host times), parameters and per-foot sent samples."""
        t0 = self.t0_host_s
        return {
            "params": self.gait.params.to_dict(),
            "stances": [dict(s.to_dict(), start_host_s=t0 + s.start_s,
                             end_host_s=t0 + s.end_s) for s in self.gait.stances()],
            "sent": {side: fw.sent for side, fw in self.firmwares.items()},
            "faults": {d.port.name: d.faults.log for d in self.devices},
        }

    def close(self) -> None:
        """Stop the simulators and remove their ports; idempotent."""
        self.runner.close()

    def __enter__(self) -> InsoleSetup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_insoles(options: dict[str, Any] | None = None) -> InsoleSetup:
    """Start a simulated INS1 pair (see :class:`InsoleSetup`); options as in ``sim:insoles?...``.

    Options: speed (m/s), mode (run/walk), strike (rear/mid/fore), body_mass (kg), asymmetry,
    contact_asymmetry, cadence (steps/min), variability, start_s, seed, faults (see
    :mod:`forcelab.drivers.sim.faults`), fault_side (left/right/both), rate (Hz), drift_ppm
    (left foot; right defaults to −½ of it), drift_ppm_right, clock_start_s, sensor_fault
    (sensor index on the left insole reporting 0xFFFF), pair_id, name (port name prefix).
    """
    return InsoleSetup(options)

