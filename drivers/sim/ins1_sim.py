"""Simulated INS1 insoles: the firmware's byte behaviour behind real ptys, paced in real time.

- :class:`Ins1Simulator` is the device (a :class:`~forcelab.drivers.sim.base.Simulator`,
  paced in real time on its drifting crystal with the base's fault injection). It parses
  command frames and answers as the protocol says (GET_INFO, GET_LAYOUT, SET_RATE, START,
  STOP, ZERO, SET_WEIGHT, TIME_SYNC, GET_STATUS; unknown commands get UNSUPPORTED), sends BOOT
  at power-up and produces SAMPLE frames from the :class:`GaitModel`: the foot's vertical
  force is spread over the 16 sensors of the layout (:func:`insole_pressures`), pressures are
  quantised to 2.5 kPa and the device total ``f_total`` is Σ p·A of the quantised pressures
  (a device summing its own readings), so host-side cross-checks agree.
- :func:`start_insoles` starts a left + right pair (same pair id) and returns an
  :class:`InsoleSetup` (ports, device strings, ground truth, ``close()``).

Ground truth: every SAMPLE a simulator generated is kept (``Ins1Simulator.sent``: seq, device
time, raw values, the frame id given to the fault injector), the model's true stances come from
``setup.gait.stances()``, and model time 0 is host time ``setup.t0_host_s``.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
from forcelab.drivers.errors import DeviceError
from forcelab.drivers.protocols import ins1
from forcelab.drivers.sim.base import Simulator
from forcelab.drivers.sim.faults import FaultSpec
from forcelab.drivers.sim.gait import GaitModel, insole_pressures
from forcelab.drivers.sim.pty import SimPort, free_name
from forcelab.drivers.sim.setup_base import (
    Setup,
    check_unknown,
    num_option,
    setup_options,
    start_together,
    stop_all,
)

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


def load_opengo(path: str) -> dict[str, dict[str, Any]]:
    """Read a Moticon OpenGo export (tab-separated, ``#`` header) for insole playback.

    Returns per side (``"left"``, ``"right"``): ``p`` (n, 16) pressures in N/cm², ``acc``
    (n, 3) g, ``gyr`` (n, 3) deg/s, ``f`` (n,) total force N, ``cop`` (n, 2) normalised,
    ``valid`` (n,) rows that have data for this side, ``rate_hz`` and ``area_mm2`` (16,): the
    sensor areas for which Σ p·A reproduces the exported total force (least squares), so a
    played-back insole passes the driver's cross-check like the real one.

    Raises
    ------
    DeviceError
        The file is missing or is not an OpenGo export.
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            header = None
            for line in fh:
                if not line.startswith("#"):
                    break
                if "\t" in line and "time" in line:
                    header = line.lstrip("#").strip("\n").split("\t")
        data = np.genfromtxt(path, delimiter="\t", comments="#", dtype=float)
    except (OSError, ValueError) as exc:
        raise DeviceError(f"cannot read insole playback file {path!r}: {exc}") from None
    if header is None or data.ndim != 2 or data.shape[1] < len(header) - 2:
        raise DeviceError(f"{path!r} is not a Moticon OpenGo export (no '# time ...' header)")
    names = [h.strip() for h in header]

    def cols(prefix: str) -> list[int]:
        return [i for i, n in enumerate(names) if n.startswith(prefix)]

    t = data[:, names.index("time")]
    dt = np.diff(t[np.isfinite(t)])
    rate = float(np.round(1.0 / np.median(dt))) if dt.size else 100.0
    out: dict[str, dict[str, Any]] = {}
    for side in ("left", "right"):
        pc = [names.index(f"{side} pressure {k}[N/cm²]") for k in range(1, 17)]
        ac, gc = cols(f"{side} acceleration"), cols(f"{side} angular")
        fc = names.index(f"{side} total force[N]")
        cc = cols(f"{side} center of pressure")
        p, f = data[:, pc], data[:, fc]
        valid = np.isfinite(p).all(axis=1) & np.isfinite(f)
        if valid.sum() < 20:
            raise DeviceError(f"{path!r} has no {side} insole data to play back")
        area_cm2, *_ = np.linalg.lstsq(p[valid], f[valid], rcond=None)
        out[side] = {
            "p": np.nan_to_num(p), "acc": np.nan_to_num(data[:, ac]),
            "gyr": np.nan_to_num(data[:, gc]), "f": np.nan_to_num(f),
            "cop": np.nan_to_num(data[:, cc]), "valid": valid, "rate_hz": rate,
            "area_mm2": np.clip(np.round(area_cm2 * 100.0), 1, 65535).astype(int),
        }
    return out



class Ins1Simulator(Simulator):
    """One simulated INS1 insole: the firmware's byte behaviour on a :class:`SimPort`.

    Parameters
    ----------
    port : SimPort
        Its simulated serial port.
    side : {"left", "right"}
    serial : str
        Serial number (12 characters at most).
    pair_id : int
        Pair id shared by both insoles of a pair.
    gait : GaitModel
        Where the forces come from.
    rate_hz : int
        Initial rate (25, 50, 100, 200).
    sensor_fault : int or None
        Index (0..15) of a sensor that reports 0xFFFF.
    clock_start_s : float or None
        Device clock at model time 0 in s (the u32 µs counter wraps every 4294.97 s);
        default: the base simulator's boot offset.
    **kw
        ``seed``, ``faults``, ``drift_ppm``, ``period_s`` of :class:`Simulator`.
    """

    SENT_DTYPE = np.dtype(
        [("frame", "<i8"), ("seq", "<i8"), ("seq16", "<u2"), ("t_dev_us", "<u4"),
         ("t_model_s", "<f8"), ("f_total", "<u2"), ("p", "<u2", (16,)), ("boot", "<i4")]
    )
    """What each generated SAMPLE carried (ground truth for tests)."""

    def __init__(
        self,
        port: SimPort,
        side: str,
        serial: str,
        pair_id: int,
        gait: GaitModel,
        *,
        rate_hz: int = 100,
        sensor_fault: int | None = None,
        clock_start_s: float | None = None,
        size_code: int = 42,
        firmware: str = "1.2.0",
        seq_start: int = 0,
        playback: dict[str, Any] | None = None,
        playback_start_s: float = 0.0,
        **kw: Any,
    ) -> None:
        if side not in ("left", "right"):
            raise DeviceError(f"insole side must be 'left' or 'right', not {side!r}")
        if rate_hz not in ins1.RATES_HZ:
            raise DeviceError(f"INS1 rate {rate_hz} Hz: choose one of {ins1.RATES_HZ}")
        super().__init__(port, **kw)
        if clock_start_s is not None:
            self.boot_offset_s = float(clock_start_s)
        self.layout = layout_for(side)
        self.playback = playback
        if playback is not None:  # replay a recorded insole: its rate and sensor areas
            rate_hz = int(playback["rate_hz"])
            if rate_hz not in ins1.RATES_HZ:
                raise DeviceError(f"playback rate {rate_hz} Hz is not an INS1 rate")
            for sensor, area in zip(self.layout, playback["area_mm2"].tolist(), strict=True):
                sensor["area_mm2"] = int(area)
            self._play_row0 = int(round(playback_start_s * rate_hz)) % len(playback["f"])
        self.info = ins1.Ins1Info(side, int(pair_id), size_code, serial[:12], firmware, 16,
                                  int(rate_hz), 2.5, 1 / 4096, 0.1)
        self._x = np.array([s["x_mm"] for s in self.layout], float)
        self._y = np.array([s["y_mm"] for s in self.layout], float)
        self._area = np.array([s["area_mm2"] for s in self.layout], float)
        self.gait = gait
        self.sensor_fault = sensor_fault
        self.codec = ins1.Ins1Codec()
        self.commands: list[int] = []
        self.samples_dropped = 0
        self.battery_pct = 87
        self.boots = 0
        self.seq_start = int(seq_start) % 65536
        self.f_total_gain = 1.0  # != 1: the device total disagrees with its pressures
        self._play_rows: list[np.ndarray] = []
        self._offset_raw = (np.arange(16) % 3).astype(np.int64)  # unzeroed sensor offsets
        self._reset_state()

    @property
    def serial(self) -> str:
        """Serial number (as GET_INFO reports it)."""
        return self.info.serial

    def _reset_state(self) -> None:
        self.streaming = False
        self.seq = self.seq_start
        self.flags = 0
        self.weight_scale = 1.0
        self.overflow = False
        self._stall_began: float | None = None
        self._link_flag = False
        self.codec.reset()

    # -- hooks ---------------------------------------------------------------------------
    def on_boot(self) -> None:
        """Power-up (start or replug): streaming off, seq 0, calibration lost, BOOT sent."""
        self.boots += 1
        self._reset_state()
        self.send(ins1.encode_frame(ins1.BOOT, self.info.pack()))

    def on_command_bytes(self, data: bytes) -> None:
        """Parse command frames and answer each at once."""
        t = self.model_time_s()
        for fr in self.codec.feed(data):
            if not fr.payload:
                continue
            token = fr.payload[0]
            self.commands.append(fr.type)
            status, body = self._command(fr.type, fr.payload[1:], t)
            self.send(ins1.encode_frame(fr.type | ins1.REPLY, bytes([token, status]) + body))

    def _dev_us(self, t_model_s: float) -> int:
        return int(round(self.device_time_s(t_model_s) * 1e6)) % (1 << 32)

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
            self.streaming_started()
            self.restart_samples(t)
            return 0, struct.pack("<I", self._dev_us(t))
        if ctype == ins1.STOP:
            self.streaming = False
            return 0, struct.pack("<H", (self.seq - 1) % 65536)
        if ctype == ins1.ZERO:
            if self.gait.foot(info.side, np.array([t]))["fz"][0] > 20.0:
                return 2, b""  # foot loaded: refuse
            self.flags |= ins1.FLAG_ZEROED
            return 0, struct.pack("<16H", *self._offset_raw.tolist())
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
            rx = self._dev_us(t)
            return 0, struct.pack("<QII", host_ns, rx, (rx + 15) % (1 << 32))
        if ctype == ins1.GET_STATUS:
            return 0, struct.pack("<BBbI", self.battery_pct, 0, -58, self.samples_dropped)
        return 3, b""

    def produce(self, crystal_now_s: float) -> None:
        """Send one SAMPLE frame per sample due on the device crystal.

        After a stall (the radio link dropped out, frames were buffered) the burst is followed
        by an EVENT "link restored" (arg = stall length in ms) and the next sample carries the
        "link re-established" flag.
        """
        if not self.streaming:
            return
        now = self.model_time_s()
        if now < self._stall_until:
            if self._stall_began is None:
                self._stall_began = now
        elif self._stall_began is not None:
            ms = int(round((now - self._stall_began) * 1000))
            self._stall_began = None
            self.send(ins1.encode_frame(ins1.EVENT, struct.pack("<BI", 3, ms)))
            self._link_flag = True
        due = self.due_samples(crystal_now_s, self.info.rate_hz)
        if due is None:
            return
        k, t = due
        s, present = self.make_samples(t, k)
        payloads = ins1.encode_samples(s)
        seq = self.seq - len(s) + np.arange(len(s))
        ids = np.full(len(s), -1, dtype=np.int64)
        for i, (p, q) in enumerate(zip(payloads, seq.tolist(), strict=True)):
            if not present[i]:
                continue  # a recording without this sample: the device lost it
            ids[i] = self.frame_id
            jump = self.faults.wild_seq(self.frame_id, q, 1, float(t[i]))
            if jump:  # the seq field (after the side byte) sent wrong, the CRC right
                p = p[:1] + struct.pack("<H", (int(s["seq"][i]) + jump) % 65536) + p[3:]
            if not self.send(ins1.encode_frame(ins1.SAMPLE, p), seq=q, n=1):
                self.samples_dropped += 1
                self.samples_lost_overflow += 1
                self.overflow = True
        self._record(s, t, ids, seq)

    # -- samples -------------------------------------------------------------------------
    def make_samples(self, t: np.ndarray, k: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """SAMPLE records for model times ``t`` (sample numbers ``k`` since START) and which
        of them exist (all, except rows of a played-back recording without data for this
        foot). Advances the sequence counter."""
        if self.playback is not None:
            return self._playback_samples(np.arange(len(t)) if k is None else k)
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
        n = len(t)
        s = np.zeros(n, ins1.SAMPLE_DTYPE)
        s["side"] = ord("L" if self.info.side == "left" else "R")
        s["seq"] = (self.seq + np.arange(n)) % 65536
        s["t_dev_us"] = np.rint(self.device_time_s(t) * 1e6).astype(np.int64) % (1 << 32)
        s["p"] = raw
        phase = 2 * np.pi * t * self.gait.params.mean_cadence_spm / 120.0
        on = fz > 0
        acc = np.stack([0.3 * np.sin(phase), 0.8 * np.cos(phase),
                        np.where(on, 1.0, 1.0 + 0.6 * np.sin(2 * phase))], axis=1)
        s["acc"] = np.clip(np.rint(acc * 4096), -32768, 32767)
        gyr = np.stack([40 * np.sin(phase), 300 * np.cos(phase), 20 * np.sin(2 * phase)], 1)
        s["gyr"] = np.clip(np.rint(gyr * 10), -32768, 32767)
        s["f_total"] = np.clip(np.rint(f_sum * self.f_total_gain / ins1.F_TOTAL_LSB_N), 0, 0xFFFF)
        cop = np.stack([foot["cop_x"], foot["cop_y"]], axis=1)
        s["cop"] = np.rint(np.nan_to_num(cop) / ins1.COP_LSB)
        s["battery_pct"] = self.battery_pct
        s["flags"] = self.flags | (ins1.FLAG_SENSOR_FAULT if self.sensor_fault is not None else 0)
        if self.overflow and n:
            s["flags"][0] |= ins1.FLAG_BUFFER_OVERFLOW
            self.overflow = False
        if self._link_flag and n:
            s["flags"][0] |= ins1.FLAG_LINK_REESTABLISHED
            self._link_flag = False
        self.seq += n
        return s, np.ones(n, bool)

    def _playback_samples(self, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pb = self.playback
        rows = (self._play_row0 + k) % len(pb["f"])
        n = len(rows)
        s = np.zeros(n, ins1.SAMPLE_DTYPE)
        s["side"] = ord("L" if self.info.side == "left" else "R")
        s["seq"] = (self.seq + np.arange(n)) % 65536
        t_dev = self.crystal_time_s(self.model_time_of(
            self._crystal_start_s + k / self.info.rate_hz)) + self.clock_jumps_s
        s["t_dev_us"] = np.rint(t_dev * 1e6).astype(np.int64) % (1 << 32)
        s["p"] = np.clip(np.rint(pb["p"][rows] * 10.0 / self.info.p_lsb_kpa), 0, 0xFFFE)
        s["acc"] = np.clip(np.rint(pb["acc"][rows] * 4096), -32768, 32767)
        s["gyr"] = np.clip(np.rint(pb["gyr"][rows] * 10), -32768, 32767)
        s["f_total"] = np.clip(np.rint(pb["f"][rows] / ins1.F_TOTAL_LSB_N), 0, 0xFFFF)
        s["cop"] = np.rint(pb["cop"][rows] / ins1.COP_LSB)
        s["battery_pct"] = self.battery_pct
        s["flags"] = ins1.FLAG_ZEROED | ins1.FLAG_WEIGHT_CALIBRATED
        self.seq += n
        self._play_rows.append(rows)
        return s, pb["valid"][rows]

    def _record(self, s: np.ndarray, t: np.ndarray, frame_ids: np.ndarray,
                seq: np.ndarray) -> None:
        rec = np.zeros(len(s), self.SENT_DTYPE)
        rec["frame"] = frame_ids
        rec["seq"] = seq
        rec["seq16"] = s["seq"]
        rec["t_dev_us"] = s["t_dev_us"]
        rec["t_model_s"] = t
        rec["f_total"] = s["f_total"]
        rec["p"] = s["p"]
        rec["boot"] = self.boots
        self.sent_chunks.append(rec)

    @property
    def played_rows(self) -> np.ndarray:
        """Playback: the recording's row of each generated sample (parallel to :attr:`sent`)."""
        with self._lock:
            return np.concatenate(self._play_rows) if self._play_rows else np.zeros(0, int)


# --------------------------------------------------------------------------------------------
# Setup


class InsoleSetup(Setup):
    """A running pair of simulated INS1 insoles (a :class:`Setup` named ``"insoles"``).

    ``simulators`` is [left, right] (:class:`Ins1Simulator`: ground truth in ``.sent`` and
    ``.faults.log``); ``truth`` is the :class:`GaitModel` (true stances); model time 0 is host
    time :attr:`t0_host_s`.
    """

    @property
    def left(self) -> Ins1Simulator:
        """The left insole's simulator."""
        return self.simulators[0]

    @property
    def right(self) -> Ins1Simulator:
        """The right insole's simulator."""
        return self.simulators[1]


INSOLE_OPTIONS = ("rate", "drift", "drift_ppm", "drift_ppm_right", "clock_start_s",
                  "sensor_fault", "pair_id", "fault_side", "faults", "name", "seq_start",
                  "playback", "playback_start")


def start_insoles(options: dict[str, Any] | None = None) -> InsoleSetup:
    """Start a simulated INS1 pair (``sim:insoles?...``): two ptys, one per foot.

    Options (strings or values): the common gait options of
    :func:`~forcelab.drivers.sim.setups.gait_from_options` (speed, mode, strike, mass,
    asymmetry, ...), ``seed``, ``faults`` (see :mod:`forcelab.drivers.sim.faults`),
    ``fault_side`` (left/right/both, default both), ``rate`` (Hz, 25/50/100/200, default 100),
    ``drift`` / ``drift_ppm`` (left foot's clock error, default 60 ppm), ``drift_ppm_right``
    (default −½ of the left), ``clock_start_s`` (device clock at start; near 4294.97 s the u32
    µs counter wraps), ``seq_start`` (first sequence number; the u16 wraps), ``sensor_fault``
    (index 0..15 of a left-insole sensor reporting 0xFFFF), ``playback`` (path of a Moticon
    OpenGo export to replay instead of the gait model; rows without data for a foot are lost
    frames) and ``playback_start`` (s into the file),
    ``pair_id``, ``name`` (port name prefix).

    Raises
    ------
    DeviceError
        Unknown option or a value out of range.
    """
    opts, gait, seed = setup_options(options)
    rate = num_option(opts, "rate", 100, int)
    if rate not in ins1.RATES_HZ:
        raise DeviceError(f"sim:insoles rate={rate}: INS1 rates are {ins1.RATES_HZ} Hz")
    drift_l = num_option(opts, "drift_ppm", num_option(opts, "drift", 60.0, float), float)
    drift_r = num_option(opts, "drift_ppm_right", -0.5 * drift_l, float)
    clock_start = num_option(opts, "clock_start_s", None, float)
    seq_start = num_option(opts, "seq_start", 0, int)
    sensor_fault = num_option(opts, "sensor_fault", None, int)
    if sensor_fault is not None and not 0 <= sensor_fault < 16:
        raise DeviceError(f"sensor_fault must be a sensor index 0..15, not {sensor_fault}")
    pair_id = num_option(opts, "pair_id", 0x5EED0000 + seed % 0xFFFF, int)
    fault_side = str(opts.pop("fault_side", "both")).lower()
    if fault_side not in ("left", "right", "both"):
        raise DeviceError(f"fault_side must be left, right or both, not {fault_side!r}")
    faults = opts.pop("faults", None)
    spec = FaultSpec.parse(faults)
    base = str(opts.pop("name", "ins1"))
    playback = opts.pop("playback", None)
    play_start = num_option(opts, "playback_start", 0.0, float)
    if playback and gait.params.stand_s > 0:
        raise DeviceError("sim:insoles: stand= cannot be combined with playback= (the played-back "
                          "recording has its own start); drop one of the two options")
    recording = load_opengo(str(playback)) if playback else None
    check_unknown("insoles", opts, INSOLE_OPTIONS)
    sims: list[Ins1Simulator] = []
    try:
        for k, side in enumerate(("left", "right")):
            pname = free_name(f"{base}-{side}")
            # unique among running simulators (reconnect-by-serial must find this one)
            serial = f"IN{seed % 1000:03d}{'LR'[k]}{zlib.crc32(pname.encode()) % 10**6:06d}"
            port = SimPort(pname,
                           description=f"forcelab simulated INS1 insole ({side})",
                           serial_number=serial, pid=0xF0C1).open()
            sims.append(Ins1Simulator(
                port, side, serial, pair_id, gait, rate_hz=rate,
                sensor_fault=sensor_fault if side == "left" else None,
                clock_start_s=clock_start, seed=seed * 2 + k, seq_start=seq_start,
                playback=recording[side] if recording else None,
                playback_start_s=play_start,
                faults=spec if fault_side in (side, "both") else None,
                drift_ppm=drift_l if side == "left" else drift_r))
        start_together(sims)  # one model time axis for both feet
    except BaseException:
        stop_all(sims)
        raise
    return InsoleSetup("insoles", [s.port.device for s in sims],
                       [f"ins1://{s.port.device}" for s in sims], sims, gait,
                       dict(options or {}))
