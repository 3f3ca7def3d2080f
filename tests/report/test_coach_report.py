"""The coach report: renders for simulated sessions and real recordings, every figure is a
real, non-blank image, the page says what a coach needs and nothing that identifies an
anonymised athlete."""

from __future__ import annotations

import base64
import html as html_lib
import io
import re

import numpy as np
import pytest
from PIL import Image
from subprocesses import run_cli
from synth_sessions import make_session

from forcelab.analysis.asymmetry import level_of
from forcelab.errors import InputError
from forcelab.report import build_report, render_html, write_report
from forcelab.report.content import DISCLAIMER

IMG = re.compile(r'<img alt="([^"]*)" src="data:image/png;base64,([A-Za-z0-9+/=]+)">')


def check_images(page: str, expected: int) -> list[str]:
    """Every embedded figure decodes as a PNG of a sensible size with real content."""
    found = IMG.findall(page)
    assert len(found) == expected
    assert page.count("<img") == expected  # no image that is not an embedded PNG
    for alt, data in found:
        img = Image.open(io.BytesIO(base64.b64decode(data), ))
        assert img.format == "PNG"
        w, h = img.size
        assert w >= 500 and h >= 250, (alt, img.size)
        px = np.asarray(img.convert("RGB"), dtype=float)
        assert px.std() > 10.0, f"figure {alt!r} is blank"
        # drawn content, not just a frame: many distinct colours and non-white pixels
        assert (px.min(axis=2) < 200).mean() > 0.02, alt
        assert len(np.unique(px.reshape(-1, 3), axis=0)) > 50, alt
    return [alt for alt, _ in found]


def visible_text(page: str) -> str:
    no_img = IMG.sub("", page)
    no_css = re.sub(r"<style>.*?</style>", "", no_img, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", no_css))


@pytest.fixture(scope="module")
def two_sessions(tmp_path_factory):
    d = tmp_path_factory.mktemp("rep")
    a, b = d / "alex_may.h5", d / "alex_june.h5"
    make_session(a, trials=(("easy", 4.0, 3.0), ("tempo", 3.5, 3.6)), asymmetry=-0.12)
    make_session(b, trials=(("easy", 4.0, 3.0),), asymmetry=-0.03, day=14, seed=2)
    return a, b


def test_simulated_session_report(two_sessions, tmp_path):
    out = write_report([two_sessions[0]], tmp_path / "r.html")
    page = out.read_text()
    alts = check_images(page, expected=4)  # curves + stride peaks for each of 2 trials
    assert alts.count("mean stance curves left and right") == 2
    text = visible_text(page)
    for needed in ("Alex Runner", "2026-05-28", "Trial easy", "Trial tempo", "SI",
                   "symmetry angle", "95 % CI", "higher on the left", "Contact time",
                   "Cadence", "Average loading rate (VALR)", "impact_peak", DISCLAIMER):
        assert needed in text, needed
    # a clear 12 % asymmetry of the mid-stance peak lies beyond the 10.7 % healthy runners
    # show (Girard et al. 2019): coloured and said in words
    assert 'class="level-flag"' in page and "above the healthy band (10.7 %)" in text
    assert "more than the 10.7 % healthy runners show" in text
    # self-contained: nothing fetched from anywhere
    assert not re.search(r'(src|href)="(?!data:)', page)
    assert "<script" not in page and "<link" not in page


def test_lab_bands_change_the_colours(two_sessions, tmp_path):
    def midstance_rows(page):
        return re.findall(r'<tr class="level-(\w+)"[^>]*><td>Mid-stance peak</td>', page)

    default = write_report([two_sessions[0]], tmp_path / "d.html").read_text()
    # 12 % against the 10.7 % band: above it (red), or possibly above it (yellow) while the
    # interval still reaches into the band
    assert len(midstance_rows(default)) == 2
    assert set(midstance_rows(default)) <= {"flag", "watch"}
    page = write_report([two_sessions[0]], tmp_path / "r.html",
                        bands={"midstance_peak": 40}).read_text()
    assert midstance_rows(page) == ["ok", "ok"]
    assert "within the healthy band (40.0 %)" in visible_text(page)
    band = {"band_si_pct": 10.0, "verdict": "above_band", "detectable": True}
    assert level_of({"si_pct": None}) == "na"
    assert level_of({**band, "si_pct": -12.0, "ci95_pct": [-14.0, -10.5]}) == "flag"
    assert level_of({**band, "si_pct": -12.0, "ci95_pct": [-14.0, -9.0]}) == "watch"
    assert level_of({**band, "si_pct": 6.0, "ci95_pct": [4.0, 8.0], "verdict": "within_band"}
                    ) == "ok"
    # a difference the CI cannot tell from zero is never coloured
    assert level_of({**band, "si_pct": 15.0, "ci95_pct": [-1.0, 31.0], "detectable": False,
                     "verdict": "not_detectable"}) == "noise"


def test_trend_across_sessions_and_anonymised(two_sessions, tmp_path):
    out = tmp_path / "trend.html"
    r = run_cli("report", *two_sessions, "-o", out, "--anonymize")
    assert r.returncode == 0, r.stderr
    page = out.read_text()
    alts = check_images(page, expected=7)  # 3 trials x 2 + the trend
    assert "asymmetry trend across sessions" in alts
    text = visible_text(page)
    assert "Trend across sessions" in text
    for secret in ("Alex Runner", "A-017", "alex_may", "heavy legs", "Jo Operator"):
        assert secret not in page, secret
    rep = build_report(list(two_sessions))
    points = rep.trends["A-017"]
    assert [p["label"] for p in points] == ["2026-05-28 easy", "2026-05-28 tempo",
                                            "2026-06-11"]
    assert points[0]["si_pct"] < -8 and abs(points[2]["si_pct"]) < 6  # the athlete improved


def test_pdf_report(two_sessions, tmp_path):
    out = write_report(list(two_sessions), tmp_path / "r.pdf")
    data = out.read_bytes()
    assert data.startswith(b"%PDF")
    n_pages = len(re.findall(rb"/Type\s*/Page[^s]", data))
    assert n_pages == 3 + 1  # one page per trial, one trend page


def test_insole_session_report(tmp_path):
    src = tmp_path / "insoles.h5"
    make_session(src, layout="insoles", trials=(("walk", 8.0, 1.4),), seed=3)
    page = write_report([src], tmp_path / "i.html").read_text()
    check_images(page, expected=2)
    assert "higher on the" in visible_text(page)


READERS = {
    "fukuchi": ("fukuchi2017_running/RBDS001runT25forces.txt",
                {"time_unit": "frame", "rate_hz": 300, "vertical": "Fy", "cop_ml": "COPz",
                 "body_mass_kg": 62.0}),
    "opensim": ("opensim_walking/subject01_walk1_grf.mot", {}),
    "moticon": ("moticon_opengo_walking/230927_102114.txt", {}),
}


@pytest.mark.parametrize("name", sorted(READERS))
def test_real_recordings_render(shared_data, tmp_path, name):
    rel, options = READERS[name]
    out = write_report([shared_data / rel], tmp_path / f"{name}.html", reader_options=options)
    page = out.read_text()
    check_images(page, expected=2)
    text = visible_text(page)
    assert "left" in text and "right" in text and DISCLAIMER in text
    assert re.search(r"\d+ stances were analysed \(\d+ left, \d+ right\)", text), text[:500]
    if name == "fukuchi":
        assert "BW" in text  # with a body mass the report speaks in body weights


def test_bad_requests_fail_clearly(two_sessions, tmp_path):
    with pytest.raises(InputError, match=r"\.html or \.pdf"):
        write_report([two_sessions[0]], tmp_path / "r.docx")
    bad = tmp_path / "bands.json"
    bad.write_text('{"valr": 0}')
    out = run_cli("report", two_sessions[0], "-o", tmp_path / "r.html", "--bands", bad)
    assert out.returncode == 2 and "between 0 and 100" in out.stderr
    assert out.stderr.count("\n") == 1
    assert not (tmp_path / "r.html").exists()
    with pytest.raises(InputError, match="at least one"):
        build_report([])
    existing = tmp_path / "keep.html"
    existing.write_text("mine")
    r = run_cli("report", two_sessions[0], "-o", existing)
    assert r.returncode == 2
    assert "already exists; remove it, pick another -o, or use --force" in r.stderr
    assert existing.read_text() == "mine"
    r = run_cli("report", tmp_path / "missing.h5", "-o", tmp_path / "x.html")
    assert r.returncode == 2 and "missing.h5" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "x.html").exists()
    assert list(tmp_path.glob("*.part")) == []


