"""The report page of a feedback protocol, from session files written through the store: phase
means with their CIs and the band, changes from baseline in words, coloured only when real."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from forcelab.drivers.base import Block
from forcelab.drivers.sim.gait import GaitModel, GaitParams
from subprocesses import run_cli
from synth_sessions import T0_UNIX_S, _plate_info, _plate_samples

from forcelab.analysis.asymmetry import t_quantile_975
from forcelab.analysis.feedback import TAG_PREFIX, Cue, FeedbackEngine
from forcelab.report import build_report, render_html, write_report
from forcelab.report.feedback import feedback_lines, feedback_report
from forcelab.store import SessionWriter

RATE_HZ = 250.0
PHASE_S = 4.0
PAUSE_S = 0.5
#: (phase, mean, SD, cues) of the trained metric (VALR, BW/s) per phase
TRUTH = (("baseline", 80.0, 6.0, 40), ("training", 70.0, 6.0, 60),
         ("post", 68.0, 6.0, 40), ("retention", 79.0, 6.0, 40))


def exact_values(mean: float, sd: float, n: int, seed: int) -> np.ndarray:
    """n values with exactly this mean and (sample) SD."""
    z = np.random.default_rng(seed).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return mean + sd * z


def write_feedback_session(path, truth=TRUTH, schedule="bandwidth"):
    """A two-belt treadmill session with one trial per phase (tag feedback:<phase>), the
    feedback event and one cue event per stance of the right side, through SessionWriter."""
    engine = FeedbackEngine("valr_bw_s", "-15%", side="right", schedule=schedule)
    model = GaitModel(GaitParams(speed_m_s=3.0, asymmetry=-0.05, body_mass_kg=70.0,
                                 start_s=0.3), seed=4)
    total_s = len(truth) * (PHASE_S + PAUSE_S) + PAUSE_S
    t = np.arange(int(total_s * RATE_HZ)) / RATE_HZ
    band = None
    with SessionWriter.create(path, athlete={"id": "A-9", "name": "Bo Runner",
                                             "body_mass_kg": 70.0},
                              t0_unix_s=T0_UNIX_S, auto_flush=False, reserve_bytes=0) as w:
        samples = {}
        for side in ("left", "right"):
            f = model.foot(side, t)
            w.add_stream(side, _plate_info(f"SN-{side}", side, RATE_HZ))
            samples[side] = _plate_samples({k: f[k] for k in ("fz", "fml", "fap", "tz",
                                                              "cop_ml", "cop_ap")})
        chunk = int(RATE_HZ // 5)
        for i0 in range(0, t.size, chunk):
            for side in ("left", "right"):
                w.append(side, Block(seq=i0, t_device_s=t[i0], t_host_s=T0_UNIX_S + t[i0],
                                     samples=samples[side][i0:i0 + chunk]))
        start = PAUSE_S
        index = 0
        for k, (phase, mean, sd, n) in enumerate(truth):
            engine.start_phase(phase, start, PHASE_S)
            w.start_trial(phase, tags=(f"{TAG_PREFIX}{phase}",), t_s=start)
            if phase != "baseline" and band is None:
                base = exact_values(*truth[0][1:4], seed=0).mean()
                band = (base * 0.85 * 0.95, base * 0.85 * 1.05)
            for j, value in enumerate(exact_values(mean, sd, n, seed=k)):
                t_off = start + (j + 1) * PHASE_S / (n + 1)
                zone = ("" if band is None else "below" if value < band[0]
                        else "above" if value > band[1] else "in")
                cue = Cue(index, "right", "valr_bw_s", float(value),
                          band[0] if band else None, band[1] if band else None, zone,
                          schedule, phase == "training" and zone in ("below", "above"), None,
                          phase, t_off, t_off + 0.004)
                w.add_event(None, "cue", t_s=cue.t_issued_s, seq=index, message=cue.to_json())
                index += 2
            w.stop_trial(t_s=start + PHASE_S)
            engine.stop_phase(start + PHASE_S)
            start += PHASE_S + PAUSE_S
        settings = engine.settings()
        w.add_event(None, "feedback", t_s=PAUSE_S, message=__import__("json").dumps(settings))
    return band


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    path = tmp_path_factory.mktemp("fb") / "bo_feedback.h5"
    band = write_feedback_session(path)
    return path, band


def test_phase_figures_from_the_file(session):
    path, band = session
    fr = feedback_report(path)
    assert fr is not None and fr.metric == "valr_bw_s" and fr.unit == "BW/s"
    assert [p.phase for p in fr.phases] == ["baseline", "training", "post", "retention"]
    for p, (phase, mean, sd, n) in zip(fr.phases, TRUTH, strict=True):
        assert p.trial == phase and p.n == n == p.cues_issued
        assert p.mean == pytest.approx(mean)
        half = t_quantile_975(n - 1) * sd / math.sqrt(n)
        assert p.ci95 == pytest.approx((mean - half, mean + half))
    base, training = fr.phases[0], fr.phases[1]
    assert base.band is None and base.cues_shown == 0  # band unknown until baseline ends
    assert training.band == pytest.approx(band)
    assert 0 < training.cues_shown < training.cues_issued  # bandwidth: only outside the band
    assert all(p.cues_shown == 0 for p in fr.phases if p.phase != "training")


def test_changes_are_called_real_only_beyond_the_smallest_real_change(session):
    fr = feedback_report(session[0])
    post, retention = fr.changes
    # post: 68 vs 80 BW/s, SE of the difference 6·sqrt(2/40) = 1.34 -> smallest real change 2.6
    assert post.phase == "post" and post.real and post.direction == "toward"
    assert post.change == pytest.approx(-12.0)
    assert post.smallest_real_change == pytest.approx(
        1.96 * math.sqrt(2) * 6.0 / math.sqrt(40), rel=1e-6)
    assert post.text.startswith("15.0 % lower than baseline (-12.0 BW/s), more than the "
                                "smallest real change of 2.6 BW/s; towards the band")
    # retention: 79 vs 80 lies within the noise: said so, and not coloured
    assert retention.phase == "retention" and not retention.real
    assert retention.direction == "none"
    assert retention.text.startswith("no real change from baseline (-1.0 BW/s;")


def test_html_page_colours_only_real_changes(session, tmp_path):
    report = build_report([session[0]])
    assert report.sessions[0].feedback is not None
    page = render_html(report)
    assert "Feedback protocol: Average loading rate (VALR, valr_bw_s)" in page
    rows = {phase: level for level, phase in re.findall(
        r'<tr class="change-(\w+)"[^>]*><td>(\w+)</td>', page)}
    assert rows == {"baseline": "none", "training": "none", "post": "toward",
                    "retention": "none"}
    assert 'class="change-none" style="background:#ffffff"' in page
    assert "towards the band" in page and "cannot be told from stride-to-stride noise" in page
    # the band and the CI in the table, as numbers with the unit's decimals
    assert re.search(r"<td>80\.0 BW/s</td><td>\d+\.\d–\d+\.\d</td><td>not set yet</td>", page)
    # also as text (the PDF page) and through the CLI into PDF
    lines = feedback_lines(report.sessions[0].feedback)
    assert lines[0] == "Feedback protocol: Average loading rate (VALR, valr_bw_s)"
    assert lines[1].startswith(
        "Feedback trained the average loading rate (VALR, valr_bw_s) on the right side towards "
        "a change of -15% from the baseline (bandwidth schedule). Post: 15.0 % lower than "
        "baseline")
    assert "Retention: no real change from baseline" in lines[1]
    assert any(line.startswith("post: mean 68.0 BW/s, 95 % CI") for line in lines)
    out = write_report([session[0]], tmp_path / "fb.pdf")
    assert out.read_bytes().startswith(b"%PDF")


def test_session_without_feedback_has_no_page(tmp_path):
    from synth_sessions import make_session

    path = tmp_path / "plain.h5"
    make_session(path, trials=(("easy", 3.0, 3.0),))
    assert feedback_report(path) is None
    assert "Feedback protocol" not in render_html(build_report([path]))


def test_report_cli_writes_the_feedback_page(session, tmp_path):
    out = tmp_path / "cli.html"
    proc = run_cli("report", session[0], "-o", out)
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert "Feedback protocol" in page and "no real change from baseline" in page


def test_page_of_a_protocol_recorded_by_forcelab_feedback(tmp_path):
    """The headless command on a simulated runner who listens to the cues: the page finds
    the phases and says the post loading rate is really lower, towards the band."""
    import json
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = tmp_path / "ann.h5"
    proc = run_cli(
        "feedback", "-d", f"sim:treadmill?seed=5&respond=valr_n_s:-30&cue_port={port}&learn=0.1",
        "--athlete", "Ann", "--body-mass", "70", "--metric", "valr_n_s", "--target=-20%",
        "--side", "left", "--protocol", "baseline=12,training=30,post=12",
        "--cue-udp", f"127.0.0.1:{port}", "-o", out, "--json", timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    fr = feedback_report(out)
    assert [p.phase for p in fr.phases] == ["baseline", "training", "post"]
    assert sum(p.cues_issued for p in fr.phases) == result["cues"]
    assert sum(p.cues_shown for p in fr.phases) == result["shown"] == fr.phases[1].cues_shown
    for p in fr.phases:
        assert p.mean == pytest.approx(result["phase_means"][p.phase])
    (post,) = fr.changes
    assert post.real and post.change < 0 and post.direction == "toward"
    assert "lower than baseline" in post.text
    page = out.with_suffix(".html")
    assert run_cli("report", out, "-o", page).returncode == 0
    assert '<tr class="change-toward"' in page.read_text()
