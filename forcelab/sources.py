"""A recording, whatever it came from: session files and foreign files as trials with streams.

Reports, batch analysis and exports read their input through this module, never through each
other: :func:`load_source` opens a forcelab session file (``forcelab.store``) or any recording
that a reader of ``forcelab.interop`` understands (C3D, OpenSim .mot, CSV/TSV tables, OpenGo
exports) and returns a :class:`Source` whose :class:`Trial` items each hold a
:class:`forcelab.recording.Recording` (streams with channel roles as names: ``fz``, ``fap``,
``cop_ml``...), the trial record and a cached analysis.
"""

from __future__ import annotations

from forcelab.interop.export_common import ExportSource as Source
from forcelab.interop.export_common import ExportTrial as Trial
from forcelab.interop.export_common import load_source
from forcelab.store import is_session_file

__all__ = ["Source", "Trial", "is_session_file", "load_source"]
