"""Import of existing recordings (and, from other modules, export).

``load_recording(path, **reader_options)`` opens delimited tables, OpenSim .mot/.sto, C3D,
Moticon OpenGo exports and forcelab session files as a :class:`forcelab.recording.Recording`.
The readers live in ``read_*.py`` modules and are imported only when a file needs them (C3D
reading imports ezc3d, session files import h5py through forcelab.store). See docs/formats.md.
"""

from forcelab.interop.load import (
    READER_OPTIONS,
    detect_format,
    load_recording,
    parse_map,
    reader_notes,
)

__all__ = ["READER_OPTIONS", "detect_format", "load_recording", "parse_map", "reader_notes"]
