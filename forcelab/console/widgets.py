"""Live-view widgets of the operator console (pyqtgraph / PyQt5).

- :class:`LiveForcePlot`: scrolling left/right vertical force over the last 10 s. Built for
  2 kHz streams: peak-mode downsampling and clip-to-view, and it only redraws when the console's
  ~33 Hz timer hands it a fresh ring-buffer peek (it never pulls data itself).
- :class:`StrideBars`: one bar per completed stance, mid-stance peak, coloured per side.
- :class:`AsymmetryReadout`: SI % in the analysis's words, coloured only when its confidence
  interval tells it from zero, by the metric's healthy band; grey until the interval settles.
- :class:`StillnessIndicator`: the "stand still" light shown while weighing.

Colours: left is blue, right is orange, everywhere in the console.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QFont
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from forcelab.analysis import symmetry_text
from forcelab.analysis.asymmetry import LEVEL_WORDS, level_of
from forcelab.analysis.metrics import G_M_S2

LEFT_COLOUR = (31, 119, 180)
RIGHT_COLOUR = (255, 127, 14)
OTHER_COLOURS = [(44, 160, 44), (148, 103, 189), (140, 86, 75), (127, 127, 127)]
OK_COLOUR = "#2e7d32"
WATCH_COLOUR = "#ef6c00"
WARN_COLOUR = "#c62828"
NEUTRAL_COLOUR = "#616161"
#: Colour of an asymmetry by its level (:data:`forcelab.analysis.asymmetry.LEVELS`): a
#: difference the confidence interval cannot tell from zero is never coloured.
LEVEL_COLOURS = {"na": NEUTRAL_COLOUR, "noise": NEUTRAL_COLOUR, "ok": OK_COLOUR,
                 "watch": WATCH_COLOUR, "flag": WARN_COLOUR}
READOUT_TIP = ("Robinson symmetry index of the mid-stance peak over this trial's stances "
               "(positive = right higher) with its 95 % confidence interval, the side means "
               "and counts")
MARKER_COLOUR = "#6a1b9a"
EVENT_COLOUR = "#c62828"


def monospace_text() -> QPlainTextEdit:
    """A read-only plain-text box in a fixed-width font (the analysis and detail texts)."""
    box = QPlainTextEdit()
    box.setReadOnly(True)
    mono = QFont("Monospace")
    mono.setStyleHint(QFont.TypeWriter)
    box.setFont(mono)
    return box


def side_colour(side: str | None, index: int = 0) -> tuple[int, int, int]:
    """The console's colour for a side ("left", "right") or for the ``index``-th other stream."""
    if side == "left":
        return LEFT_COLOUR
    if side == "right":
        return RIGHT_COLOUR
    return OTHER_COLOURS[index % len(OTHER_COLOURS)]


def side_pen_style(side: str | None) -> Qt.PenStyle:
    """Line style of a side, so left and right differ without colour: left solid, right dashed."""
    return Qt.DashLine if side == "right" else Qt.SolidLine


def describe_si(si_pct: float | None) -> str:
    """Words for a symmetry index in % (positive = right higher).

    Returns e.g. ``"7.8 % higher on the left"``, ``"symmetric"`` below 0.05 %, ``"n/a"`` when
    the index is unknown.
    """
    return symmetry_text(si_pct)


def asymmetry_colour(a: Mapping[str, Any]) -> str:
    """Colour of one metric's asymmetry (an ``asymmetry_of`` result or the live figures'
    equivalent) by :func:`forcelab.analysis.asymmetry.level_of`."""
    return LEVEL_COLOURS[level_of(dict(a))]


def si_text(si_pct: float | None, level: str) -> str:
    """An SI (%) for a table cell: signed only when detectable (``level`` by
    :func:`forcelab.analysis.asymmetry.level_of`), ``"not detectable"`` inside the noise."""
    if si_pct is None or level == "na":
        return "n/a"
    return "not detectable" if level == "noise" else f"{si_pct:+.1f} %"


