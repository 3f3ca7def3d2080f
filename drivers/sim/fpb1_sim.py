"""FPB1 force-plate simulator: speaks exactly the FPB1 protocol behind a real pty.

The plate is fed by a :class:`~forcelab.drivers.sim.gait.GaitModel` (one foot per belt of a
split-belt treadmill, or both feet on one plate). It boots with a BOOT frame, answers every
command, streams DATA frames in raw counts (through the inverse of its calibration matrix, with
bridge offsets until ZERO) or calibrated f32, paced by its drifting crystal, emits EVENT frames
(overrange start/end, overflow, autozero done) and honours the fault options. Command replies are
never damaged by fault injection (only unsolicited DATA/EVENT frames are), so handshakes stay
deterministic under faults.

Ground truth for tests: :meth:`FPB1Simulator.true_loads` (physical loads of run samples),
:meth:`FPB1Simulator.expected_loads` (what an exact host conversion of the sent counts gives,
before quantisation), :meth:`FPB1Simulator.truth_stances` (true stances as run sample indices),
``faults.log``.
"""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
from forcelab.drivers.protocols import fpb1
from forcelab.drivers.protocols.fpb1 import Calibration, Identity, encode_data, encode_frame
from forcelab.drivers.sim.base import Simulator
from forcelab.drivers.sim.faults import FaultSpec
from forcelab.drivers.sim.gait import GaitModel
from forcelab.drivers.sim.pty import SimPort

FULL_SCALE_COUNTS = (1 << 23) - 1
_NOISE_BLOCK = 1024


def make_calibration(seed: int, size_mm: tuple[int, int] = (500, 1600)) -> Calibration:
    """A plausible plate calibration (diagonal sensitivities with ~1 % cross-talk), f32-exact."""
    rng = np.random.default_rng([int(seed), 0xCA1])
    diag = np.array([2000.0, 2000.0, 4000.0, 1000.0, 1000.0, 800.0])
    m = np.diag(diag * (1 + 0.02 * rng.standard_normal(6)))
    m += 0.01 * rng.standard_normal((6, 6)) * diag[:, None] * (1 - np.eye(6))
    cal = Calibration(
        matrix=m, v_exc=10.0, gain=np.full(6, 64.0) * (1 + 0.001 * rng.standard_normal(6)),
        v_ref=2.5, origin_m=np.array([0.0012, -0.0021, -0.041]), size_mm=size_mm,
        cal_date="2026-03-14",
    )
    return cal.rounded()


