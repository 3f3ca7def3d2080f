"""``forcelab feedback``: live biofeedback on one metric, headless, recorded into a session."""

from __future__ import annotations

import argparse

HELP = "Give live feedback on one metric (a cue per stance) while recording (headless)."

#: Seconds the detectors may take to find the first stance of every stream (5 s warm-up).
WARM_UP_TIMEOUT_S = 30.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``forcelab feedback`` (the record options they share first)."""
    from forcelab.commands.record import add_session_arguments

    add_session_arguments(parser)
    parser.add_argument(
        "--metric",
        required=True,
        metavar="M",
        help="metric to train, named as in 'forcelab analyze --json': valr_n_s, valr_bw_s, "
        "midstance_peak_si, peak_braking_n, contact_time_s, cadence_spm, step_width_m, ...",
    )
    parser.add_argument(
        "--target",
        required=True,
        metavar="T",
        help="a value (180), a band low:high (150:180, -3:3) or a change from the baseline "
        "phase (-15%%; needs --protocol with a baseline)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        metavar="S",
        help="length of feedback in s without --protocol (one trial, cues shown)",
    )
    parser.add_argument(
        "--side", default="both", choices=("left", "right", "both"),
        help="trained side (default both; for midstance_peak_si the side that ends a stride)",
    )
    parser.add_argument(
        "--schedule",
        default="every",
        metavar="SCHED",
        help="every (default), faded (100 %% -> 0 %% over training), bandwidth (only outside "
        "the band) or summary:N (one cue per N strides with their mean)",
    )
    parser.add_argument(
        "--protocol",
        metavar="P",
        help="phases and their seconds, in order: baseline=60,training=300,post=60,"
        "retention=60 (cues shown in training only; one trial per phase)",
    )
    parser.add_argument(
        "--audio", default="none", choices=("tone", "voice", "none"),
        help="sound for each shown cue (default none)",
    )
    parser.add_argument(
        "--cue-udp",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="also send every cue as JSON in one UDP datagram to HOST:PORT (external "
        "displays, wearables, a simulated runner); repeatable",
    )
    parser.add_argument(
        "--json", action="store_true",
        help="print one JSON object at the end: cues, latency_ms, per-phase means",
    )
    parser.epilog = (
        "The first phase starts once the stance detectors have warmed up (5 s of data). "
        "Exit status: 0 done, 1 recorded but a device or the disk failed, or the baseline "
        "gave no value to set the band from, 2 nothing recorded "
        "(bad option, device not found, file exists)."
    )


def run(args: argparse.Namespace) -> int:
    """Record with live feedback; returns the exit status."""
    import json
    import sys

    from forcelab.acquisition import SessionController
    from forcelab.acquisition.errors import AcquisitionError
    from forcelab.acquisition.feedback import UdpCueSender, parse_udp_address
    from forcelab.acquisition.headless import check_duration, record_headless
    from forcelab.analysis.feedback import (
        TAG_PREFIX,
        FeedbackEngine,
        parse_protocol,
        parse_schedule,
        parse_target,
    )
    from forcelab.commands.record import check_session_arguments, print_summary
    from forcelab.errors import InputError

    athlete = check_session_arguments(args)
    target = parse_target(args.target, args.metric)
    schedule = parse_schedule(args.schedule)
    if args.protocol and args.duration is not None:
        raise InputError("give either --duration or --protocol, not both")
    if args.protocol:
        phases = parse_protocol(args.protocol)
        trials = [(name, [f"{TAG_PREFIX}{name}"], s) for name, s in phases]
        durations = dict(phases)
    elif args.duration is not None:
        duration_s = check_duration(args.duration)
        trials = [("feedback", [], duration_s)]
        durations = {"": duration_s}
    else:
        raise InputError("give --duration S or --protocol baseline=S,training=S,...")
    if target.kind == "change" and "baseline" not in durations:
        raise InputError(
            f"target {args.target} is a change from the baseline: add a baseline phase, e.g. "
            "--protocol baseline=60,training=300,post=60"
        )
    for address in args.cue_udp:
        parse_udp_address(address)
    engine = FeedbackEngine(args.metric, target, args.side, schedule)
    controller = SessionController()
    feedback = controller.set_feedback(engine, durations)
    senders = [UdpCueSender(a) for a in args.cue_udp]
    for sender in senders:
        controller.add_cue_listener(sender)
    out = sys.stderr if args.json else sys.stdout
    player, _app = _audio_player(args.audio, out)
    if player is not None:
        controller.add_cue_listener(player)
    printer = None if args.json else _CuePrinter(controller, out)

    def warm_up(ctl: SessionController, stop) -> None:
        print("warming up the stance detectors (5 s of data)", file=out, flush=True)
        if not feedback.wait_ready(WARM_UP_TIMEOUT_S, stop) and not stop.is_set():
            raise AcquisitionError(
                f"no stance on every stream within {WARM_UP_TIMEOUT_S:g} s; is the athlete "
                "running on the sensors?"
            )

    try:
        summary = record_headless(
            args.device,
            args.output,
            sum(s for _, _, s in trials),
            athlete=athlete,
            operator=args.operator,
            notes=args.notes,
            tare=args.tare,
            weigh_s=args.weigh,
            interval_s=0.0 if args.json else args.interval,
            controller=controller,
            on_recording=warm_up,
            trials=trials,
            out=out,
        )
    finally:
        if printer is not None:
            printer.close()
        for sender in senders:
            sender.close()
        if player is not None:
            player.close()
    result = {
        "path": summary["path"],
        "cues": feedback.n_cues,
        "shown": feedback.n_shown,
        "latency_ms": feedback.latency_ms(),
        "metric": engine.metric,
        "target": target.text,
        "band": list(engine.band) if engine.band else None,
        "baseline": engine.baseline,
        "phase_means": engine.phase_means(),
        "phase_counts": engine.phase_counts(),
        "cue_listener_errors": feedback.hub.listener_errors,
    }
    if args.json:
        print(json.dumps(result))
        for error in summary.get("errors", [])[:1]:
            print(f"forcelab feedback: error during recording: {error}", file=sys.stderr)
    else:
        print_summary(summary, "feedback")
        lat = result["latency_ms"]
        print(
            f"feedback on {engine.metric}: {feedback.n_cues} cues ({feedback.n_shown} shown)"
            + (f", latency p50 {lat['p50']:.1f} ms, p99 {lat['p99']:.1f} ms"
               if lat["p50"] is not None else "")
        )
        for phase, mean in result["phase_means"].items():
            if mean is not None:
                print(f"  {phase or 'feedback':<10} mean {engine.metric} {mean:.4g}")
    if engine.band is None:
        print(
            f"forcelab feedback: the baseline phase gave no value of {engine.metric}, so the "
            f"band of target {target.text} was never known and no cue was shown",
            file=sys.stderr,
        )
        return 1
    return 1 if summary.get("errors") else 0


class _CuePrinter:
    """Prints every shown cue as one line (the terminal as the runner's display), from its own
    thread: the cue listener only wakes it, so the analysis never waits on the terminal."""

    def __init__(self, controller, out) -> None:
        import threading

        self.controller = controller
        self.out = out
        self.wake = threading.Event()
        self.stopping = False
        controller.add_cue_listener(lambda cue: self.wake.set())
        self.thread = threading.Thread(target=self._run, name="forcelab-cue-print", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        from forcelab.acquisition.headless import say

        while True:
            self.wake.wait()
            self.wake.clear()
            for cue in self.controller.cues():
                if cue.shown:
                    say(self.out, f"cue {cue.text()}")
            if self.stopping:
                return

    def close(self) -> None:
        """Print what is left and stop."""
        self.stopping = True
        self.wake.set()
        self.thread.join()


def _audio_player(kind: str, out):
    """The cue sound player for ``--audio`` and the Qt application it needs (kept alive by the
    caller): (None, None) for none, or when no sound can be played (then one line on ``out``
    says why and the feedback goes on without sound)."""
    if kind == "none":
        return None, None
    from PyQt5.QtCore import QCoreApplication

    from forcelab.console.audio import CuePlayer

    # the player needs an application object, not its event loop
    app = QCoreApplication.instance() or QCoreApplication([])
    player = CuePlayer(kind)
    if not player.audible:
        print(f"forcelab feedback: {player.reason}", file=out, flush=True)
        player.close()
        return None, app
    return player, app
