"""A simulated runner who listens to feedback cues and changes how she loads.

Any simulated setup takes ``respond=METRIC:PCT`` with ``cue_port=PORT``: the runner listens on
UDP ``127.0.0.1:PORT`` for cues (one JSON object per datagram, as ``forcelab feedback
--cue-udp 127.0.0.1:PORT`` and any external display receive them) and moves METRIC by up to
PCT % (``respond=valr_n_s:-30``: loading rate down by up to 30 %).

The model (deterministic given the cues):

* Learning: a learned share ``L`` (0..1, starts at 0). Each *shown* cue of METRIC with a known
  band moves it by the learning rate ``learn`` (default 0.03 per cue): a cue on the side of the
  band the runner is moving away from ("above" when lowering) raises it, ``L += learn (1 - L)``;
  a cue past the band ("below" when lowering) lowers it, ``L -= learn L``; "in" keeps it. So the
  runner settles where the cues say "in", as a runner following a target does.
* Retention: the change applied to each new stance is
  ``PCT x L x (retain + (1 - retain) exp(-t / forget))``, t = seconds since the last shown cue:
  right after training all of it, then decaying towards the share ``retain`` (default 0.7)
  with time constant ``forget`` (default 60 s). Crowell & Davis (2011) found loading rates
  about 30 % lower after eight sessions of real-time feedback, still lower a month later; the
  model keeps that shape (a change that holds, partly) on the time scale of one session.
* What moves: loading rates and the impact peak scale the gait model's impact peak; force
  peaks (mid-stance, peak force, braking) its mid-stance peak; ``contact_time_s`` the contact
  time; ``cadence_spm`` the step time (inverse); ``midstance_peak_si`` the asymmetry. The
  loading rate follows the impact peak only roughly (the impact rides on the active peak).

The runner is part of the simulator: it imports nothing of forcelab outside ``drivers`` and
the cue format is plain JSON (``metric``, ``zone``, ``shown``, ``band_low``).
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from typing import Any

from forcelab.drivers.errors import DeviceError

#: Options of the responding runner (popped by :func:`runner_from_options`).
RUNNER_OPTIONS = ("respond", "cue_port", "learn", "retain", "forget")

#: What each trainable metric moves in the gait model (prefix of the metric name).
_MOVES = (
    ("midstance_peak_si", "asymmetry"),
    ("valr", "impact"),
    ("vilr", "impact"),
    ("impact_peak", "impact"),
    ("midstance_peak", "peak"),
    ("peak_force", "peak"),
    ("peak_braking", "peak"),
    ("contact_time", "contact"),
    ("cadence", "step"),
)

#: Stances are laid out only this far ahead (s) so that a change shows within a step or two.
RESPONSIVE_LOOKAHEAD_S = 0.5


class CueResponsiveRunner:
    """Learning state of a runner fed cues over UDP (see the module docstring).

    Parameters
    ----------
    metric : str
        The metric the runner changes when cued (``valr_n_s``...).
    change_pct : float
        The most it changes, % (negative: lower).
    port : int
        UDP port on 127.0.0.1 to listen on for cues.
    learn : float
        Learning rate per shown cue (0 < learn ≤ 1).
    retain : float
        Share of the learned change kept long after the last cue (0..1).
    forget_s : float
        Time constant (s) of the decay towards the retained share.

    Raises
    ------
    DeviceError
        Bad option, or the port cannot be bound.
    """

    def __init__(self, metric: str, change_pct: float, port: int, learn: float = 0.03,
                 retain: float = 0.7, forget_s: float = 60.0) -> None:
        self.param = next((p for prefix, p in _MOVES if metric.startswith(prefix)), None)
        if self.param is None:
            raise DeviceError(
                f"respond={metric}: the simulated runner cannot change that metric; it can "
                f"change {', '.join(sorted({m for m, _ in _MOVES}))}..."
            )
        checks = {"respond": (change_pct, -90.0, 200.0), "learn": (learn, 1e-6, 1.0),
                  "retain": (retain, 0.0, 1.0), "forget": (forget_s, 1e-3, 1e6)}
        for name, (v, lo, hi) in checks.items():
            if not (math.isfinite(v) and lo <= v <= hi):
                raise DeviceError(f"runner option {name}={v!r} is out of range [{lo}, {hi}]")
        self.metric = metric
        self.change_pct = float(change_pct)
        self.learn, self.retain, self.forget_s = float(learn), float(retain), float(forget_s)
        self.port = int(port)
        self.learned = 0.0
        self.cues_heard = 0
        self.cues_used = 0
        self._last_cue_mono: float | None = None
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Listen for cues on 127.0.0.1:``port`` (the setup starts it once its devices run).

        Raises
        ------
        DeviceError
            If the port cannot be bound.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            sock.bind(("127.0.0.1", self.port))
        except OSError as exc:
            sock.close()
            raise DeviceError(
                f"cue_port={self.port}: cannot listen there ({exc.strerror})"
            ) from None
        sock.settimeout(0.2)
        self._sock = sock
        self._thread = threading.Thread(target=self._listen, name="sim-runner-cues", daemon=True)
        self._thread.start()

    def hear(self, cue: dict[str, Any]) -> None:
        """Take one cue (a dict of the cue's JSON)."""
        with self._lock:
            self.cues_heard += 1
            if cue.get("metric") != self.metric or not cue.get("shown"):
                return
            if cue.get("band_low") is None or cue.get("zone") not in ("below", "in", "above"):
                return
            self.cues_used += 1
            self._last_cue_mono = time.monotonic()
            towards = "above" if self.change_pct < 0 else "below"
            if cue["zone"] == towards:
                self.learned += self.learn * (1.0 - self.learned)
            elif cue["zone"] != "in":
                self.learned -= self.learn * self.learned

    def change_pct_now(self) -> float:
        """The change (%) applied to a stance laid out now."""
        with self._lock:
            if self._last_cue_mono is None:
                return 0.0
            since = time.monotonic() - self._last_cue_mono
            held = self.retain + (1.0 - self.retain) * math.exp(-since / self.forget_s)
            return self.change_pct * self.learned * held

    def factors(self) -> dict[str, float]:
        """Multipliers for the gait model's next stance."""
        scale = 1.0 + self.change_pct_now() / 100.0
        return {self.param: 1.0 / scale if self.param == "step" else scale}

    def _listen(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                cue = json.loads(data.decode())
            except (UnicodeDecodeError, ValueError):
                continue  # not a cue: a listener ignores stray datagrams
            if isinstance(cue, dict):
                self.hear(cue)

    def close(self) -> None:
        """Stop listening (idempotent; nothing to do before :meth:`start`)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._sock is not None:
            self._sock.close()


def runner_from_options(opts: dict[str, Any]) -> CueResponsiveRunner | None:
    """Pop the runner options from ``opts``; a runner when ``respond`` is given, else None.

    Raises
    ------
    DeviceError
        Malformed ``respond``, no ``cue_port``, or options without ``respond``.
    """
    raw = opts.pop("respond", None)
    given = {k: opts.pop(k) for k in RUNNER_OPTIONS[1:] if k in opts}
    if raw is None:
        if given:
            raise DeviceError(f"{', '.join(sorted(given))} need respond=METRIC:PCT")
        return None
    metric, _, pct = str(raw).partition(":")
    try:
        change = float(pct)
        port = int(given.pop("cue_port"))
        kw = {k: float(v) for k, v in given.items()}
    except KeyError:
        raise DeviceError("respond=METRIC:PCT needs cue_port=PORT (cues arrive over UDP)") from None
    except ValueError:
        raise DeviceError(
            f"respond={raw!r}: write respond=METRIC:PCT (e.g. valr_n_s:-30) with numeric "
            "cue_port, learn, retain and forget"
        ) from None
    if not 1 <= port <= 65535:
        raise DeviceError(f"cue_port={port} is not a port number 1-65535")
    kw["forget_s"] = kw.pop("forget", 60.0)
    return CueResponsiveRunner(metric.strip(), change, port, **kw)