def level_tip(text: str, level: str, band_si_pct: float | None) -> str:
    """The analysis's words for an asymmetry with its level in words and the band (%)."""
    words = LEVEL_WORDS[level]
    if level in ("ok", "watch", "flag") and band_si_pct is not None:
        words += f" (healthy runners: |SI| ≤ {band_si_pct:.1f} %)"
    return f"{text}\n{words}" if text else words


def break_gaps(t_s: np.ndarray, y: np.ndarray, max_gap_periods: float = 3.0
               ) -> tuple[np.ndarray, np.ndarray]:
    """Insert a NaN wherever consecutive samples are further apart than ``max_gap_periods``
    times the median sample period, so a line drawn with ``connect="finite"`` breaks there
    (an unplug or a tare pause is not drawn as force)."""
    if t_s.size < 3:
        return t_s, y
    dt = np.diff(t_s)
    jumps = np.flatnonzero(dt > max_gap_periods * np.median(dt)) + 1
    if not jumps.size:
        return t_s, y
    return np.insert(t_s, jumps, t_s[jumps - 1]), np.insert(y, jumps, np.nan)


class LiveForcePlot(pg.PlotWidget):
    """Scrolling vertical force of each stream over the last ``window_s`` seconds.

    The force axis fits the data (auto scale) unless a fixed top is set; force is shown in N
    or in body weights. Gaps in the data (unplug, tare) are breaks in the line; markers are
    labelled vertical lines.

    Parameters
    ----------
    window_s : float
        Width of the visible window in s.
    parent : QWidget or None
        Qt parent.
    """

    def __init__(self, window_s: float = 10.0, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background="w")
        self.window_s = float(window_s)
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._markers: list[pg.InfiniteLine] = []
        self.frames_drawn = 0
        self.unit = "N"
        self._scale = 1.0
        self.fixed_max: float | None = None
        item = self.getPlotItem()
        item.setLabel("left", "Vertical force (N)")
        item.setLabel("bottom", "Session time", units="s")
        item.showGrid(x=True, y=True, alpha=0.3)
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        item.setMouseEnabled(x=False, y=True)
        item.hideButtons()
        self._legend = item.addLegend(offset=(-10, 2), colCount=2, labelTextSize="8pt",
                                      brush=pg.mkBrush(255, 255, 255, 200))
        self.set_fixed_max(None)
        self.setXRange(0, self.window_s, padding=0)
        self.setMinimumHeight(150)
        self.setToolTip("Vertical force of each device; breaks are gaps, violet lines markers")

    def curve_names(self) -> list[str]:
        """Names of the streams drawn so far."""
        return list(self._curves)

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The (time s, force in the shown unit) arrays held by the curve of ``name``."""
        x, y = self._curves[name].getOriginalDataset()
        if x is None:
            return np.empty(0), np.empty(0)
        return np.asarray(x), np.asarray(y)

    def clear_curves(self) -> None:
        """Remove every curve and marker (a new connection)."""
        for curve in self._curves.values():
            self.getPlotItem().removeItem(curve)
        self._legend.clear()
        self._curves.clear()
        self.clear_markers()

    def set_unit(self, unit: str, body_mass_kg: float | None = None) -> None:
        """Show force in "N" or in "BW" (body weights of ``body_mass_kg``)."""
        if unit == "BW" and body_mass_kg:
            self.unit, self._scale = "BW", 1.0 / (body_mass_kg * G_M_S2)
        else:
            self.unit, self._scale = "N", 1.0
        self.getPlotItem().setLabel("left", f"Vertical force ({self.unit})")

    def set_fixed_max(self, top: float | None) -> None:
        """Fix the force axis to 0..``top`` (in the shown unit), or fit the data (None)."""
        self.fixed_max = top
        item = self.getPlotItem()
        if top is None:
            item.enableAutoRange(axis="y", enable=True)
        else:
            item.disableAutoRange(axis="y")
            self.setYRange(-0.02 * top, top, padding=0)

    def y_range(self) -> tuple[float, float]:
        """The force range shown now (in the shown unit)."""
        lo, hi = self.getPlotItem().viewRange()[1]
        return float(lo), float(hi)

    def add_marker(self, t_s: float, label: str) -> None:
        """Draw a labelled marker at session time ``t_s``, s."""
        line = pg.InfiniteLine(
            pos=t_s, angle=90, movable=False, label=label,
            pen=pg.mkPen(MARKER_COLOUR, width=2, style=Qt.DashDotLine),
            labelOpts={"position": 0.6, "color": MARKER_COLOUR, "fill": (255, 255, 255, 200)},
        )
        self.addItem(line)
        self._markers.append(line)

    def marker_labels(self) -> list[tuple[float, str]]:
        """(time s, label) of the markers drawn."""
        return [(float(m.value()), m.label.format) for m in self._markers]

    def clear_markers(self) -> None:
        """Remove the drawn markers (a new trial starts)."""
        for line in self._markers:
            self.removeItem(line)
        self._markers.clear()

    def update_data(
        self,
        data: Mapping[str, tuple[np.ndarray, np.ndarray]],
        sides: Mapping[str, str | None] | None = None,
    ) -> None:
        """Draw fresh data: ``{stream: (t_s, fz_n)}`` with session times in s and force in N.

        The x range follows the newest sample so the plot scrolls; streams absent from ``data``
        keep their last curve; time gaps become breaks.
        """
        sides = sides or {}
        t_end = -math.inf
        for i, (name, (t_s, fz_n)) in enumerate(data.items()):
            t_s = np.asarray(t_s, dtype=np.float64)
            fz = np.asarray(fz_n, dtype=np.float64) * self._scale
            curve = self._curves.get(name)
            if curve is None:
                side = sides.get(name)
                label = name if side is None or side == name else f"{name} ({side})"
                # 1-pixel solid pens: Qt draws them several times faster than wide or dashed
                # ones (the sides are named in the legend, so colour is not the only signal)
                curve = self.plot(name=label, connect="finite",
                                  pen=pg.mkPen(side_colour(side, i), width=1))
                self._curves[name] = curve
            curve.setData(*break_gaps(t_s, fz))
            if t_s.size:
                t_end = max(t_end, float(t_s[-1]))
        if math.isfinite(t_end):
            self.setXRange(max(0.0, t_end - self.window_s), max(self.window_s, t_end), padding=0)
        self.frames_drawn += 1


class InsoleMap(pg.GraphicsLayoutWidget):
    """Pressure map of each insole (one dot per cell, colour and size by pressure) with the
    centre-of-pressure trace of the last second.

    Feed it :meth:`forcelab.console.backend.ConsoleBackend.peek_insoles`.
    """

    def __init__(self, max_kpa: float = 400.0, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent)
        self.setBackground("w")
        self.max_kpa = float(max_kpa)
        self._views: dict[str, tuple[pg.ScatterPlotItem, pg.PlotDataItem, pg.PlotItem]] = {}
        self._cmap = pg.colormap.get("viridis")
        self.setMinimumWidth(160)
        self.setToolTip(
            "Insole pressure per cell (bigger, yellower = more kPa) and the centre-of-pressure "
            "path over the last second (black line)"
        )

    def update_data(self, insoles: Mapping[str, Mapping]) -> None:
        """Draw ``{stream: {"side", "cells_kpa", "layout", "cop_ml", "cop_ap"}}``."""
        for col, (name, d) in enumerate(sorted(insoles.items(), key=lambda kv: kv[1]["side"]
                                                or "")):
            view = self._views.get(name)
            layout = d["layout"]
            xs = np.array([c["x_mm"] for c in layout], dtype=float)
            ys = np.array([c["y_mm"] for c in layout], dtype=float)
            if d["side"] == "left":
                xs = -xs  # medial cells towards the middle for both feet
            if view is None:
                plot = self.addPlot(row=0, col=col, title=f"{d['side'] or name}")
                plot.setAspectLocked(True)
                plot.hideAxis("left")
                plot.hideAxis("bottom")
                plot.setMouseEnabled(False, False)
                plot.hideButtons()
                dots = pg.ScatterPlotItem(pxMode=True)
                trace = pg.PlotDataItem(pen=pg.mkPen("k", width=2), connect="finite")
                plot.addItem(dots)
                plot.addItem(trace)
                plot.setRange(xRange=(xs.min() - 20, xs.max() + 20),
                              yRange=(ys.min() - 20, ys.max() + 20))
                view = (dots, trace, plot)
                self._views[name] = view
            dots, trace, _plot = view
            kpa = np.nan_to_num(np.asarray(d["cells_kpa"], dtype=float), nan=0.0)
            level = np.clip(kpa / self.max_kpa, 0.0, 1.0)
            dots.setData(xs, ys, size=8 + 18 * level,
                         brush=[pg.mkBrush(c) for c in self._cmap.mapToQColor(level)])
            # COP is normalised to the insole (±0.5 of width and length): to the cell frame
            width = xs.max() - xs.min() + 30
            length = ys.max() - ys.min() + 30
            ml = np.asarray(d["cop_ml"], dtype=float) * width * (-1 if d["side"] == "left"
                                                                 else 1)
            ap = (np.asarray(d["cop_ap"], dtype=float) + 0.5) * length + ys.min() - 15
            trace.setData(ml + (xs.max() + xs.min()) / 2, ap)

    def stream_names(self) -> list[str]:
        """Insole streams drawn so far."""
        return list(self._views)


class StrideBars(pg.PlotWidget):
    """Mid-stance peak of the last ``n_max`` stances, one bar per stance, coloured by side.

    Parameters
    ----------
    n_max : int
        Number of most recent stances shown.
    parent : QWidget or None
        Qt parent.
    """

    def __init__(self, n_max: int = 30, parent: QWidget | None = None) -> None:
        super().__init__(parent=parent, background="w")
        self.n_max = int(n_max)
        self.unit = "N"
        item = self.getPlotItem()
        item.setLabel("left", "Mid-stance peak (N)")
        item.setLabel("bottom", "Stance")
        item.showGrid(y=True, alpha=0.3)
        item.setMouseEnabled(x=False, y=False)
        item.hideButtons()
        # right bars have a dashed black outline too, so the sides differ without colour
        outline = {"right": pg.mkPen("k", width=1.5, style=Qt.DashLine)}
        self._bars = {
            side: pg.BarGraphItem(x=[], height=[], width=0.8, brush=pg.mkBrush(*side_colour(side)),
                                  pen=outline.get(side, pg.mkPen(None)))
            for side in ("left", "right", None)
        }
        for bar in self._bars.values():
            self.addItem(bar)
        self.setToolTip("Mid-stance peak of each stance: left plain, right with a dashed "
                        "outline; dashed lines are the side means")
        self._means = {
            side: pg.InfiniteLine(
                angle=0, movable=False,
                pen=pg.mkPen(side_colour(side), width=1, style=Qt.DashLine),
            )
            for side in ("left", "right")
        }
        for line in self._means.values():
            line.setVisible(False)
            self.addItem(line)
        self.values: list[tuple[str | None, float]] = []
        self.setMinimumHeight(140)
        self.set_stances([])

    def set_stances(self, stances: Sequence[tuple[str | None, float]], unit: str = "N") -> None:
        """Show ``[(side, midstance_peak), ...]`` (oldest first); the last ``n_max`` are drawn."""
        self.values = [(s, float(v)) for s, v in stances if v is not None and math.isfinite(v)]
        shown = self.values[-self.n_max:]
        if unit != self.unit:
            self.unit = unit
            self.getPlotItem().setLabel("left", f"Mid-stance peak ({unit})")
        for side, bar in self._bars.items():
            xs = [i for i, (s, _) in enumerate(shown) if s == side]
            hs = [v for s, v in shown if s == side]
            bar.setOpts(x=xs, height=hs, width=0.8)
        for side, line in self._means.items():
            hs = [v for s, v in shown if s == side]
            line.setVisible(bool(hs))
            if hs:
                line.setValue(float(np.mean(hs)))
        top = max((v for _, v in shown), default=1.0)
        self.setXRange(-0.6, max(self.n_max, len(shown)) - 0.4, padding=0)
        self.setYRange(0, top * 1.15 if top > 0 else 1.0, padding=0)


class AsymmetryReadout(QFrame):
    """Large SI % readout of the mid-stance peak in the analysis's own words.

    Coloured by :func:`asymmetry_colour` (the level rules of
    :func:`forcelab.analysis.asymmetry.level_of`): a difference the 95 % confidence interval
    cannot tell from zero is grey with no direction, a detectable one is green within its
    metric's healthy band and amber / red above it, and the whole readout stays grey until the
    interval is within ±2 % (the words say how many more steps that needs). The words always
    say what the colour says.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.StyledPanel)
        self.si_pct: float | None = None
        self.level = "na"
        self.settled = False
        self.title = QLabel("Mid-stance peak asymmetry")
        self.value = QLabel("—")
        self.value.setObjectName("asymmetryValue")
        self.words = QLabel("waiting for stances")
        self.detail = QLabel("")
        for lab in (self.title, self.value, self.words, self.detail):
            lab.setAlignment(Qt.AlignCenter)
            lab.setWordWrap(True)
        self.setToolTip(READOUT_TIP)
        font = self.value.font()
        font.setPointSize(28)
        font.setBold(True)
        self.value.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 4, 6, 4)
        for lab in (self.title, self.value, self.words, self.detail):
            layout.addWidget(lab)
        self._paint(NEUTRAL_COLOUR)

    @property
    def colour(self) -> str:
        """The colour currently shown (hex)."""
        return self._colour

    def set_values(
        self,
        si_pct: float | None,
        left_mean: float | None = None,
        right_mean: float | None = None,
        left_n: int = 0,
        right_n: int = 0,
        unit: str = "N",
        noise: Mapping[str, Any] | None = None,
    ) -> None:
        """Show a new SI (%, positive = right higher) with the side means and counts.

        Parameters
        ----------
        si_pct : float or None
            Robinson SI of the mid-stance peak, % (None until both sides have a stance).
        left_mean, right_mean : float or None
            Side means of the mid-stance peak, in ``unit``.
        left_n, right_n : int
            Stances per side.
        unit : str
            "N" or "BW".
        noise : mapping or None
            What the analysis says about the SI's noise (``live_asymmetry`` of the live
            figures): ``text``, ``ci95_pct``, ``detectable``, ``verdict``, ``band_si_pct`` (%),
            ``strides_needed`` and ``settled``.
        """
        a = dict(noise or {})
        ok = si_pct is not None and math.isfinite(si_pct)
        self.si_pct = float(si_pct) if ok else None
        a["si_pct"] = self.si_pct
        self.level = level_of(a)
        self.settled = bool(a.get("settled")) and ok
        band = a.get("band_si_pct")
        if not ok:
            self.value.setText("—")
            self.words.setText("waiting for stances on both sides")
        else:
            detectable = self.level in ("ok", "watch", "flag")
            self.value.setText(f"SI {si_pct:+.1f} %" if detectable else "not detectable")
            self.words.setText(str(a.get("text") or describe_si(si_pct if detectable else 0.0)))
        self._paint(asymmetry_colour(a) if self.settled else NEUTRAL_COLOUR)
        fmt = "{:.2f}" if unit == "BW" else "{:.0f}"
        parts = []
        for label, mean, n in (("L", left_mean, left_n), ("R", right_mean, right_n)):
            if mean is not None and math.isfinite(mean):
                parts.append(f"{label} {fmt.format(mean)} {unit} (n={n})")
        verdict = (LEVEL_WORDS[self.level] + (f" ±{band:.1f} %" if band is not None else "")
                   if self.level in ("ok", "watch", "flag") else "")
        if ok and not self.settled:
            verdict = "settling: grey until the 95 % CI is within ±2 %"
        self.detail.setText("   ".join(parts) + ("\n" if parts and verdict else "") + verdict)
        self.setToolTip(READOUT_TIP + (f"\nHealthy runners' band for the mid-stance peak: "
                                       f"|SI| ≤ {band:.1f} %" if band is not None else ""))

    def _paint(self, colour: str) -> None:
        self._colour = colour
        self.value.setStyleSheet(f"color: {colour};")
        self.words.setStyleSheet(f"color: {colour}; font-weight: bold;")