class FPB1Simulator(Simulator):
    """One simulated FPB1 plate.

    Parameters
    ----------
    port : SimPort
    gait : GaitModel
        Shared gait model (model time axis = real seconds since the simulator started).
    sides : tuple of str
        Feet that land on this plate: ``("left",)``, ``("right",)`` or both.
    serial : str
        Serial number reported by IDENTIFY.
    seed : int
    faults : FaultSpec or str or None
    drift_ppm : float
        Crystal drift in ppm.
    noise_n : float
        Force noise SD in N (moments get a tenth of it in N·m).
    seq_start : int
        Wire sequence number of the first sample after START (0 per protocol; other values
        exercise the 2^32 wrap).
    size_mm : tuple of int
        Plate size reported by GET_CAL.
    period_s : float
        Pacing loop period in s: frames due are written every ``period_s`` (commands are answered
        as soon as they arrive).
    """

    MODEL = "FPB1-SIM"
    FIRMWARE = "1.2.0"

    def __init__(
        self,
        port: SimPort,
        gait: GaitModel,
        *,
        sides: tuple[str, ...] = ("left", "right"),
        serial: str = "FPB1-000001",
        seed: int = 0,
        faults: FaultSpec | str | None = None,
        drift_ppm: float = 0.0,
        noise_n: float = 0.3,
        seq_start: int = 0,
        size_mm: tuple[int, int] = (500, 1600),
        period_s: float = 0.01,
    ) -> None:
        super().__init__(port, seed=seed, faults=faults, drift_ppm=drift_ppm, period_s=period_s)
        self.gait = gait
        self.sides = tuple(sides)
        self.serial = serial
        self.noise_n = float(noise_n)
        self.seq_start = int(seq_start) & 0xFFFFFFFF
        self.identity = Identity(1, self.MODEL, serial, self.FIRMWARE)
        self.calibration = make_calibration(seed, size_mm)
        rng = np.random.default_rng([self.seed, 0x0FF])
        self.bridge_offsets = rng.integers(-3000, 3000, 6).astype(np.float64)
        cal = self.calibration
        # loads -> float counts in one product: (diag(1/mV/V per count) C^-1)^T
        self._loads_to_counts_t = (np.linalg.inv(cal.matrix) / cal.mvv_per_count[:, None]).T
        self._noise_cache: dict[tuple[int, int], np.ndarray] = {}
        self._codec = fpb1.FPB1Codec()
        self.commands_seen: list[int] = []
        self.rate_hz = fpb1.DEFAULT_RATE_HZ
        self._power_on()

    def _power_on(self) -> None:
        self.streaming = False
        self.fmt = fpb1.FMT_RAW
        self.spf = 8
        self.zero_counts = np.zeros(6)
        self.zeroed = False
        self.autozero = False
        self.run_id = 0
        self.run_c0 = 0.0
        self.k = 0
        self.frames_sent = 0
        self.samples_dropped = 0
        self._overflow_pending = 0
        self._overrange_on = False
        self._quiet_since: float | None = None
        self.zero_busy = False

    # -- physics ---------------------------------------------------------------------------
    def sample_model_times(self, k: np.ndarray) -> np.ndarray:
        """Model times (s) of run samples ``k``."""
        return self.model_time_of(self.run_c0 + np.asarray(k, dtype=float) / self.rate_hz)

    def _noise_block(self, b: int) -> np.ndarray:
        key = (self.run_id, b)
        cache = self._noise_cache
        if key not in cache:
            if len(cache) > 8:
                cache.pop(next(iter(cache)))
            cache[key] = np.random.default_rng(
                [self.seed, self.run_id, b, 0x401]).standard_normal((_NOISE_BLOCK, 6)) \
                * (self.noise_n * np.array([1, 1, 1, 0.1, 0.1, 0.1]))
        return cache[key]

    def _noise(self, k: np.ndarray) -> np.ndarray:
        """Noise of run samples ``k`` (deterministic per sample index; N and N·m)."""
        if self.noise_n <= 0 or k.size == 0:
            return np.zeros((k.size, 6))
        b0, b1 = int(k[0] // _NOISE_BLOCK), int(k[-1] // _NOISE_BLOCK)
        if b0 == b1 and np.all(k // _NOISE_BLOCK == b0):
            return self._noise_block(b0)[k - b0 * _NOISE_BLOCK]
        blocks = k // _NOISE_BLOCK
        out = np.empty((k.size, 6))
        for b in np.unique(blocks).tolist():
            sel = blocks == b
            out[sel] = self._noise_block(int(b))[k[sel] - b * _NOISE_BLOCK]
        return out

    def true_loads(self, k: np.ndarray, overrange: np.ndarray | None = None) -> np.ndarray:
        """Physical loads Fx, Fy, Fz (N), Mx, My, Mz (N·m) of run samples ``k`` (with noise)."""
        k = np.asarray(k, dtype=np.int64)
        t = self.sample_model_times(k)
        p = self.gait.plate(t, self.sides)
        a, b, c = self.calibration.origin_m
        fx, fy, fz = p["fx"], p["fy"], p["fz"]
        x = np.where(np.isnan(p["cop_x"]), a, p["cop_x"])
        y = np.where(np.isnan(p["cop_y"]), b, p["cop_y"])
        my = (x - a) * fz - c * fx
        mx = (y - b) * fz + c * fy
        mz = p["tz"] + (x - a) * fy - (y - b) * fx
        loads = np.column_stack([fx, fy, fz, mx, my, mz]) + self._noise(k)
        if overrange is not None and overrange.any():
            loads[overrange, 2] += 40000.0
        return loads

    def raw_counts(self, loads: np.ndarray, zeroed: bool = True) -> np.ndarray:
        """Float ADC counts of ``loads`` (bridge offsets added, zero subtracted, not rounded)."""
        counts = loads @ self._loads_to_counts_t + self.bridge_offsets
        if zeroed:
            counts = counts - self.zero_counts
        return counts

    def expected_loads(self, k: np.ndarray) -> np.ndarray:
        """Loads an exact host conversion of the counts sent for run samples ``k`` gives (before
        the rounding to integer counts): true loads plus the residual of offsets minus zero."""
        residual = self.calibration.counts_to_loads((self.bridge_offsets - self.zero_counts)[None])
        if self.fmt == fpb1.FMT_CAL:
            residual = residual * 0.0
        return self.true_loads(k) + residual

    def truth_stances(self, k0: int = 0, k1: int | None = None) -> list[dict[str, Any]]:
        """True stances on this plate as run sample indices ``start``, ``end`` (exclusive)."""
        k1 = self.k if k1 is None else k1
        t0, t1 = self.sample_model_times(np.array([k0, k1]))
        out = []
        for s in self.gait.stances(0.0, float(t1)):
            if s.side not in self.sides or s.end_s < t0:
                continue
            d = s.to_dict()
            d["start"] = int(np.ceil((self.crystal_time_s(s.start_s) - self.run_c0)
                                     * self.rate_hz))
            d["end"] = int(np.ceil((self.crystal_time_s(s.end_s) - self.run_c0) * self.rate_hz))
            out.append(d)
        return out

    # -- protocol --------------------------------------------------------------------------
    def reply(self, cmd: int, token: int, status: int, body: bytes = b"") -> None:
        """Send the reply to a command (never fault-injected)."""
        self.send(encode_frame(cmd | fpb1.REPLY, bytes([status]) + body, token), faults=False)

    def on_boot(self) -> None:
        self._power_on()
        self._codec.reset()
        self.send(encode_frame(fpb1.BOOT, self.identity.pack()), faults=False)

    def on_command_bytes(self, data: bytes) -> None:
        for f in self._codec.feed(data):
            self.commands_seen.append(f.type)
            self._command(f.type, f.token, f.payload)

    def _command(self, cmd: int, token: int, body: bytes) -> None:
        ok, bad_arg, bad_state = fpb1.STATUS_OK, fpb1.STATUS_BAD_ARG, fpb1.STATUS_BAD_STATE
        if cmd == fpb1.IDENTIFY:
            self.reply(cmd, token, ok, self.identity.pack())
        elif cmd == fpb1.GET_CAL:
            self.reply(cmd, token, ok, self.calibration.pack())
        elif cmd == fpb1.SET_RATE:
            if len(body) != 2:
                return self.reply(cmd, token, bad_arg)
            hz = struct.unpack("<H", body)[0]
            if self.streaming:
                return self.reply(cmd, token, bad_state)
            if hz not in self.identity.rates_hz:
                return self.reply(cmd, token, bad_arg)
            self.rate_hz = hz
            self.reply(cmd, token, ok, struct.pack("<H", hz))
        elif cmd == fpb1.START:
            fmt, spf = (body[0], body[1]) if len(body) == 2 else (fpb1.FMT_RAW, 8)
            if len(body) not in (0, 2) or fmt not in (0, 1) or not 1 <= spf <= 16:
                return self.reply(cmd, token, bad_arg)
            if self.streaming:
                return self.reply(cmd, token, bad_state)
            self.fmt, self.spf = fmt, spf
            self.run_id += 1
            now = self.model_time_s()
            self.run_c0 = self.crystal_time_s(now)
            self.k = 0
            self.streaming = True
            self.streaming_started()
            t_us = int(round(self.device_time_s(now) * 1e6))
            self.reply(cmd, token, ok, struct.pack("<Q", t_us))
        elif cmd == fpb1.STOP:
            if not self.streaming:
                return self.reply(cmd, token, bad_state)
            self.streaming = False
            last = (self.seq_start + self.k - 1) & 0xFFFFFFFF
            self.reply(cmd, token, ok, struct.pack("<I", last))
        elif cmd == fpb1.ZERO:
            n_avg = struct.unpack("<H", body)[0] if len(body) == 2 else 1000
            if len(body) not in (0, 2) or n_avg < 1:
                return self.reply(cmd, token, bad_arg)
            if self.zero_busy:
                return self.reply(cmd, token, fpb1.STATUS_BUSY)
            self._start_zero(token, n_avg)
        elif cmd == fpb1.GET_STATUS:
            t_us = int(round(self.device_time_s(self.model_time_s()) * 1e6))
            self.reply(cmd, token, ok, struct.pack(
                "<HhIIQ", self._status_bits(), 3512, self.frames_sent & 0xFFFFFFFF,
                self.samples_dropped & 0xFFFFFFFF, t_us))
        elif cmd == fpb1.PING:
            if len(body) != 8:
                return self.reply(cmd, token, bad_arg)
            t_us = int(round(self.device_time_s(self.model_time_s()) * 1e6))
            self.reply(cmd, token, ok, body + struct.pack("<Q", t_us))
        elif cmd == fpb1.SET_AUTOZERO:
            if len(body) != 1:
                return self.reply(cmd, token, bad_arg)
            self.autozero = bool(body[0])
            self._quiet_since = None
            self.reply(cmd, token, ok)
        elif cmd == fpb1.BLINK:
            self.reply(cmd, token, ok)
        elif cmd == fpb1.RESET:
            self.reply(cmd, token, ok)
            self.streaming = False
            self.cancel_timers()
            self.schedule(0.5, self.on_boot)
        else:
            self.reply(cmd, token, fpb1.STATUS_UNSUPPORTED)

    def _start_zero(self, token: int, n_avg: int) -> None:
        """Average the next ``n_avg`` samples (unzeroed), reply when done, subtract from then."""
        self.zero_busy = True
        now = self.model_time_s()
        c0 = self.crystal_time_s(now)
        t = self.model_time_of(c0 + np.arange(n_avg) / self.rate_hz)
        saved_c0 = self.run_c0
        # Evaluate the plate over the averaging window on the current model.
        self.run_c0 = c0
        loads = self.true_loads(np.arange(n_avg))
        self.run_c0 = saved_c0
        del t
        mean = self.raw_counts(loads, zeroed=False).mean(axis=0)

        def done() -> None:
            self.zero_counts = np.round(mean)
            self.zeroed = True
            self.zero_busy = False
            self.reply(fpb1.ZERO, token, fpb1.STATUS_OK,
                       struct.pack("<6i", *self.zero_counts.astype(np.int64).tolist()))

        self.schedule(n_avg / self.rate_hz, done)

    def _status_bits(self) -> int:
        bits = 0
        if self.zeroed:
            bits |= fpb1.ST_ZEROED
        if self.autozero:
            bits |= fpb1.ST_AUTOZERO
        return bits

    def _event(self, kind: int, seq_at: int, arg: int = 0) -> bool:
        return self.send(
            encode_frame(fpb1.EVENT, fpb1.EVENT_BODY.pack(seq_at & 0xFFFFFFFF, kind, arg))
        )

    # -- streaming -------------------------------------------------------------------------
    def produce(self, crystal_now_s: float) -> None:
        if not self.streaming:
            return
        due = int(np.floor((crystal_now_s - self.run_c0) * self.rate_hz)) + 1 - self.k
        n_frames = due // self.spf
        if n_frames <= 0:
            return
        spf = self.spf
        k = self.k + np.arange(n_frames * spf, dtype=np.int64)
        t_model = self.sample_model_times(k)
        over = np.zeros(k.size, bool)
        if self.faults.spec.overrange:
            for f in range(n_frames):
                over[f * spf:(f + 1) * spf] = self.faults.overrange(
                    float(t_model[f * spf]), self.frame_id + f, int(k[f * spf]), spf)
        loads = self.true_loads(k, over)
        if self.fmt == fpb1.FMT_RAW:
            counts = np.rint(self.raw_counts(loads))
            clipped = np.abs(counts) > FULL_SCALE_COUNTS
            values = np.clip(counts, -FULL_SCALE_COUNTS, FULL_SCALE_COUNTS)
        else:
            residual = self.calibration.counts_to_loads(self.zero_counts[None])
            values = (loads - residual).astype(np.float32)
            fs = self.calibration.counts_to_loads(np.full((1, 6), FULL_SCALE_COUNTS))
            clipped = np.abs(loads) > np.abs(fs)
        if self.autozero:
            self._autozero_check(loads[:, 2], t_model, int(k[-1]))
        base = self._status_bits()
        jumps_us = self.clock_jumps_s * 1e6
        for f in range(n_frames):
            sl = slice(f * spf, (f + 1) * spf)
            kf = int(k[f * spf])
            seq = (self.seq_start + kf) & 0xFFFFFFFF
            ov_bits = int(np.bitwise_or.reduce(clipped[sl].any(axis=0) * (1 << np.arange(6))))
            status = base | ov_bits
            if ov_bits and not self._overrange_on:
                self._overrange_on = True
                self._event(3, seq, ov_bits)
            elif not ov_bits and self._overrange_on:
                self._overrange_on = False
                self._event(4, seq)
            if self._overflow_pending:
                # Report the samples lost so far (first sample after the loss = this frame's).
                status |= fpb1.ST_OVERFLOW
                if self._event(5, seq, self._overflow_pending):
                    self._overflow_pending = 0
            t_us = int(round((self.run_c0 + kf / self.rate_hz) * 1e6 + jumps_us))
            wire_seq = seq + self.faults.wild_seq(self.frame_id, kf, spf, float(t_model[f * spf]))
            frame = encode_frame(fpb1.DATA, encode_data(wire_seq, t_us, status, values[sl],
                                                        self.fmt))
            if self.send(frame, seq=kf, n=spf):
                self.frames_sent += 1
            else:
                self.samples_dropped += spf
                self._overflow_pending += spf
                self.samples_lost_overflow += spf
        self.k += n_frames * spf

    def _autozero_check(self, fz: np.ndarray, t_model: np.ndarray, k_last: int) -> None:
        loud = np.flatnonzero(np.abs(fz) >= 40.0)
        if loud.size:
            self._quiet_since = float(t_model[loud[-1]]) + 1.0 / self.rate_hz
        elif self._quiet_since is None:
            self._quiet_since = float(t_model[0])
        if self._quiet_since is not None and t_model[-1] - self._quiet_since >= 3.5:
            counts = self.raw_counts(self.true_loads(np.arange(k_last - 199, k_last + 1)),
                                     zeroed=False)
            self.zero_counts = np.round(counts.mean(axis=0))
            self.zeroed = True
            self._quiet_since = float(t_model[-1])
            self._event(6, (self.seq_start + k_last) & 0xFFFFFFFF)
