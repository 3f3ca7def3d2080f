"""Live-view widgets of the operator console (pyqtgraph / PyQt5).

- :class:`LiveForcePlot`: scrolling left/right vertical force over the last 10 s. Built for
  2 kHz streams: peak-mode downsampling and clip-to-view, and it only redraws when the console's
  ~30 Hz timer hands it a fresh ring-buffer peek (it never pulls data itself).
- :class:`StrideBars`: one bar per completed stance, mid-stance peak, coloured per side.
- :class:`AsymmetryReadout`: SI % with the direction in words, coloured by a threshold.
- :class:`StillnessIndicator`: the "stand still" light shown while weighing.

Colours: left is blue, right is orange, everywhere in the console.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QFrame, QGridLayout, QLabel, QVBoxLayout, QWidget

from forcelab.analysis import symmetry_text

LEFT_COLOUR = (31, 119, 180)
RIGHT_COLOUR = (255, 127, 14)
OTHER_COLOURS = [(44, 160, 44), (148, 103, 189), (140, 86, 75), (127, 127, 127)]
OK_COLOUR = "#2e7d32"
WARN_COLOUR = "#c62828"
NEUTRAL_COLOUR = "#616161"


def side_colour(side: str | None, index: int = 0) -> tuple[int, int, int]:
    """The console's colour for a side ("left", "right") or for the ``index``-th other stream."""
    if side == "left":
        return LEFT_COLOUR
    if side == "right":
        return RIGHT_COLOUR
    return OTHER_COLOURS[index % len(OTHER_COLOURS)]


def describe_si(si_pct: float | None) -> str:
    """Words for a symmetry index in % (positive = right higher).

    Returns e.g. ``"7.8 % higher on the left"``, ``"symmetric"`` below 0.05 %, ``"n/a"`` when
    the index is unknown.
    """
    return symmetry_text(si_pct)