class FigureGrid(QFrame):
    """Small labelled figures (cadence, contact time, stances, elapsed, file size...), each
    with a tooltip saying what the number is."""

    def __init__(self, names: Sequence[str], columns: int = 2, parent: QWidget | None = None,
                 tooltips: Mapping[str, str] | None = None):
        super().__init__(parent)
        self.setFrameShape(QFrame.StyledPanel)
        grid = QGridLayout(self)
        grid.setContentsMargins(6, 4, 6, 4)
        self.labels: dict[str, QLabel] = {}
        for i, name in enumerate(names):
            title = QLabel(name)
            title.setStyleSheet("color: #616161;")
            value = QLabel("—")
            font = value.font()
            font.setPointSize(11)
            font.setBold(True)
            value.setFont(font)
            tip = (tooltips or {}).get(name, name)
            title.setToolTip(tip)
            value.setToolTip(tip)
            row, col = divmod(i, columns)
            grid.addWidget(title, row * 2, col)
            grid.addWidget(value, row * 2 + 1, col)
            self.labels[name] = value

    def set(self, name: str, text: str) -> None:
        """Set the text of the figure ``name``."""
        self.labels[name].setText(text)

    def text(self, name: str) -> str:
        """The text currently shown for ``name``."""
        return self.labels[name].text()