def test_render_html_escapes_user_text(tmp_path):
    src = tmp_path / "s.h5"
    make_session(src, athlete={"id": "<b>x</b>", "name": "<script>alert(1)</script>",
                               "body_mass_kg": 60.0}, trials=(("<i>t</i>", 4.0, 3.0),))
    page = render_html(build_report([src]))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<i>t</i>" not in page


def test_sides_unknown_and_trials_without_stances(tmp_path):
    """One plate without a COP: no left/right, said plainly; a standing trial: said plainly."""
    from forcelab.drivers.sim.gait import GaitModel, GaitParams

    from forcelab.recording import Recording, Stream
    from forcelab.store import write_recording

    t = np.arange(0, 6.0, 1 / 250)
    fz = GaitModel(GaitParams(speed_m_s=3.0), seed=1).plate(t)["fz"]
    run = tmp_path / "nocop.h5"
    write_recording(Recording([Stream("plate", 250.0, {"fz": fz})], body_mass_kg=70.0), run,
                    athlete={"id": "B1"}, trial="run")
    stand = tmp_path / "stand.h5"
    write_recording(Recording([Stream("plate", 250.0, {"fz": np.full(500, 690.0)})]), stand,
                    athlete={"id": "B1"}, trial="stand")
    page = write_report([run, stand], tmp_path / "u.html").read_text()
    text = visible_text(page)
    assert "could not be compared" in text
    assert "No stances analysed" in text and "no stances found" in text
    # the run's two plots; the standing trial's empty plots are replaced by a sentence, and
    # there is no trend: no session could compare left and right
    check_images(page, expected=2)
    assert "No complete stance to plot" in text and "Trend across sessions" not in text
