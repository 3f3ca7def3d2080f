"""Lab Streaming Layer inlets as forcelab devices: ``lsl:NAME`` and ``lsl:?type=Force&...``.

A lab's plates and insoles (AMTI, Bertec, Kistler behind QTM, Vicon or a vendor app; Vernier;
any LSL app) publish LSL streams; this driver opens them like any other device.

* Device strings: ``lsl:NAME`` resolves the stream called NAME; ``lsl:?type=Force&source_id=ID``
  any LSL predicate field (name, type, source_id, hostname, uid, session_id, channel_count,
  nominal_srate, channel_format). Every matching stream becomes one device.
* Options: ``vertical=``, ``cop_ml=``, ``cop_ml_right=``, ``side=``, ``force_unit=``,
  ``length_unit=``, ``origin_z_mm=`` (how to read the channels, see
  :mod:`forcelab.drivers.lsl_channels`), ``resolve_s=5`` (how long to look for the stream) and,
  for irregular-rate streams only, ``rate=HZ`` (the uniform rate they are resampled to; estimated
  from the first samples when left out).
* Time: host times are LSL time stamps plus ``time_correction()`` (the sender's clock mapped to
  this machine's LSL clock), mapped to the ``time.time()`` epoch. A regular-rate stream's sample
  numbers follow its time stamps: a jump in time stamps beyond the jitter (LSL's own sample
  loss, a stream that came back) is an explicit gap (``Block.gap_before``), counted in
  ``LinkStats.gaps``/``dropped_samples``; a stream that comes back with its clock reset (the
  sender restarted) is a gap as long as it was away by this computer's clock. Irregular-rate
  streams are linearly interpolated onto a uniform grid; slots more than two periods from any
  sample are a gap.
* Loss: when the stream disappears (its sender quit, the network went away) ``read`` raises
  ConnectionLost at once and keeps raising it while the stream is gone; each read then looks
  for the stream again (same source_id, or same name, type and host) and reattaches to it.
"""

from __future__ import annotations

import collections
import ctypes
import os
import time
from typing import Any

import numpy as np
from forcelab.drivers.base import (
    FORCE_ROLES,
    MOMENT_ROLES,
    Block,
    Device,
    DeviceEvent,
    DeviceInfo,
    LinkStats,
)
from forcelab.drivers.errors import ConnectionLost, DeviceError, DeviceNotFound
from forcelab.drivers.lsl_channels import (
    MAPPING_OPTIONS,
    ChannelMap,
    acquisition_from_xml,
    channels_from_xml,
    map_channels,
)

try:  # the optional extra forcelab[lsl]
    import pylsl
    from pylsl.util import LostError, handle_error
    from pylsl.util import TimeoutError as LslTimeout
except ImportError:  # pragma: no cover - exercised only where pylsl is not installed
    pylsl = handle_error = None
    LostError = LslTimeout = RuntimeError

#: Where liblsl looks for a lab's own configuration (lsl_api.cfg), besides $LSLAPICFG.
LIBLSL_CONFIG_FILES = ("lsl_api.cfg", "~/lsl_api/lsl_api.cfg", "/etc/lsl_api/lsl_api.cfg")


def _quiet_liblsl() -> None:
    """liblsl logs INFO lines on stderr by default; keep the terminal to forcelab's own messages
    (it reports losses itself) unless the lab configures liblsl with its own file."""
    if pylsl is None or os.environ.get("LSLAPICFG"):
        return
    if any(os.path.exists(os.path.expanduser(p)) for p in LIBLSL_CONFIG_FILES):
        return
    try:
        pylsl.set_config_content("[log]\nlevel = -3\n")
    except NotImplementedError:  # liblsl < 1.17.7: its default logging stays
        pass


_quiet_liblsl()

INSTALL_HINT = "LSL devices need pylsl (with liblsl): pip install 'forcelab[lsl]'"
#: StreamInfo fields a device string may select streams by.
PREDICATE_FIELDS = ("name", "type", "source_id", "hostname", "uid", "session_id",
                    "channel_count", "nominal_srate", "channel_format")
