"""``--bands FILE.json``: a lab's own asymmetry reference bands, for analyze and report.

The file maps a metric family (``contact_time``, ``valr``, ``midstance_peak``, ...) or a full
metric name (``valr_bw_s``) to the |SI| (%) up to which the lab calls a difference normal,
either as a number or as ``{"si_pct": 12, "source": "our clinic, 40 runners, 2026"}``.
Metrics the file does not name keep the published bands (docs/metrics.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from forcelab.errors import InputError


def load_bands(path: str | Path) -> dict[str, Any]:
    """Read and check a bands file.

    Raises
    ------
    InputError
        The file cannot be read, is not a JSON object, or a band is not a number of % in
        (0, 100).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"--bands {path}: no such file") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"--bands {path}: not a readable JSON file ({exc})") from None
    if not isinstance(data, dict) or not data:
        raise InputError(f"--bands {path}: expected a JSON object such as {{\"valr\": 12}}")
    for key, value in data.items():
        si = value.get("si_pct") if isinstance(value, dict) else value
        if isinstance(si, bool) or not isinstance(si, (int, float)) or not (
            math.isfinite(si) and 0.0 < si < 100.0
        ):
            raise InputError(
                f"--bands {path}: the band of {key!r} must be a number of % between 0 and 100, "
                f"got {si!r}"
            )
    return data
