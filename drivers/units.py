"""Physical constants and unit factors the drivers share (one home for each).

The drivers import no other part of forcelab, so the device side keeps its own copy of standard
gravity; forcelab's rooms read :data:`forcelab.analysis.metrics.G_M_S2` (analysis imports no
device room) and ``tests/analysis/test_metrics.py`` holds the two equal.
"""

STANDARD_GRAVITY_M_S2 = 9.80665
"""Standard gravity (m/s²), by definition: the force of one kilogram-force in N."""

POUND_FORCE_N = 4.4482216152605
"""One pound-force in N (0.45359237 kg × standard gravity), by definition."""