DEVICE_OPTIONS = (*MAPPING_OPTIONS, "resolve_s", "rate")
DEFAULT_RESOLVE_S = 5.0
#: After the first stream a predicate without a name matches, how long to look for more (s).
MORE_STREAMS_S = 1.0
#: Seconds of samples the inlet buffers when the recorder falls behind (LSL's max_buflen).
INLET_BUFFER_S = 60
#: How often the clock offset to the sender is refreshed (s); liblsl re-measures it itself.
TIME_CORRECTION_PERIOD_S = 2.0
#: Seconds of recent samples kept for a software zero (tare).
ZERO_WINDOW_S = 0.25
#: The inlet's samples are taken once every READ_PERIOD_S s: one wake-up and one pull per period
#: whatever the sender's chunking. A sender pushing every millisecond would otherwise cost a wake-up
#: per push, and each wake-up costs far more CPU than the samples it brings (see
#: bench/bench_lsl.py). Adds at most this much latency.
READ_PERIOD_S = 0.01
#: Samples of an irregular stream used to estimate its rate when ``rate=`` is not given.
RATE_ESTIMATE_SAMPLES = 20
_ZEROED_ROLES = FORCE_ROLES + MOMENT_ROLES


def _require_pylsl() -> None:
    if pylsl is None:
        raise DeviceNotFound(INSTALL_HINT)


def build_predicate(name: str, fields: dict[str, str]) -> str:
    """The LSL (XPath 1.0) predicate selecting streams by name and StreamInfo fields.

    Raises
    ------
    DeviceError
        No name and no field, or a value holding a quote.
    """
    items = ([("name", name)] if name else []) + sorted(fields.items())
    if not items:
        raise DeviceError(
            "lsl: needs a stream name (lsl:NAME) or fields (lsl:?type=Force&source_id=ID); "
            "`forcelab devices` lists the LSL streams it can see"
        )
    for key, value in items:
        if "'" in value:
            raise DeviceError(f"lsl: {key}={value!r} may not contain a quote")
    return " and ".join(f"{k}='{v}'" for k, v in items)


def list_streams(wait_s: float = 1.0) -> list[dict[str, Any]]:
    """The LSL streams visible on the network within ``wait_s`` s (empty without pylsl).

    Returns
    -------
    list of dict
        ``device`` (a device string that opens it), ``name``, ``type``, ``channel_count``,
        ``rate_hz`` (0 = irregular), ``source_id``, ``hostname``.
    """
    if pylsl is None:
        return []
    out = []
    for info in pylsl.resolve_streams(wait_time=wait_s):
        sid = info.source_id()
        out.append({
            "device": f"lsl:?source_id={sid}" if sid else f"lsl:{info.name()}",
            "name": info.name(),
            "type": info.type(),
            "channel_count": info.channel_count(),
            "rate_hz": info.nominal_srate(),
            "source_id": sid,
            "hostname": info.hostname(),
        })
    return sorted(out, key=lambda d: (d["name"], d["source_id"]))


