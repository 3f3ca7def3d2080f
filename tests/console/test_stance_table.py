"""The per-stride table shows every stance's step width, braking force, pelvic drop and flags
(crossover steps, indicative loading rates) as the analysis gives them."""

from __future__ import annotations

from forcelab.analysis import analyze_recording
from forcelab.console.widgets import STANCE_COLUMNS, StanceTable
from forcelab.interop import load_recording


def column(title: str) -> int:
    return [c[0] for c in STANCE_COLUMNS].index(title)


def test_real_run_step_width_crossover_and_indicative_rates(qtbot, shared_data):
    rec = load_recording(shared_data / "fukuchi2017_running" / "RBDS001runT25forces.txt",
                         rate_hz=300, time_column="Time", time_unit="frame", vertical="Fy",
                         cop_ml="COPz", body_mass_kg=62)
    stances = analyze_recording(rec).stances
    table = StanceTable()
    qtbot.addWidget(table)
    table.set_stances(stances, unit="BW")
    assert table.rowCount() == len(stances)
    width, flags = column("Step width (mm)"), column("Flags")
    crossed = 0
    for row, st in enumerate(stances):
        w = st.get("step_width_m")
        text = table.item(row, width).text()
        assert text == ("—" if w is None else f"{w * 1000:+.0f}")
        assert "loading rates indicative" in table.item(row, flags).text()  # 300 Hz
        if st.get("crossover"):
            crossed += 1
            assert "crossover step" in table.item(row, flags).text()
        assert table.item(row, column("Pelvic drop (°)")).text() == "—"  # no markers
    assert crossed >= 1  # the runner crosses the midline now and then (2.6 % on the right)


def test_braking_and_pelvic_drop_cells(qtbot):
    stance = {"side": "right", "stream": "plate", "start_s": 1.0, "contact_time_s": 0.25,
              "peak_braking_n": 412.4, "peak_braking_bw": 0.61, "pelvic_drop_deg": 7.3,
              "step_width_m": -0.012, "crossover": True, "valid": True}
    table = StanceTable()
    qtbot.addWidget(table)
    table.set_stances([stance], unit="N")
    assert table.item(0, column("Braking")).text() == "412"
    assert table.horizontalHeaderItem(column("Braking")).text() == "Braking (N)"
    assert table.item(0, column("Pelvic drop (°)")).text() == "7.3"
    assert table.item(0, column("Step width (mm)")).text() == "-12"
    table.set_stances([stance], unit="BW")
    assert table.item(0, column("Braking")).text() == "0.61"
