"""The History tab: one athlete's sessions and trials, and the trend of their asymmetry.

The session folder is searched for session files of the athlete (by id when both sides have
one, else by name); every trial is read back and analysed by forcelab.analysis (as the Summary
and Review tabs do, and as ``forcelab analyze`` does). The trend chart puts the mid-stance peak
symmetry index of each trial, with its 95 % confidence interval across strides, in the order the
sessions were recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QColor
from PyQt5.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from forcelab.analysis.asymmetry import level_of, reference_band
from forcelab.console.jobs import JobRunner
from forcelab.console.widgets import (
    LEVEL_COLOURS,
    MARKER_COLOUR,
    NEUTRAL_COLOUR,
    OK_COLOUR,
    level_tip,
    si_text,
)

HISTORY_COLUMNS = ("Session / trial", "Duration", "Stances", "Mid-stance SI", "95 % CI")
HISTORY_TIPS = (
    "Session file (date and time it was created) and its trials",
    "Length of the trial, s",
    "Valid stances analysed (left + right)",
    "Robinson symmetry index of the mid-stance peak, % (positive = right higher)",
    "95 % confidence interval of the symmetry index across strides, %",
)


def find_athlete_sessions(folder: Path, name: str, athlete_id: str = "") -> list[dict[str, Any]]:
    """Session files in ``folder`` recorded for the athlete, oldest first.

    Returns
    -------
    list of dict
        ``{"path", "created_utc"}``; files that are not readable sessions are skipped.
    """
    from forcelab.errors import ForcelabError
    from forcelab.store import open_session

    found = []
    for path in sorted(Path(folder).expanduser().glob("*.h5")):
        try:
            with open_session(path) as session:
                who = session.athlete
                created = session.created_utc
        except (ForcelabError, OSError):
            continue
        same_id = bool(athlete_id) and str(who.get("id") or "") == athlete_id
        same_name = str(who.get("name") or "").strip().casefold() == name.strip().casefold()
        if same_id or (same_name and not (athlete_id and who.get("id"))):
            found.append({"path": str(path), "created_utc": str(created or "")})
    return sorted(found, key=lambda s: (s["created_utc"], s["path"]))


def athlete_history(folder: Path, name: str, athlete_id: str = "") -> dict[str, Any]:
    """The athlete's sessions with per-trial key figures and the asymmetry trend (runs on a job).

    Returns
    -------
    dict
        ``athlete``; ``sessions``: ``[{"path", "created_utc", "trials": [{"name",
        "duration_s", "n_stances", "si_pct", "ci95_pct", "text", "level", "band_si_pct",
        "noise"}]}]`` (``level`` by :func:`forcelab.analysis.asymmetry.level_of` from ``noise``:
        ``detectable``, ``verdict``, ``band_si_pct`` in %); ``points``: one
        per trial in recording order, ``{"label", "session", "trial", "si_pct", "ci95_pct",
        "level", "band_si_pct"}``.
        The index is the mid-stance peak's (in BW when the file has a body mass).
    """
    from forcelab.console.review import analyse_trial, load_session_overview

    out, points = [], []
    for meta in find_athlete_sessions(folder, name, athlete_id):
        trials = []
        overview = load_session_overview(meta["path"])
        for trial in overview["trials"]:
            if trial.get("stop_s") is None:
                continue  # still recording, or cut short by a crash: not a finished trial
            analysis = analyse_trial(meta["path"], trial["name"])
            result = analysis.get("result") or {}
            asym = result.get("asymmetry") or {}
            head = asym.get("midstance_peak_bw") or asym.get("midstance_peak_n") or {}
            ci = head.get("ci95_pct")
            figures = {
                "name": trial["name"],
                "duration_s": float(trial.get("duration_s") or 0.0),
                "n_stances": sum(1 for st in result.get("stances") or [] if st.get("valid")),
                "si_pct": head.get("si_pct"),
                "ci95_pct": tuple(ci) if ci else None,
                "text": head.get("text") or analysis["text"].splitlines()[0],
                "level": level_of(head),
                "band_si_pct": head.get("band_si_pct"),
                "noise": {k: head.get(k) for k in ("detectable", "verdict", "band_si_pct")},
            }
            trials.append(figures)
            points.append({"label": meta["created_utc"][:16].replace("T", " "),
                           "session": meta["path"], "trial": trial["name"],
                           "si_pct": figures["si_pct"], "ci95_pct": figures["ci95_pct"],
                           "level": figures["level"], "band_si_pct": figures["band_si_pct"]})
        out.append({**meta, "trials": trials})
    return {"athlete": name, "sessions": out, "points": points}


class HistoryPanel(QWidget):
    """The athlete's sessions (tree) and the trend of their asymmetry (chart).

    Signals
    -------
    open_trial(str, str)
        A trial was double-clicked: (session file, trial name), for the Review tab.
    """

    open_trial = pyqtSignal(str, str)

    def __init__(self, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.jobs.finished.connect(self._job_finished)
        self.history: dict[str, Any] | None = None
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        top = QHBoxLayout()
        self.title = QLabel("Pick an athlete to see their history")
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Search the session folder again")
        top.addWidget(self.title, 1)
        top.addWidget(self.refresh_button)
        lay.addLayout(top)
        split = QSplitter(Qt.Vertical)
        self.tree = QTreeWidget()
        self.tree.setColumnCount(len(HISTORY_COLUMNS))
        self.tree.setHeaderLabels(HISTORY_COLUMNS)
        for col, tip in enumerate(HISTORY_TIPS):
            self.tree.headerItem().setToolTip(col, tip)
        self.tree.setToolTip("Double-click (or Enter on) a trial to open it in Review")
        self.tree.itemActivated.connect(self._activated)
        self.tree.setMinimumHeight(120)
        split.addWidget(self.tree)
        self.plot = pg.PlotWidget(background="w")
        item = self.plot.getPlotItem()
        item.setLabel("left", "Mid-stance peak SI (%)")
        item.setLabel("bottom", "Trial, oldest first")
        item.showGrid(y=True, alpha=0.3)
        item.hideButtons()
        self.plot.setToolTip(
            "Symmetry index of each trial (dot) with its 95 % confidence interval (bar); "
            "dashed lines: the healthy runners' band of the mid-stance peak; dots coloured only "
            "when the interval tells the difference from zero; above 0 = right higher"
        )
        split.addWidget(self.plot)
        self.plot.setMinimumHeight(160)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([1000, 1000])
        lay.addWidget(split, 1)
        self._request: tuple[Path, str, str] | None = None
        self.refresh_button.clicked.connect(self.refresh)

    def show_athlete(self, folder: Path, name: str, athlete_id: str = "") -> None:
        """Load the history of the athlete from the session folder (in the background)."""
        self._request = (Path(folder), name, athlete_id)
        self.refresh()

    def refresh(self) -> None:
        """Search and analyse again."""
        if self._request is None or not self._request[1]:
            self.title.setText("Pick an athlete to see their history")
            return
        folder, name, athlete_id = self._request
        self.title.setText(f"{name}: reading the sessions in {folder}…")
        self.jobs.submit("history", athlete_history, folder, name, athlete_id)

    def _job_finished(self, name: str, result: Any, error: BaseException | None) -> None:
        if name != "history":
            return
        if error is not None:
            self.title.setText(f"History not available: {error}")
            return
        self.show_history(result)

    def show_history(self, history: dict[str, Any]) -> None:
        """Fill the tree and the trend chart from :func:`athlete_history`."""
        self.history = history
        sessions = history["sessions"]
        n_trials = sum(len(s["trials"]) for s in sessions)
        self.title.setText(f"{history['athlete']}: {len(sessions)} session(s), "
                           f"{n_trials} trial(s)")
        self.tree.clear()
        for s in sessions:
            top = QTreeWidgetItem([s["created_utc"][:16].replace("T", " ") or
                                   Path(s["path"]).name])
            top.setToolTip(0, s["path"])
            for t in s["trials"]:
                ci = t["ci95_pct"]
                row = QTreeWidgetItem([
                    t["name"], f"{t['duration_s']:.0f} s", str(t["n_stances"]),
                    si_text(t["si_pct"], t["level"]),
                    f"{ci[0]:+.1f} to {ci[1]:+.1f} %" if ci else "—",
                ])
                row.setData(0, Qt.UserRole, (s["path"], t["name"]))
                row.setForeground(3, QColor(LEVEL_COLOURS[t["level"]]))
                for col in range(len(HISTORY_COLUMNS)):
                    row.setToolTip(col, level_tip(t["text"], t["level"], t["band_si_pct"]))
                top.addChild(row)
            self.tree.addTopLevelItem(top)
            top.setExpanded(True)
        for col in range(len(HISTORY_COLUMNS)):
            self.tree.resizeColumnToContents(col)
        self._draw_trend(history["points"])

    def _draw_trend(self, points: list[dict[str, Any]]) -> None:
        item = self.plot.getPlotItem()
        item.clear()
        known = [(i, p) for i, p in enumerate(points) if p["si_pct"] is not None]
        bands = [p["band_si_pct"] for _, p in known if p.get("band_si_pct") is not None]
        band = bands[-1] if bands else reference_band("midstance_peak_n").si_pct
        for level in (band, -band):
            item.addItem(pg.InfiniteLine(pos=level, angle=0,
                                         pen=pg.mkPen(OK_COLOUR, style=Qt.DashLine)))
        item.addItem(pg.InfiniteLine(pos=0.0, angle=0, pen=pg.mkPen(NEUTRAL_COLOUR)))
        if not known:
            return
        x = np.array([i for i, _ in known], dtype=float)
        y = np.array([p["si_pct"] for _, p in known], dtype=float)
        lo = np.array([y[k] - p["ci95_pct"][0] if p["ci95_pct"] else 0.0
                       for k, (_, p) in enumerate(known)])
        hi = np.array([p["ci95_pct"][1] - y[k] if p["ci95_pct"] else 0.0
                       for k, (_, p) in enumerate(known)])
        self.error_bars = pg.ErrorBarItem(x=x, y=y, bottom=np.abs(lo), top=np.abs(hi), beam=0.2,
                                          pen=pg.mkPen(MARKER_COLOUR, width=1.5))
        item.addItem(self.error_bars)
        item.plot(x, y, pen=pg.mkPen(MARKER_COLOUR, width=1), symbol="o", symbolSize=9,
                  symbolBrush=[pg.mkBrush(LEVEL_COLOURS[p["level"]]) for _, p in known])
        ticks = []
        last = None
        for i, p in enumerate(points):
            if p["session"] != last:
                ticks.append((i, p["label"]))
                last = p["session"]
        item.getAxis("bottom").setTicks([ticks])
        item.setXRange(-0.5, len(points) - 0.5, padding=0)

    def _activated(self, item: QTreeWidgetItem, _col: int) -> None:
        data = item.data(0, Qt.UserRole)
        if data:
            self.open_trial.emit(*data)
