"""forcelab.analysis: stances, loading metrics and left/right asymmetry from vertical GRF.

Pure computation on arrays (NumPy + the compiled core ``forcelab._stances``); no I/O.
Definitions, references and defaults: docs/metrics.md.
"""

from forcelab.analysis.asymmetry import asymmetry, asymmetry_of, robinson_si_pct, symmetry_text
from forcelab.analysis.detection import DEFAULT_OPTIONS, REASONS, Stances, detect_stances
from forcelab.analysis.metrics import METRIC_OPTIONS, detect_and_measure, stance_metrics
from forcelab.analysis.result import AnalysisResult, analyze_recording
from forcelab.analysis.sides import assign_sides_from_cop
from forcelab.analysis.streaming import StreamingAnalyzer

__all__ = [
    "DEFAULT_OPTIONS",
    "METRIC_OPTIONS",
    "REASONS",
    "AnalysisResult",
    "Stances",
    "StreamingAnalyzer",
    "analyze_recording",
    "assign_sides_from_cop",
    "asymmetry",
    "asymmetry_of",
    "detect_and_measure",
    "detect_stances",
    "robinson_si_pct",
    "stance_metrics",
    "symmetry_text",
]
