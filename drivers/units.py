"""Physical constants and unit factors the drivers share (one home for each).

forcelab's other rooms read standard gravity from here too (``forcelab.drivers.units``): the
drivers import no other part of forcelab, so the constant lives on this side of the border.
"""

STANDARD_GRAVITY_M_S2 = 9.80665
"""Standard gravity (m/s²), by definition: the force of one kilogram-force in N."""

POUND_FORCE_N = 4.4482216152605
"""One pound-force in N (0.45359237 kg × standard gravity), by definition."""