class StillnessIndicator(QLabel):
    """A light that says whether the athlete stands still enough to be weighed."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAlignment(Qt.AlignCenter)
        self.setMinimumWidth(90)
        self.state = "idle"
        self.set_state("idle")

    def set_state(self, state: str, detail: str = "", tip: str = "") -> None:
        """``state`` is "idle", "moving", "still", "done" or "failed"; ``tip`` (the reason,
        e.g. the weighing's message) becomes the tooltip."""
        colours = {
            "idle": ("#bdbdbd", "○", "not weighing"),
            "moving": ("#ef6c00", "◐", "not still"),
            "still": ("#2e7d32", "●", "still"),
            "done": ("#1565c0", "✔", "weighed"),
            "failed": (WARN_COLOUR, "✖", "not weighed (see the message)"),
        }
        colour, symbol, words = colours.get(state, colours["idle"])
        self.state = state
        self.setText(f"{symbol} {words}" + (f" {detail}" if detail else ""))
        self.setToolTip(tip or "Whether the athlete stands still enough to be weighed")
        self.setStyleSheet(f"color: {colour}; font-weight: bold;")


#: Columns of the per-stride table: (title, key in N, key in BW, what the number is).
STANCE_COLUMNS = (
    ("#", None, None, "Stance number in the trial"),
    ("Side", None, None, "Foot of this stance (L = left, R = right)"),
    ("Device", None, None, "The device (stream) that measured this stance"),
    ("Start (s)", "start_s", "start_s", "Foot contact, s since the session start"),
    ("Contact (ms)", "contact_time_s", "contact_time_s", "Contact time of the stance, ms"),
    ("Peak", "peak_force_n", "peak_force_bw", "Highest vertical force of the stance"),
    ("Mid-stance", "midstance_peak_n", "midstance_peak_bw",
     "Mid-stance (active) peak of vertical force"),
    ("Impact", "impact_peak_n", "impact_peak_bw", "Impact peak, when the stance has one"),
    ("VALR", "valr_n_s", "valr_bw_s", "Vertical average loading rate (per s)"),
    ("VILR", "vilr_n_s", "vilr_bw_s", "Vertical instantaneous loading rate (per s)"),
    ("Braking", "peak_braking_n", "peak_braking_bw",
     "Peak braking (fore-aft) force, when the device measures it"),
    ("Step width (mm)", "step_width_m", "step_width_m",
     "Right foot's medio-lateral position minus the left's, from the previous contact of the "
     "other foot; negative = the feet crossed (crossover step)"),
    ("Pelvic drop (°)", "pelvic_drop_deg", "pelvic_drop_deg",
     "Largest drop of the swing side's hip below neutral during this stance (pelvis markers)"),
    ("Flags", None, None,
     "Why a stance is not used (partial, gap, ...), crossover steps, and how loading rates "
     "were measured"),
)


class StanceTable(QTableWidget):
    """One row per stance (side, contact, peaks, loading rates, flags); a click or Enter on a row
    emits :attr:`stance_chosen` with the stance's index.

    Signals
    -------
    stance_chosen(int)
        Index of the chosen stance in the list given to :meth:`set_stances`.
    """

    stance_chosen = pyqtSignal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(STANCE_COLUMNS), parent)
        self.unit = "N"
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setAlternatingRowColors(True)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setStretchLastSection(True)
        self.setToolTip("Click a row (or move with the arrow keys) to see that stance")
        self.currentCellChanged.connect(lambda row, *_: self._chosen(row))
        self.cellClicked.connect(lambda row, _col: self._chosen(row))
        self._set_headers()

    def _set_headers(self) -> None:
        for col, (title, key_n, _, tip) in enumerate(STANCE_COLUMNS):
            unit = ""
            if key_n and key_n.endswith("_n"):
                unit = f" ({self.unit})"
            elif key_n and key_n.endswith("_n_s"):
                unit = f" ({self.unit}/s)"
            item = QTableWidgetItem(title + unit)
            item.setToolTip(tip)
            self.setHorizontalHeaderItem(col, item)

    def _chosen(self, row: int) -> None:
        if row >= 0:
            self.stance_chosen.emit(row)

    def set_stances(self, stances: Sequence[Mapping], unit: str = "N") -> None:
        """Show ``stances`` (dicts of ``AnalysisResult.stances``) with forces in ``unit``
        ("N" or "BW")."""
        self.unit = "BW" if unit == "BW" else "N"
        self._set_headers()
        self.blockSignals(True)
        self.setRowCount(len(stances))
        for row, st in enumerate(stances):
            for col, (title, key_n, key_bw, tip) in enumerate(STANCE_COLUMNS):
                text = _stance_cell(row, st, key_bw if self.unit == "BW" else key_n, title)
                item = QTableWidgetItem(text)
                item.setToolTip(f"{tip}: {text}" if text else tip)
                if col == 1:
                    item.setForeground(pg.mkColor(*side_colour(st.get("side"))))
                if not st.get("valid", True):
                    item.setForeground(pg.mkColor(NEUTRAL_COLOUR))
                self.setItem(row, col, item)
        self.blockSignals(False)


