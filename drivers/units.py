"""Physical units shared by devices and analysis."""

STANDARD_GRAVITY_M_S2 = 9.80665
"""Standard gravity (m/s^2), BIPM/ISO 80000-3: converts kg-force to N and body mass to body weight."""
