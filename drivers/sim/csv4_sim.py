"""Simulated DIY CSV4 plate: an HX711/Arduino sketch's line protocol behind a real pty.

:class:`Csv4Simulator` is the board (a :class:`~forcelab.drivers.sim.base.Simulator`, paced in
real time on its drifting crystal with the shared fault injection): at power-up it prints the
banner and the header and streams ``t_ms,c0,c1,c2,c3`` lines at 80 Hz (10 Hz after ``r 10``);
it answers the commands of the protocol (``? i s x t r u k c``), averages 40 samples for tare
and single-point calibration, and sends raw 24-bit counts (``units=raw``) or newtons from its
own calibration (``units=N``). With the ``reset`` fault, opening the port resets it like an
Arduino: ``reset_silence_s`` of silence (default 1.5 s), a few garbage bytes, then the banner;
``millis()`` restarts at 0.

The plate carries both feet of the :class:`GaitModel`: the vertical force is spread over the
four cells bilinearly from the COP, so that the protocol's COP formulas give the model's COP
back (clipped to the plate). Ground truth per line is kept in :attr:`Csv4Simulator.sent`.

:func:`start_diy` starts one board for ``sim:diy?...``.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from forcelab.drivers.errors import DeviceError
from forcelab.drivers.protocols.csv4 import RATES_HZ, RAW_LIMIT, UNITS
from forcelab.drivers.sim.base import Simulator
from forcelab.drivers.sim.gait import GaitModel
from forcelab.drivers.sim.pty import SimPort, free_name
from forcelab.drivers.sim.setup_base import (
    Setup,
    check_unknown,
    num_option,
    setup_options,
    start_together,
)

AVERAGE_SAMPLES = 40


class Csv4Simulator(Simulator):
    """One simulated fpdiy board (see the module docstring).

    Parameters
    ----------
    port : SimPort
    gait : GaitModel
    board_id : str
        The ``id=`` of the banner (reconnect-by-id uses it).
    rate_hz : {10, 80}
    units : {"raw", "N"}
    width_m, length_m : float
        Cell spacing left-right and front-back (m).
    noise_counts : float
        Standard deviation of the HX711 noise in counts.
    reset_silence_s : float
        Silence after an auto-reset on open (with the ``reset`` fault).
    clock_start_s : float
        millis()/1000 at model time 0 (the u32 ms counter wraps at 4294967.296 s).
    calibrated : bool
        Start with the true offsets and sensitivities in EEPROM (else nominal ones).
    **kw
        ``seed``, ``faults``, ``drift_ppm``, ``period_s`` of :class:`Simulator`.
    """

    SENT_DTYPE = np.dtype(
        [("frame", "<i8"), ("t_ms", "<u4"), ("t_model_s", "<f8"), ("force_n", "<f8", (4,)),
         ("cells", "<f8", (4,)), ("boot", "<i4")]
    )
    """What each data line carried: frame id, millis(), model time, true cell forces (N), the values
    printed (counts or N), and the boot count."""

    def __init__(
        self,
        port: SimPort,
        gait: GaitModel,
        *,
        board_id: str = "FPDIY-0001",
        rate_hz: int = 80,
        units: str = "raw",
        width_m: float = 0.40,
        length_m: float = 0.60,
        noise_counts: float = 30.0,
        reset_silence_s: float = 1.5,
        clock_start_s: float = 12.345,
        calibrated: bool = False,
        **kw: Any,
    ) -> None:
        if rate_hz not in RATES_HZ or units not in UNITS:
            raise DeviceError(f"sim:diy rate={rate_hz} units={units}: rate 10/80 Hz, units raw/N")
        if not (0.05 <= width_m <= 5 and 0.05 <= length_m <= 5):
            raise DeviceError(
                f"sim:diy plate size {width_m} x {length_m} m is out of range 0.05..5")
        if not 0 <= noise_counts <= 1e5 or not 0 <= reset_silence_s <= 10:
            raise DeviceError("sim:diy noise must be 0..1e5 counts and reset_silence 0..10 s")
        super().__init__(port, **kw)
        self.gait = gait
        self.board_id = board_id
        self.serial = board_id
        self.rate_hz = int(rate_hz)
        self.units = units
        self.width_m = float(width_m)
        self.length_m = float(length_m)
        self.noise_counts = float(noise_counts)
        self.reset_silence_s = float(reset_silence_s)
        self.clock_start_s = float(clock_start_s)
        rng = np.random.default_rng([self.seed, 0xC5F4])
        self.rng = rng
        # Truth of the hardware: dead load of the top plate plus bridge offsets, sensitivities.
        self.true_offsets = np.round(rng.uniform(-60_000, 60_000, 4))
        self.true_scales = 420.0 * (1 + rng.uniform(-0.05, 0.05, 4))  # counts per N
        # What the board believes (EEPROM): nominal sensitivity, offsets from an old tare.
        self.offsets = self.true_offsets + np.round(rng.uniform(-3000, 3000, 4))
        self.scales = np.full(4, 420.0)
        if calibrated:  # a board calibrated in the lab: EEPROM holds the true values
            self.offsets = self.true_offsets.copy()
            self.scales = np.round(self.true_scales, 4)
        self.boots = 0
        self.commands: list[str] = []
        self._line_buf = bytearray()
        self._silent_until = -np.inf
        self._first_boot = True
        self._avg: dict[str, Any] | None = None
        self.streaming = False

    # -- boot ----------------------------------------------------------------------------
    def banner(self) -> str:
        """The banner / identify line."""
        return (f"# fpdiy v1.0 id={self.board_id} cells=4 rate={self.rate_hz} "
                f"units={self.units}")

    def _boot_state(self) -> None:
        now = self.model_time_s()
        millis0 = self.clock_start_s if self._first_boot else 0.0
        self._first_boot = False
        self.boot_offset_s = millis0 - now * (1.0 + self.drift_ppm * 1e-6)
        self.clock_jumps_s = 0.0
        self.boots += 1
        self.restart_samples(now)
        self._avg = None
        self._line_buf.clear()
        self.streaming = True
        self.streaming_started()

    def on_boot(self) -> None:
        """Power-up: millis() restarts, banner and header, streaming on."""
        self._boot_state()
        self.send((self.banner() + "\r\n").encode())
        self.send(b"t_ms,c0,c1,c2,c3\r\n")

    def on_opened(self) -> None:
        """A driver opened the port: with the ``reset`` fault the board resets like an Arduino."""
        if not self.faults.spec.reset:
            return
        self.faults.note("reset", t_s=self.model_time_s())
        self.streaming = False
        self._avg = None
        self._silent_until = self.model_time_s() + self.reset_silence_s
        self.cancel_timers()
        self.schedule(self.reset_silence_s, self._after_reset)

    def _after_reset(self) -> None:
        garbage = self.rng.integers(0x80, 0x100, int(self.rng.integers(2, 8)), dtype=np.uint8)
        self.send(garbage.tobytes(), faults=False)
        self.on_boot()

    # -- commands ------------------------------------------------------------------------
    def on_command_bytes(self, data: bytes) -> None:
        """Collect command lines and answer them."""
        if self.model_time_s() < self._silent_until:
            return  # the bootloader ignores what arrives while the board resets
        self._line_buf += data
        while True:
            nl = self._line_buf.find(b"\n")
            if nl < 0:
                if len(self._line_buf) > 256:
                    self._line_buf.clear()
                return
            line = self._line_buf[:nl].decode("ascii", "replace").strip()
            del self._line_buf[: nl + 1]
            if line:
                self.commands.append(line)
                reply = self._command(line)
                if reply:
                    self._reply(reply)

    def _reply(self, text: str) -> None:
        self.send((text + "\r\n").encode())

    def _command(self, line: str) -> str | None:
        parts = line.split()
        cmd, args = parts[0], parts[1:]
        if cmd in ("?", "i"):
            return self.banner()
        if cmd == "s":
            self.streaming = True
            self.streaming_started()
            return "# ok start"
        if cmd == "x":
            self.streaming = False
            return "# ok stop"
        if cmd == "t":
            if self._avg is not None:
                return "# err busy"
            self._avg = {"kind": "tare", "rows": []}
            return None
        if cmd == "r":
            if len(args) != 1 or args[0] not in ("10", "80"):
                return "# err rate must be 10 or 80"
            self.rate_hz = int(args[0])
            self.restart_samples(self.model_time_s())
            return f"# ok rate={self.rate_hz}"
        if cmd == "u":
            if len(args) != 1 or args[0] not in ("raw", "N"):
                return "# err units must be raw or N"
            self.units = args[0]
            return f"# ok units={self.units}"
        if cmd == "k":
            off = ",".join(f"{v:.0f}" for v in self.offsets)
            sc = ",".join(f"{v:.4f}" for v in self.scales)
            return f"# cal off={off} scale={sc}"
        if cmd == "c":
            try:
                cell, load = int(args[0]), float(args[1])
            except (IndexError, ValueError):
                return "# err usage: c <cell 0-3> <newtons>"
            if not 0 <= cell <= 3:
                return "# err cell must be 0..3"
            if not np.isfinite(load) or load <= 0:
                return "# err load must be > 0 N"
            if self._avg is not None:
                return "# err busy"
            self._avg = {"kind": "cal", "cell": cell, "load": load, "rows": []}
            return None
        return f"# err unknown '{line}'"

    # -- samples -------------------------------------------------------------------------
    def cell_forces(self, t: np.ndarray) -> np.ndarray:
        """True force (N) on each cell TL, TR, BL, BR at model times ``t``."""
        p = self.gait.plate(t)
        fz = np.clip(p["fz"], 0.0, None)
        cx = np.clip(np.nan_to_num(p["cop_x"]), -0.45 * self.width_m, 0.45 * self.width_m)
        cy = np.clip(np.nan_to_num(p["cop_y"]), -0.45 * self.length_m, 0.45 * self.length_m)
        u = 0.5 + cx / self.width_m  # toward the right
        v = 0.5 + cy / self.length_m  # toward the top (forward)
        return np.stack([fz * (1 - u) * v, fz * u * v, fz * (1 - u) * (1 - v),
                         fz * u * (1 - v)], axis=1)

    def produce(self, crystal_now_s: float) -> None:
        """Sample the cells when due; stream lines; feed tare/calibration averaging."""
        if self.model_time_s() < self._silent_until:
            return
        due = self.due_samples(crystal_now_s, self.rate_hz)
        if due is None:
            return
        k, t = due
        force = self.cell_forces(t)
        if self._avg is not None and self._avg["kind"] == "cal":
            force[:, self._avg["cell"]] += self._avg["load"]  # the user's test weight
        counts = self.true_offsets + force * self.true_scales
        counts = counts + self.rng.normal(0.0, self.noise_counts, counts.shape)
        now = self.model_time_s()
        if self.faults.overrange(now, self.frame_id, int(k[0]), len(k)):
            counts[:, 0] = RAW_LIMIT
        counts = np.clip(np.round(counts), -RAW_LIMIT, RAW_LIMIT)
        if self._avg is not None:
            self._avg["rows"].append(counts)
            rows = np.concatenate(self._avg["rows"])
            if len(rows) >= AVERAGE_SAMPLES:
                self._finish_average(rows[:AVERAGE_SAMPLES].mean(axis=0))
        t_ms = (np.floor(self.device_time_s(t) * 1000.0).astype(np.int64)) % (1 << 32)
        if not self.streaming:
            return
        if self.units == "raw":
            shown = counts
            text = [f"{m},{a:.0f},{b:.0f},{c:.0f},{d:.0f}\r\n"
                    for m, (a, b, c, d) in zip(t_ms.tolist(), shown.tolist(), strict=True)]
        else:
            shown = np.round((counts - self.offsets) / self.scales, 2)
            text = [f"{m},{a:.2f},{b:.2f},{c:.2f},{d:.2f}\r\n"
                    for m, (a, b, c, d) in zip(t_ms.tolist(), shown.tolist(), strict=True)]
        rec = np.zeros(len(k), self.SENT_DTYPE)
        rec["t_ms"] = t_ms
        rec["t_model_s"] = t
        rec["force_n"] = force
        rec["cells"] = shown
        rec["boot"] = self.boots
        for i, line in enumerate(text):
            rec["frame"][i] = self.frame_id
            self.send(line.encode(), seq=int(k[i]), n=1)
        self.sent_chunks.append(rec)

    def _finish_average(self, mean_counts: np.ndarray) -> None:
        avg, self._avg = self._avg, None
        if avg is None:
            return
        if avg["kind"] == "tare":
            self.offsets = np.round(mean_counts)
            off = ",".join(f"{v:.0f}" for v in self.offsets)
            self._reply(f"# ok tare off={off}")
        else:
            cell, load = avg["cell"], avg["load"]
            scale = (mean_counts[cell] - self.offsets[cell]) / load
            if abs(scale) < 1e-6:
                self._reply("# err no load seen on that cell")
                return
            self.scales[cell] = scale
            self._reply(f"# ok cal cell={cell} scale={scale:.4f}")


class DiySetup(Setup):
    """A running simulated CSV4 plate (a :class:`Setup` named ``"diy"``)."""

    @property
    def board(self) -> Csv4Simulator:
        """The simulated board."""
        return self.simulators[0]



DIY_OPTIONS = ("rate", "units", "width", "length", "noise", "reset_silence", "clock_start_s",
               "drift", "drift_ppm", "faults", "name", "board_id", "calibrated")
#: ``sim:diy`` options of the board itself -> (Csv4Simulator keyword, type).
_BOARD_OPTIONS = {"rate": ("rate_hz", int), "width": ("width_m", float),
                  "length": ("length_m", float), "noise": ("noise_counts", float),
                  "reset_silence": ("reset_silence_s", float),
                  "clock_start_s": ("clock_start_s", float)}


def start_diy(options: dict[str, Any] | None = None) -> DiySetup:
    """Start a simulated CSV4 plate (``sim:diy?...``).

    Options: the common gait options (speed, mode, strike, mass, asymmetry, ...), ``seed``,
    ``faults`` (e.g. ``reset,bitflip:1e-4``), ``drift`` / ``drift_ppm`` (ppm, default 80),
    ``rate`` (10/80 Hz), ``units`` (raw/N), ``width`` / ``length`` (cell spacing in m, default
    0.40 × 0.60), ``noise`` (counts, default 30), ``reset_silence`` (s of silence after an
    auto-reset, default 1.5), ``clock_start_s`` (millis()/1000 at start; the u32 wraps at
    4294967.296 s), ``calibrated`` (1: EEPROM holds the true calibration), ``board_id``,
    ``name``.

    Raises
    ------
    DeviceError
        Unknown option, or a value out of range (rate 10/80 Hz, units raw/N, plate 0.05..5 m).
    """
    opts, gait, seed = setup_options(options)
    # the board's own options, given: its defaults are Csv4Simulator's
    board = {key: num_option(opts, option, None, kind)
             for option, (key, kind) in _BOARD_OPTIONS.items() if option in opts}
    if "units" in opts:
        board["units"] = str(opts.pop("units"))
    drift = num_option(opts, "drift_ppm", num_option(opts, "drift", 80.0))
    faults = opts.pop("faults", None)
    name = str(opts.pop("name", "diy"))
    pname = free_name(name)
    # unique among running simulators (reconnect-by-id must find this board)
    unique = zlib.crc32(pname.encode()) % 10**5
    board_id = str(opts.pop("board_id", f"FPDIY-{seed % 100:02d}{unique:05d}"))
    calibrated = str(opts.pop("calibrated", "0")).lower() in ("1", "true", "yes", "on")
    check_unknown("diy", opts, DIY_OPTIONS)
    port = SimPort(pname, description="forcelab simulated CSV4 DIY plate",
                   serial_number=board_id, vid=0x1A86, pid=0x7523).open()
    try:
        sim = Csv4Simulator(port, gait, board_id=board_id, seed=seed, faults=faults,
                            drift_ppm=drift, calibrated=calibrated, **board)
        start_together([sim])
    except BaseException:
        port.close()
        raise
    query = f"width={sim.width_m:g}&length={sim.length_m:g}"
    if sim.reset_silence_s > 1.0:
        query += f"&boot_timeout={sim.reset_silence_s + 1.5:g}"
    return DiySetup("diy", [port.device], [f"csv4://{port.device}?{query}"], [sim], gait,
                    dict(options or {}))