def _stance_cell(row: int, st: Mapping, key: str | None, title: str) -> str:
    if title == "#":
        return str(row + 1)
    if title == "Device":
        return str(st.get("stream") or "")
    if title == "Side":
        side = st.get("side")
        return {"left": "L", "right": "R"}.get(side, side or "—")
    if title == "Flags":
        flags = []
        if not st.get("valid", True):
            flags.append(f"not used: {st.get('reason') or 'invalid'}")
        if st.get("crossover"):
            flags.append("crossover step")
        method = st.get("loading_rate_method")
        if method and method != "impact_peak":
            flags.append(f"loading rate: {method}")
        if st.get("loading_rate_quality") == "indicative":
            flags.append("loading rates indicative (sampled below 500 Hz)")
        if st.get("loading_rate_note"):
            flags.append(str(st["loading_rate_note"]))
        return "; ".join(flags)
    value = st.get(key) if key else None
    if value is None or not math.isfinite(float(value)):
        return "—"
    value = float(value)
    if key == "contact_time_s":
        return f"{value * 1000:.0f}"
    if key == "start_s":
        return f"{value:.2f}"
    if key == "step_width_m":
        return f"{value * 1000:+.0f}"
    if key == "pelvic_drop_deg":
        return f"{value:.1f}"
    if key.endswith("_bw") or key.endswith("_bw_s"):
        return f"{value:.2f}"
    return f"{value:.0f}"