def open_lsl(target: str, options: dict[str, str]) -> list[Device]:
    """Registry opener of ``lsl:``: one device per stream the name/predicate resolves.

    Raises
    ------
    DeviceNotFound
        pylsl is missing, or no stream matches within ``resolve_s``.
    DeviceError
        Unknown options, or a stream whose channels cannot be read as forces (the message names
        the options to give).
    """
    _require_pylsl()
    opts = {k.lower(): v for k, v in options.items()}
    unknown = sorted(set(opts) - set(DEVICE_OPTIONS) - set(PREDICATE_FIELDS))
    if unknown:
        raise DeviceError(
            f"unknown lsl: option(s) {', '.join(unknown)}; valid: "
            f"{', '.join(DEVICE_OPTIONS + PREDICATE_FIELDS)}"
        )
    fields = {k: opts.pop(k) for k in PREDICATE_FIELDS if k in opts}
    name = target.strip()
    if name and "name" in fields:
        raise DeviceError("lsl: give the stream name once (lsl:NAME or lsl:?name=NAME)")
    name = name or fields.pop("name", "")
    predicate = build_predicate(name, fields)
    resolve_s = _positive(opts.pop("resolve_s", str(DEFAULT_RESOLVE_S)), "resolve_s", 600.0)
    rate_hz = _positive(opts.pop("rate"), "rate", 1e6) if "rate" in opts else None
    found = pylsl.resolve_bypred(predicate, minimum=1, timeout=resolve_s)
    if not found:
        seen = sorted({f"{i.name()} ({i.type()})" for i in pylsl.resolve_streams(0.5)})
        raise DeviceNotFound(
            f"no LSL stream matches {predicate} within {resolve_s:g} s; streams seen: "
            + (", ".join(seen) if seen else "none")
            + " (check the sending app, or raise resolve_s=)"
        )
    if not name:  # a predicate may match several streams (two belts): give the rest a moment
        found += pylsl.resolve_bypred(predicate, minimum=len(found) + 1,
                                      timeout=MORE_STREAMS_S)
    unique = {i.uid(): i for i in found}
    devices: list[Device] = []
    try:
        for info in unique.values():
            devices.append(LslDevice(info, opts, resolve_s=resolve_s, rate_hz=rate_hz))
    except BaseException:
        for d in devices:
            d.close()
        raise
    return devices


def _positive(text: str, key: str, upper: float) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= upper:
        raise DeviceError(f"{key}={text} must be a positive number (at most {upper:g})")
    return value


