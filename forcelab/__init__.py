"""forcelab: force-plate and smart-insole session controller.

Acquire ground-reaction forces from plates and insoles, find stances and mid-stance loading,
measure left/right asymmetry, record sessions to HDF5 and export them.
"""

__version__ = "0.1.0"
