"""JSON export: the session summary and every stance's metrics in one file.

Layout (``"format": "forcelab-export"``, ``"format_version": 1``)::

    {
      "format": "forcelab-export", "format_version": 1,
      "software": {"name": "forcelab", "version": "..."},
      "exported_utc": "2026-01-01T12:00:00Z",
      "anonymized": false,
      "athlete": {"id": ..., "name": ..., "body_mass_kg": ...},
      "session": {... session record: uuid, start time, operator, notes ...},
      "trials": [
        {"name": ..., "info": {tags, speed_m_s, shoe, ...},
         "streams": [{"name", "side", "rate_hz", "t0_s", "n_samples", "duration_s",
                      "channels": {"fz": "N", ...}}],
         "analysis": AnalysisResult.to_dict(),  # stances, summary, asymmetry, parameters
         "analysis_error": null                 # or why no stance was found (analysis null)
        }
      ]
    }

Non-finite numbers are written as ``null`` (JSON has no NaN).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from forcelab.interop.export_common import (
    ExportSource,
    FileWriter,
    export_files,
    json_safe,
    software_info,
    write_atomic_text,
)

FORMAT_NAME = "forcelab-export"
FORMAT_VERSION = 1


def export_document(source: ExportSource, analysis_options: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    """The JSON-serialisable export document of a source (see the module docstring)."""
    trials = []
    for trial in source.trials:
        rec = trial.recording
        analysis: dict[str, Any] | None = None
        if trial.stances(analysis_options):
            analysis = trial.analysis(analysis_options).to_dict()
            if source.anonymized:
                analysis.pop("source", None)
        trials.append({
            "name": trial.name,
            "info": trial.info,
            "streams": [{
                "name": s.name, "side": s.side, "rate_hz": s.rate_hz, "t0_s": s.t0_s,
                "n_samples": s.n_samples, "duration_s": s.duration_s,
                "channels": {c: s.units.get(c, "") for c in s.channels},
            } for s in rec.streams],
            "analysis": analysis,
            "analysis_error": trial.analysis_error or None,
        })
    doc = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "software": software_info(),
        "exported_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "anonymized": source.anonymized,
        "athlete": source.athlete,
        "session": source.session,
        "trials": trials,
    }
    return json_safe(doc)


def export_json(source: ExportSource, out: str | Path | None = None, *, overwrite: bool = False,
                analysis_options: dict[str, Any] | None = None) -> list[Path]:
    """Write one ``<name>.json`` with the whole session (all trials).

    ``out`` is an output folder or a ``.json`` file name; ``analysis_options`` go to the stance
    detection. See :func:`~forcelab.interop.export_common.export_files` for the rest.
    """
    def writers(whole: ExportSource) -> list[FileWriter]:
        text = json.dumps(export_document(whole, analysis_options), indent=1, allow_nan=False)
        return [lambda path: write_atomic_text(path, text + "\n")]

    return export_files(source, out, ".json", writers, overwrite=overwrite, per_trial=False)