class LslDevice(Device):
    """One LSL stream read through an inlet (see the module docstring).

    Parameters
    ----------
    stream : pylsl.StreamInfo
        A resolved stream.
    options : dict of str
        Channel options (:data:`forcelab.drivers.lsl_channels.MAPPING_OPTIONS`).
    resolve_s : float
        Seconds to wait for the stream's full description and for opening it.
    rate_hz : float or None
        Uniform rate for an irregular-rate stream (None: estimated from its first samples).
    """

    def __init__(self, stream: Any, options: dict[str, str], *, resolve_s: float = 5.0,
                 rate_hz: float | None = None) -> None:
        _require_pylsl()
        self.stats = LinkStats()
        self._options = dict(options)
        self._resolve_s = float(resolve_s)
        self._events: list[DeviceEvent] = []
        self._inlet: Any = None
        self._resolver: Any = None
        self._lost_message = ""
        self._streaming = False
        self._closed = False
        name = stream.name()
        self._stream_name = name
        sid = stream.source_id()
        self._reattach_predicate = (
            f"source_id='{sid}'" if sid and "'" not in sid
            else build_predicate(name, {"type": stream.type(), "hostname": stream.hostname()})
        )
        inlet, full, cmap = self._open_inlet(stream)
        self._inlet = inlet
        self._map: ChannelMap = cmap
        self._n_source = full.channel_count()
        nominal = float(full.nominal_srate())
        self._irregular = nominal <= 0
        # one second of samples in the stream's own type, and their time stamps: liblsl writes
        # into both directly (see _bind)
        self._buf = np.empty((max(64, int(max(nominal, 100.0))), self._n_source),
                             dtype=_DTYPES[full.channel_format()])
        self._buf_rows = self._buf.shape[0]
        self._sample_bytes = self._n_source * self._buf.itemsize
        self._stamps = np.empty(self._buf_rows)
        self._pull_fn: Any = None
        self._pull_args: tuple[Any, ...] = ()
        self._pull_error = ctypes.c_int()
        self._next_pull_s = 0.0
        if self._irregular:
            rate = rate_hz if rate_hz is not None else self._estimate_rate(inlet, name)
        else:
            if rate_hz is not None:
                inlet.close_stream()
                raise DeviceError(
                    f"LSL stream {name!r} has a regular rate of {nominal:g} Hz; rate= only "
                    "applies to irregular-rate streams"
                )
            rate = nominal
        self._rate_hz = float(rate)
        self._period_s = 1.0 / self._rate_hz
        # time stamps further than this from where the rate puts them are a gap (s); grows
        # with their jitter
        self._min_tol_s = max(2.5 * self._period_s, 0.003)
        self._recent_keep = max(1, int(ZERO_WINDOW_S * self._rate_hz))
        self._bind(inlet)
        zero_cols = [i for i, c in enumerate(cmap.channels) if c.role in _ZEROED_ROLES]
        self._zero_cols = np.asarray(zero_cols, dtype=np.intp)
        self._offset = np.zeros(len(cmap.channels))
        self._zeroed = False
        self._recent: collections.deque[np.ndarray] = collections.deque()
        self._recent_n = 0
        self._epoch_offset_s = time.time() - pylsl.local_clock()
        self._tc_s = 0.0
        self._tc_next = 0.0
        self._next_seq = 0
        self._anchor_s: float | None = None  # expected LSL time (this machine) of _next_seq
        self._jitter_s = 0.0
        self._arrival_s = time.monotonic()  # when the newest samples were pulled
        self._lost_arrival_s: float | None = None  # _arrival_s when the stream was lost
        self._last: tuple[float, np.ndarray] | None = None  # irregular: newest (t, sample)
        acq = acquisition_from_xml(full.as_xml())
        self.info = DeviceInfo(
            protocol="LSL",
            model=acq.get("model") or acq.get("manufacturer") or full.type() or "LSL stream",
            serial=sid or full.uid(),
            firmware="",
            side=cmap.side,
            rate_hz=self._rate_hz,
            channels=cmap.channels,
            kind=cmap.kind,
            extra={
                "lsl": {"name": name, "type": full.type(), "source_id": sid,
                        "hostname": full.hostname(), "nominal_srate": nominal,
                        "channel_format": _FORMATS.get(full.channel_format(), "?"),
                        "manufacturer": acq.get("manufacturer", "")},
                "channel_map": cmap.description,
                "resampled": bool(self._irregular),
            },
        )

    # -- Device interface ----------------------------------------------------------------------

    def start(self) -> None:
        """Open the stream and start taking its samples (earlier ones are dropped)."""
        if self._inlet is None:
            raise ConnectionLost(self._lost_message)
        try:
            self._inlet.open_stream(timeout=self._resolve_s)
            self._inlet.flush()
        except LostError:
            self._mark_lost()
            raise ConnectionLost(self._lost_message) from None
        except LslTimeout:
            raise DeviceError(
                f"LSL stream {self._stream_name!r} does not answer within {self._resolve_s:g} s"
            ) from None
        self._refresh_time_correction(self._resolve_s)
        self._last = None  # a restart after stop() is a gap, numbered from the time stamps
        self._streaming = True

    def stop(self) -> None:
        """Stop taking samples (the inlet stays resolved; start() resumes with a gap)."""
        self._streaming = False
        if self._inlet is not None:
            self._inlet.close_stream()

    def read(self, timeout: float = 0.1) -> list[Block]:
        """Blocks received within ``timeout`` s; ConnectionLost while the stream is gone.

        Takes the inlet's samples at most once every READ_PERIOD_S s (waiting for that moment,
        at most ``timeout`` s) and all of them at once.
        """
        if self._closed:
            raise ConnectionLost(f"LSL stream {self._stream_name!r}: closed")
        if self._inlet is None:
            if not self._reattach():
                raise ConnectionLost(self._lost_message)
        if not self._streaming:
            time.sleep(timeout)
            return []
        wait_s = self._next_pull_s - time.monotonic()
        if wait_s > 0:
            if wait_s > timeout:
                time.sleep(timeout)
                return []
            time.sleep(wait_s)
        n = self._pull_fn(*self._pull_args) // self._n_source
        if self._pull_error.value:
            self._pull_failed()
        now = time.monotonic()
        # a full buffer means more are waiting: take them at the next read
        self._next_pull_s = now + READ_PERIOD_S if n < self._buf_rows else now
        if n == 0:
            return []
        stats = self.stats
        stats.frames += n
        stats.bytes_received += n * self._sample_bytes
        self._arrival_s = now
        if now >= self._tc_next:
            self._refresh_time_correction(0.0)
        values = self._map.apply(self._buf[:n])
        self._remember(values, n)
        if self._zeroed:
            values = values - self._offset
        if self._irregular:
            return self._resample(self._stamps[:n] + self._tc_s, values)
        return self._blocks(n, values)

    def zero(self) -> None:
        """Software tare: subtract the mean of the last 0.25 s of force and moment channels."""
        if not self._recent:
            raise DeviceError(
                f"LSL stream {self._stream_name!r}: no samples yet to zero from; is it live?"
            )
        recent = np.concatenate(list(self._recent))
        self._offset[self._zero_cols] = np.nanmean(recent[:, self._zero_cols], axis=0)
        self._zeroed = bool(np.any(self._offset))

    def close(self) -> None:
        """Close the inlet; safe to call twice."""
        self._closed = True
        self._streaming = False
        inlet, self._inlet = self._inlet, None
        if inlet is not None:
            inlet.close_stream()
        self._resolver = None

    def pop_events(self) -> list[DeviceEvent]:
        """Events since the last call (``unplug`` when the stream went, ``replug`` back)."""
        out, self._events = self._events, []
        return out

    @property
    def time_correction_s(self) -> float:
        """The sender's clock offset to this machine's LSL clock (s), as last measured."""
        return self._tc_s

    # -- internals -----------------------------------------------------------------------------

    def _open_inlet(self, stream: Any) -> tuple[Any, Any, ChannelMap]:
        inlet = pylsl.StreamInlet(stream, max_buflen=INLET_BUFFER_S, recover=False)
        try:
            full = inlet.info(timeout=self._resolve_s)
        except (LslTimeout, LostError):
            inlet.close_stream()
            raise DeviceNotFound(
                f"LSL stream {stream.name()!r} was found but does not answer within "
                f"{self._resolve_s:g} s"
            ) from None
        if full.channel_format() in (pylsl.cf_string, pylsl.cf_undefined):
            raise DeviceError(
                f"LSL stream {full.name()!r} (type {full.type() or '-'}) carries text, not "
                "samples (a marker stream?); name a force stream"
            )
        cmap = map_channels(full.name(), full.type(), full.channel_count(),
                            channels_from_xml(full.as_xml()), self._options)
        return inlet, full, cmap

    def _estimate_rate(self, inlet: Any, name: str) -> float:
        """Median sample interval of the first samples of an irregular stream -> rate in Hz."""
        inlet.open_stream(timeout=self._resolve_s)
        stamps: list[float] = []
        deadline = time.monotonic() + self._resolve_s
        while len(stamps) < RATE_ESTIMATE_SAMPLES and time.monotonic() < deadline:
            _, ts = inlet.pull_chunk(timeout=0.2, max_samples=self._buf.shape[0],
                                     dest_obj=self._buf, min_samples=1, as_numpy=True)
            stamps += list(ts)
        inlet.close_stream()
        dt = np.diff(np.asarray(stamps))
        dt = dt[dt > 0]
        if dt.size < RATE_ESTIMATE_SAMPLES // 2:
            raise DeviceError(
                f"LSL stream {name!r} has an irregular rate and sent too few samples to measure "
                f"it within {self._resolve_s:g} s; give the rate to resample it to as rate=HZ"
            )
        return float(round(1.0 / float(np.median(dt)), 3))

    def _bind(self, inlet: Any) -> None:
        """Prepare the one call that pulls ``inlet``'s waiting samples into the buffers.

        pylsl's own ``pull_chunk`` builds its ctypes arguments and arrays on every call, which
        costs several times the pull itself at a hundred reads a second; the inlet's liblsl
        function (``do_pull_chunk``, chosen by pylsl for the stream's format) is called here with
        arguments built once.
        """
        rows = self._buf_rows
        self._pull_fn = inlet.do_pull_chunk
        self._pull_args = (
            inlet.obj,
            ctypes.c_void_p(self._buf.ctypes.data), ctypes.c_void_p(self._stamps.ctypes.data),
            ctypes.c_size_t(rows * self._n_source), ctypes.c_size_t(rows), ctypes.c_double(0.0),
            ctypes.byref(self._pull_error),
        )

    def _pull_failed(self) -> None:
        """The pull set an error code: raise it, ConnectionLost when the stream is gone (the
        device then looks for it again)."""
        code, self._pull_error.value = self._pull_error.value, 0
        try:
            handle_error(code)
        except LostError:
            self._mark_lost()
            raise ConnectionLost(self._lost_message) from None

    def _refresh_time_correction(self, timeout: float) -> None:
        try:
            self._tc_s = float(self._inlet.time_correction(timeout=max(timeout, 0.05)))
        except (LslTimeout, LostError):  # keep the last offset; the next read notices a loss
            pass
        self._tc_next = time.monotonic() + TIME_CORRECTION_PERIOD_S

    def _remember(self, values: np.ndarray, n: int) -> None:
        """Keep the newest ZERO_WINDOW_S s of samples (``values``, ``n`` of them, before
        zeroing) for :meth:`zero`."""
        self._recent.append(values)
        self._recent_n += n
        keep = self._recent_keep
        while self._recent_n - self._recent[0].shape[0] >= keep:
            self._recent_n -= self._recent.popleft().shape[0]

    def _blocks(self, n: int, values: np.ndarray) -> list[Block]:
        """Regular rate: number the ``n`` samples just pulled by their time stamps (the
        sender's clock); jumps beyond the jitter are gaps."""
        period = self._period_s
        tol = 4.0 * self._jitter_s
        if tol < self._min_tol_s:
            tol = self._min_tol_s
        stamps = self._stamps
        t_first = stamps.item(0)
        if abs(stamps.item(n - 1) - t_first - (n - 1) * period) <= tol:
            return [self._run(t_first, values, period, tol)]  # the usual case: one run
        breaks = (np.flatnonzero(np.abs(np.diff(stamps[:n]) - period) > tol) + 1).tolist()
        return [self._run(stamps.item(a), values[a:b], period, tol)
                for a, b in zip([0, *breaks], [*breaks, n], strict=True)]

    def _run(self, t_first: float, samples: np.ndarray, period: float, tol: float) -> Block:
        """The block of one run of samples with contiguous time stamps, ``t_first`` (the
        sender's clock) the first's; a jump from the previous run beyond ``tol`` s is a gap."""
        n = samples.shape[0]
        gap = 0
        t_a = t_first + self._tc_s
        anchor = self._anchor_s
        if anchor is None:
            anchor = t_a
        else:
            resid = t_a - anchor
            if resid > tol:
                gap = int(round(resid * self._rate_hz))
                anchor = t_a
            elif resid < -tol:  # the sender's clock went back (it restarted): re-anchor
                anchor = t_a
                if self._lost_arrival_s is not None:  # away time by this host's clock
                    away_s = time.monotonic() - self._lost_arrival_s - n * period
                    gap = max(0, int(round(away_s * self._rate_hz)))
            else:  # follow the sender's true rate and the jitter of its time stamps
                self._jitter_s += 0.05 * (abs(resid) - self._jitter_s)
                anchor += 0.1 * resid
        if gap:
            self.stats.gaps += 1
            self.stats.dropped_samples += gap
            self._next_seq += gap
        self._lost_arrival_s = None
        seq = self._next_seq
        self._next_seq = seq + n
        self._anchor_s = anchor + n * period
        return Block(seq, t_first, anchor + self._epoch_offset_s, samples, 0, gap)

    def _resample(self, t: np.ndarray, values: np.ndarray) -> list[Block]:
        """Irregular rate: linear interpolation onto the uniform grid; slots farther than two
        periods from a sample are a gap."""
        period = self._period_s
        if self._last is None:
            self._anchor_s = float(t[0])
            self._last = (float(t[0]), values[0])
        t_prev, v_prev = self._last
        keep = t > t_prev
        tt = np.r_[t_prev, t[keep]]
        vv = np.vstack([v_prev[None, :], values[keep]])
        self._last = (float(tt[-1]), vv[-1])
        first = self._next_seq
        n_slots = int(np.floor((tt[-1] - self._anchor_s) / period + 1e-9)) + 1
        if n_slots <= 0:
            return []
        grid = self._anchor_s + np.arange(n_slots) * period
        j = np.clip(np.searchsorted(tt, grid, side="right") - 1, 0, tt.size - 1)
        j2 = np.minimum(j + 1, tt.size - 1)
        far = (tt[j2] - tt[j]) > 2.0 * period
        exact = np.isclose(grid, tt[j], rtol=0.0, atol=1e-9)
        out_vals = np.column_stack([np.interp(grid, tt, col) for col in vv.T])
        valid = ~(far & ~exact)
        self._anchor_s = float(grid[-1]) + period
        self._next_seq = first + n_slots
        blocks = []
        idx = np.flatnonzero(valid)
        if idx.size == 0:
            return []
        runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
        expected = first
        for run in runs:
            seq0 = first + int(run[0])
            gap = seq0 - expected
            if gap:
                self.stats.gaps += 1
                self.stats.dropped_samples += gap
            blocks.append(Block(seq=seq0, t_device_s=float(grid[run[0]] - self._tc_s),
                                t_host_s=float(grid[run[0]]) + self._epoch_offset_s,
                                samples=out_vals[run], gap_before=gap))
            expected = seq0 + run.size
        return blocks

    def _mark_lost(self) -> None:
        self._lost_arrival_s = self._arrival_s
        inlet, self._inlet = self._inlet, None
        self._lost_message = (
            f"LSL stream {self._stream_name!r} is gone (its sender stopped or the network "
            "dropped); recording goes on and the stream is reattached when it comes back"
        )
        if inlet is not None:
            inlet.close_stream()
        self._resolver = pylsl.ContinuousResolver(pred=self._reattach_predicate, forget_after=1.0)
        self._events.append(DeviceEvent("unplug", self._next_seq, time.time(), 0,
                                        self._lost_message))

    def _reattach(self) -> bool:
        """Try the streams the resolver sees now; True once one is open and streaming."""
        if self._resolver is None:
            return False
        for candidate in self._resolver.results():
            try:
                inlet = pylsl.StreamInlet(candidate, max_buflen=INLET_BUFFER_S, recover=False)
                full = inlet.info(timeout=0.5)
                if (full.channel_count() != self._n_source
                        or map_channels(full.name(), full.type(), full.channel_count(),
                                        channels_from_xml(full.as_xml()),
                                        self._options).channels != self._map.channels):
                    self._lost_message = (
                        f"LSL stream {full.name()!r} came back with other channels; reconnect "
                        "it as a new device"
                    )
                    inlet.close_stream()
                    continue
                if self._streaming:
                    inlet.open_stream(timeout=0.5)
                self._inlet = inlet
                self._bind(inlet)
                if self._streaming:
                    self._refresh_time_correction(2.0)  # the first estimate takes ~0.6 s
            except (LslTimeout, LostError, DeviceError):
                continue
            self._resolver = None
            self.stats.reconnects += 1
            self._last = None
            self._events.append(DeviceEvent("replug", self._next_seq, time.time(), 0,
                                            f"LSL stream {full.name()!r} is back"))
            return True
        return False


_FORMATS = {1: "float32", 2: "double64", 3: "string", 4: "int32", 5: "int16", 6: "int8",
            7: "int64", 0: "undefined"}
_DTYPES = {1: np.float32, 2: np.float64, 4: np.int32, 5: np.int16, 6: np.int8, 7: np.int64}
