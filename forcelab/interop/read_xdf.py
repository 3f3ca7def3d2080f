"""Read force streams from XDF files (what Lab Streaming Layer's LabRecorder writes).

The file is read with pyxdf (clock offsets applied, clock resets handled, regular streams
dejittered). Force streams are picked by type (Force, GRF, ForcePlate, Insole) or by channel
labels (Fz, total force); the ``stream`` option names one instead. Their channels map to
forcelab's exactly as a live ``lsl:`` device maps them (:mod:`forcelab.drivers.lsl_channels`:
labels, units, ``vertical``, ``cop_ml``, ``cop_ml_right``), so a stream recorded live and the same
stream in a LabRecorder file analyse alike. Marker streams (type Markers, or text streams)
become the recording's markers (``meta["markers"]``: ``label``, ``t_s``, ``stream``), which
``forcelab import`` stores as session markers.

Time: every stream's time stamps (on the recording computer's LSL clock after pyxdf's clock
synchronisation) are fitted to a uniform grid (see :func:`forcelab.interop.load.fit_time_grid`);
``t0_s`` and marker times count from the earliest first sample of the force streams.

forcelab.interop imports only the pure channel mapping of forcelab.drivers (no device code, no
pylsl), so files read the same way devices do.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from forcelab.drivers.base import KIND_INSOLE
from forcelab.drivers.errors import DeviceError
from forcelab.drivers.lsl_channels import channels_from_xdf_info, is_force_stream, map_channels
from forcelab.errors import FileFormatError, InputError
from forcelab.interop.load import check_reader_options, fit_time_grid
from forcelab.recording import Recording, Stream

try:  # the optional extra forcelab[lsl]
    import pyxdf
except ImportError:  # pragma: no cover - exercised only where pyxdf is not installed
    pyxdf = None

XDF_OPTIONS = ("stream", "vertical", "cop_ml", "cop_ml_right", "body_mass_kg")
#: How messages name the channel options: as reader parameters (the CLI shows their flags).
_OPTION_NAMES = {k: f"`{k}` " for k in ("vertical", "cop_ml", "cop_ml_right")}


class _Notes(logging.Handler):
    """Collects what pyxdf logs while reading (kept in the recording's meta, not printed)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
_TEXT_FORMATS = ("string",)


def _field(info: dict[str, Any], key: str) -> str:
    value = info.get(key)
    if isinstance(value, list):
        value = value[0] if value else ""
    return str(value or "").strip()


def _describe(streams: list[dict[str, Any]]) -> str:
    parts = []
    for s in streams:
        info = s["info"]
        fmt = _field(info, "channel_format")
        n = len(s["time_stamps"])
        parts.append(
            f"{_field(info, 'name') or '?'} ({_field(info, 'type') or 'no type'}, "
            + (f"text, {n} samples)" if fmt in _TEXT_FORMATS
               else f"{_field(info, 'channel_count')} ch, {n} samples)")
        )
    return ", ".join(parts) or "none"


def read_xdf(path: str | Path, **options: Any) -> Recording:
    """Read the force streams and markers of an XDF file.

    Parameters
    ----------
    path : str or Path
        The .xdf file.
    **options
        ``stream`` (the name of the force stream to read, instead of every stream typed as
        force), ``vertical`` (channel label or 1-based number of the vertical force),
        ``cop_ml`` and ``cop_ml_right`` (positive|negative), ``body_mass_kg``.

    Returns
    -------
    Recording
        One Stream per force stream (channels ``fz`` in N, ``cop_ml``/``cop_ap`` in m, ...),
        ``meta["markers"]`` from the marker streams, ``meta["xdf_streams"]`` describing what the
        file holds.

    Raises
    ------
    FileFormatError
        pyxdf is missing, the file is not valid XDF, or it holds no force stream (the message
        lists its streams and says to use ``stream``).
    InputError
        ``stream`` names no stream, or the channels cannot be read (the message names the
        options to give).
    """
    opts = check_reader_options(options, XDF_OPTIONS, "XDF files")
    path = Path(path)
    if pyxdf is None:
        raise FileFormatError(f"{path}: reading XDF needs pyxdf: pip install 'forcelab[lsl]'")
    notes = _Notes()
    log = logging.getLogger("pyxdf")
    log.addHandler(notes)
    propagate, log.propagate = log.propagate, False
    try:
        streams, _ = pyxdf.load_xdf(str(path))
    except Exception as exc:  # pyxdf raises many kinds on damaged files; one clear line
        raise FileFormatError(
            f"{path}: not a readable XDF file ({type(exc).__name__}: {exc})"
        ) from None
    finally:
        log.removeHandler(notes)
        log.propagate = propagate
    is_text = [_field(s["info"], "channel_format") in _TEXT_FORMATS for s in streams]
    numeric = [s for s, text in zip(streams, is_text, strict=True) if not text]
    markers = [s for s, text in zip(streams, is_text, strict=True)
               if text or _field(s["info"], "type").lower() == "markers"]
    if "stream" in opts:
        want = opts["stream"]
        chosen = [s for s in numeric if _field(s["info"], "name") == want] or [
            s for s in numeric if _field(s["info"], "name").lower() == want.lower()]
        if not chosen:
            raise InputError(
                f"`stream` {want!r}: no stream with samples of that name in {path}; streams: "
                f"{_describe(streams)}"
            )
    else:
        chosen = [
            s for s in numeric
            if is_force_stream(_field(s["info"], "type"), _field(s["info"], "name"),
                               [c.label for c in channels_from_xdf_info(s["info"])])
        ]
        if not chosen:
            raise FileFormatError(
                f"{path}: no force stream in this XDF file (streams: {_describe(streams)}); "
                "name one with `stream` NAME"
            )
    empty = [_field(s["info"], "name") for s in chosen if len(s["time_stamps"]) == 0]
    chosen = [s for s in chosen if len(s["time_stamps"]) > 0]
    if not chosen:
        raise FileFormatError(f"{path}: the force stream(s) {', '.join(empty)} hold no samples")
    mapping = {k: opts[k] for k in ("vertical", "cop_ml", "cop_ml_right") if k in opts}
    origin = min(float(s["time_stamps"][0]) for s in chosen)
    out: list[Stream] = []
    descriptions: dict[str, Any] = {}
    used: set[str] = set()
    for s in chosen:
        info = s["info"]
        name = _field(info, "name") or f"stream{_field(info, 'stream_id')}"
        n_ch = int(float(_field(info, "channel_count") or 0))
        try:
            cmap = map_channels(name, _field(info, "type"), n_ch, channels_from_xdf_info(info),
                                mapping, what=f"{path}: stream", flags=_OPTION_NAMES)
        except DeviceError as exc:
            raise InputError(str(exc)) from None
        nominal = float(_field(info, "nominal_srate") or 0.0)
        t = np.asarray(s["time_stamps"], dtype=np.float64)
        order = np.argsort(t, kind="stable")
        keep = np.r_[True, np.diff(t[order]) > 0]
        t = t[order][keep]
        values = cmap.apply(np.asarray(s["time_series"], dtype=np.float64)[order][keep])
        grid = fit_time_grid(t, nominal if nominal > 0 else None, where=f"XDF stream {name!r}")
        gridded = grid.apply(values)
        key = _stream_key(name, used)
        out.append(Stream(
            name=key,
            rate_hz=grid.rate_hz,
            channels={c.name: gridded[:, j] for j, c in enumerate(cmap.channels)},
            side=cmap.side,
            t0_s=grid.t0_s - origin,
            units={c.name: c.unit for c in cmap.channels},
            sensor="insole" if cmap.kind == KIND_INSOLE else "plate",
        ))
        descriptions[key] = {"xdf_name": name, "type": _field(info, "type"),
                             "channel_map": cmap.description, "time": grid.describe()}
    marker_rows = []
    for s in markers:
        label_stream = _field(s["info"], "name")
        for value, ts in zip(s["time_series"], s["time_stamps"], strict=True):
            text = value[0] if isinstance(value, (list, tuple, np.ndarray)) else value
            marker_rows.append({"label": str(text), "t_s": round(float(ts) - origin, 6),
                                "stream": label_stream})
    marker_rows.sort(key=lambda m: m["t_s"])
    return Recording(
        streams=out,
        body_mass_kg=opts.get("body_mass_kg"),
        source=str(path),
        meta={"format": "xdf", "streams": descriptions, "markers": marker_rows,
              "xdf_streams": _describe(streams), "empty_streams": empty,
              "xdf_notes": notes.messages},
    )


def _stream_key(name: str, used: set[str]) -> str:
    base = re.sub(r"\W+", "_", name).strip("_").lower() or "stream"
    key, k = base, 2
    while key in used:
        key, k = f"{base}_{k}", k + 1
    used.add(key)
    return key
