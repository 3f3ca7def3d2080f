"""Static report figures with matplotlib's Agg backend (no display, no GUI toolkit).

Every function returns a :class:`matplotlib.figure.Figure` built with the object API (never
pyplot), so figures are safe to make from worker processes and threads; :func:`png_bytes`
renders one to PNG.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from forcelab.report.content import CURVE_POINTS, fmt

#: colours per side, readable by the most common colour-vision deficiencies
SIDE_COLOURS = {"left": "#0072B2", "right": "#D55E00"}
OTHER_COLOURS = ("#009E73", "#CC79A7", "#E69F00", "#56B4E9")
FIG_SIZE_IN = (6.4, 3.4)
DPI = 110


def _colour(name: str, i: int) -> str:
    return SIDE_COLOURS.get(name, OTHER_COLOURS[i % len(OTHER_COLOURS)])


def _new_figure(size_in: tuple[float, float] = FIG_SIZE_IN) -> tuple[Figure, Any]:
    fig = Figure(figsize=size_in, dpi=DPI)
    FigureCanvasAgg(fig)
    # fixed margins: a layout engine would redraw every figure several times
    fig.subplots_adjust(left=0.11, right=0.97, bottom=0.16, top=0.9)
    ax = fig.add_subplot(1, 1, 1)
    ax.grid(True, color="#dddddd", linewidth=0.6)
    ax.set_axisbelow(True)
    return fig, ax


def _no_data(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")


def stance_curve_figure(curves: dict[str, np.ndarray], unit: str, title: str = "") -> Figure:
    """Mean ± SD vertical force through stance (0–100 %) for each side.

    Parameters
    ----------
    curves : dict
        side (or stream) -> array (n_stances, 101) of force in ``unit``.
    unit : {"BW", "N"}
    """
    fig, ax = _new_figure()
    draw_stance_curves(ax, curves, unit, title)
    return fig


def draw_stance_curves(ax: Any, curves: dict[str, np.ndarray], unit: str, title: str = ""
                       ) -> None:
    """Draw :func:`stance_curve_figure`'s content into an existing axes."""
    pct = np.linspace(0.0, 100.0, CURVE_POINTS)
    for i, (side, arr) in enumerate(sorted(curves.items())):
        if arr.size == 0:
            continue
        mean = arr.mean(axis=0)
        sd = arr.std(axis=0, ddof=1) if arr.shape[0] > 1 else np.zeros_like(mean)
        c = _colour(side, i)
        ax.fill_between(pct, mean - sd, mean + sd, color=c, alpha=0.22, linewidth=0)
        ax.plot(pct, mean, color=c, linewidth=2.0, label=f"{side} (n={arr.shape[0]})")
    if not curves:
        _no_data(ax, "no complete stances")
    else:
        ax.legend(loc="upper right", frameon=False)
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("stance (%)")
    ax.set_ylabel(f"vertical force ({unit})")
    ax.set_title(title or "Vertical force through stance (mean ± SD)", fontsize=10)


def stride_peak_figure(peaks: dict[str, tuple[np.ndarray, np.ndarray]], unit: str,
                       title: str = "") -> Figure:
    """Mid-stance peak of every stride over time, one line per side."""
    fig, ax = _new_figure()
    draw_stride_peaks(ax, peaks, unit, title)
    return fig


def draw_stride_peaks(ax: Any, peaks: dict[str, tuple[np.ndarray, np.ndarray]], unit: str,
                      title: str = "") -> None:
    """Draw :func:`stride_peak_figure`'s content into an existing axes."""
    starts = [float(p[0].min()) for p in peaks.values() if p[0].size]
    t0 = min(starts) if starts else 0.0
    for i, (side, (t, v)) in enumerate(sorted(peaks.items())):
        if t.size == 0:
            continue
        c = _colour(side, i)
        ax.plot(t - t0, v, "o-",
                color=c, markersize=3, linewidth=1.0,
                label=f"{side} (mean {fmt(float(np.mean(v)), unit)})")
    if not any(p[0].size for p in peaks.values()):
        _no_data(ax, "no mid-stance peaks")
    else:
        ax.legend(loc="best", frameon=False)
    ax.set_xlabel("time in trial (s)")
    ax.set_ylabel(f"mid-stance peak ({unit})")
    ax.set_title(title or "Mid-stance peak, stride by stride", fontsize=10)


def trend_figure(points: list[dict[str, Any]], title: str = "") -> Figure:
    """Symmetry index of the mid-stance peak across sessions (with 95 % CI and the band of
    healthy runners).

    Parameters
    ----------
    points : list of dict
        ``{"label": str, "si_pct": float, "ci95_pct": (lo, hi) or None,
        "band_si_pct": float or None}`` in time order.
    """
    fig, ax = _new_figure((6.4, 3.0))
    fig.subplots_adjust(bottom=0.25)
    draw_trend(ax, points, title)
    return fig


def draw_trend(ax: Any, points: list[dict[str, Any]], title: str = "") -> None:
    """Draw :func:`trend_figure`'s content into an existing axes."""
    x = np.arange(len(points))
    band = next((p["band_si_pct"] for p in points if p.get("band_si_pct")), 0.0)
    if band:
        ax.axhspan(-band, band, color="#e8f3e8", zorder=0, label="healthy runners")
    ax.axhline(0.0, color="#888888", linewidth=0.8)
    si = np.array([p["si_pct"] if p.get("si_pct") is not None else np.nan for p in points])
    lo = np.array([p["ci95_pct"][0] if p.get("ci95_pct") else np.nan for p in points])
    hi = np.array([p["ci95_pct"][1] if p.get("ci95_pct") else np.nan for p in points])
    ax.plot(x, si, "o-", color="#333333", linewidth=1.2)
    has_ci = np.isfinite(lo) & np.isfinite(hi)
    if np.any(has_ci):
        ax.errorbar(x[has_ci], si[has_ci], yerr=[si[has_ci] - lo[has_ci], hi[has_ci] - si[has_ci]],
                    fmt="none", ecolor="#333333", capsize=3, linewidth=1.0)
    ax.set_xticks(x, [p["label"] for p in points], rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("SI (%)  + = right higher")
    lim = max(band * 1.5, 2.0, float(np.nanmax(np.abs(np.r_[si, lo, hi, 0.0]))) * 1.15)
    ax.set_ylim(-lim, lim)
    ax.set_title(title or "Mid-stance peak asymmetry across sessions", fontsize=10)


def png_bytes(fig: Figure) -> bytes:
    """Render a figure to PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return buf.getvalue()
