"""Import of existing recordings (and, from other modules, export).

``load_recording(path, **reader_options)`` opens delimited tables, OpenSim .mot/.sto, C3D,
Moticon OpenGo exports and forcelab session files as a :class:`forcelab.recording.Recording`.
The readers live in ``read_*.py`` modules, share the helpers of ``load.py`` and are dispatched
by ``formats.py``. See docs/formats.md.
"""

from forcelab.interop.formats import detect_format, load_recording
from forcelab.interop.load import READER_OPTIONS, parse_map, reader_notes

__all__ = ["READER_OPTIONS", "detect_format", "load_recording", "parse_map", "reader_notes"]