class LiveForcePlot(pg.PlotWidget):
    """Scrolling vertical force of each stream over the last ``window_s`` seconds.

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
        self.frames_drawn = 0
        item = self.getPlotItem()
        item.setLabel("left", "Vertical force", units="N")
        item.setLabel("bottom", "Session time", units="s")
        item.showGrid(x=True, y=True, alpha=0.3)
        item.setDownsampling(auto=True, mode="peak")
        item.setClipToView(True)
        item.setMouseEnabled(x=False, y=True)
        item.hideButtons()
        self._legend = item.addLegend(offset=(10, 5))
        self.setYRange(-50, 2500, padding=0)
        self.setXRange(0, self.window_s, padding=0)
        self.setMinimumHeight(180)

    def curve_names(self) -> list[str]:
        """Names of the streams drawn so far."""
        return list(self._curves)

    def curve_data(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The (time s, force N) arrays currently held by the curve of ``name``."""
        x, y = self._curves[name].getOriginalDataset()
        if x is None:
            return np.empty(0), np.empty(0)
        return np.asarray(x), np.asarray(y)

    def clear_curves(self) -> None:
        """Remove every curve (a new session starts)."""
        for curve in self._curves.values():
            self.getPlotItem().removeItem(curve)
        self._legend.clear()
        self._curves.clear()

    def update_data(
        self,
        data: Mapping[str, tuple[np.ndarray, np.ndarray]],
        sides: Mapping[str, str | None] | None = None,
    ) -> None:
        """Draw fresh data: ``{stream: (t_s, fz_n)}`` with session times in s.

        The x range follows the newest sample so the plot scrolls; streams absent from ``data``
        keep their last curve.
        """
        sides = sides or {}
        t_end = -math.inf
        for i, (name, (t_s, fz_n)) in enumerate(data.items()):
            t_s = np.asarray(t_s, dtype=np.float64)
            fz_n = np.asarray(fz_n, dtype=np.float64)
            curve = self._curves.get(name)
            if curve is None:
                side = sides.get(name)
                label = name if side is None or side == name else f"{name} ({side})"
                curve = self.plot(
                    name=label, pen=pg.mkPen(side_colour(side, i), width=1.5),
                    connect="finite",
                )
                self._curves[name] = curve
            curve.setData(t_s, fz_n)
            if t_s.size:
                t_end = max(t_end, float(t_s[-1]))
        if math.isfinite(t_end):
            self.setXRange(max(0.0, t_end - self.window_s), max(self.window_s, t_end), padding=0)
        self.frames_drawn += 1


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
        self._bars = {
            side: pg.BarGraphItem(x=[], height=[], width=0.8, brush=pg.mkBrush(*side_colour(side)))
            for side in ("left", "right", None)
        }
        for bar in self._bars.values():
            self.addItem(bar)
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
    """Large SI % readout with the direction in words, coloured by ``threshold_pct``.

    Green while |SI| < threshold, red at or above it, grey when unknown.
    """

    def __init__(self, threshold_pct: float = 10.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setFrameShape(QFrame.StyledPanel)
        self.threshold_pct = float(threshold_pct)
        self.si_pct: float | None = None
        self.title = QLabel("Mid-stance peak asymmetry")
        self.value = QLabel("—")
        self.value.setObjectName("asymmetryValue")
        self.words = QLabel("waiting for stances")
        self.detail = QLabel("")
        for lab in (self.title, self.value, self.words, self.detail):
            lab.setAlignment(Qt.AlignCenter)
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

    def set_threshold(self, threshold_pct: float) -> None:
        """Change the warning threshold in % and repaint."""
        self.threshold_pct = float(threshold_pct)
        self.set_values(self.si_pct, *self._last_means)

    _last_means: tuple = (None, None, 0, 0, "N")

    def set_values(
        self,
        si_pct: float | None,
        left_mean: float | None = None,
        right_mean: float | None = None,
        left_n: int = 0,
        right_n: int = 0,
        unit: str = "N",
    ) -> None:
        """Show a new SI (% , positive = right higher) with the side means and counts."""
        self._last_means = (left_mean, right_mean, left_n, right_n, unit)
        ok = si_pct is not None and math.isfinite(si_pct)
        self.si_pct = float(si_pct) if ok else None
        if not ok:
            self.value.setText("—")
            self.words.setText("waiting for stances on both sides")
            self._paint(NEUTRAL_COLOUR)
        else:
            self.value.setText(f"SI {si_pct:+.1f} %")
            self.words.setText(describe_si(si_pct))
            self._paint(WARN_COLOUR if abs(si_pct) >= self.threshold_pct else OK_COLOUR)
        fmt = "{:.2f}" if unit == "BW" else "{:.0f}"
        parts = []
        for label, mean, n in (("L", left_mean, left_n), ("R", right_mean, right_n)):
            if mean is not None and math.isfinite(mean):
                parts.append(f"{label} {fmt.format(mean)} {unit} (n={n})")
        limit = f"warning at |SI| ≥ {self.threshold_pct:g} %"
        self.detail.setText("   ".join(parts) + ("\n" if parts else "") + limit)

    def _paint(self, colour: str) -> None:
        self._colour = colour
        self.value.setStyleSheet(f"color: {colour};")
        self.words.setStyleSheet(f"color: {colour}; font-weight: bold;")


class FigureGrid(QFrame):
    """Small labelled figures (cadence, contact time, stances, elapsed, file size...)."""

    def __init__(self, names: Sequence[str], columns: int = 2, parent: QWidget | None = None):
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
            font.setPointSize(13)
            font.setBold(True)
            value.setFont(font)
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

    def set_state(self, state: str, detail: str = "") -> None:
        """``state`` is "idle", "moving", "still", "done" or "failed"."""
        colours = {
            "idle": ("#bdbdbd", "not weighing"),
            "moving": ("#ef6c00", "moving"),
            "still": ("#2e7d32", "still"),
            "done": ("#1565c0", "weighed"),
            "failed": (WARN_COLOUR, "too much movement"),
        }
        colour, words = colours.get(state, colours["idle"])
        self.state = state
        self.setText(f"● {words}" + (f" {detail}" if detail else ""))
        self.setStyleSheet(f"color: {colour}; font-weight: bold;")
