"""Where the console keeps its configuration, and its typed settings.

Everything the console remembers between runs lives in one folder:

- ``FORCELAB_CONFIG_DIR`` when that environment variable is set (tests point it at a temporary
  folder so they never touch the user's files);
- otherwise the platform's configuration location from ``QStandardPaths`` (on Linux
  ``$XDG_CONFIG_HOME/forcelab``, usually ``~/.config/forcelab``).

In it: ``athletes.json`` (the athlete list) and ``console.ini`` (QSettings in INI format: window
geometry, last device strings, output folder, operator).
"""

from __future__ import annotations

import os
from pathlib import Path

from PyQt5.QtCore import QByteArray, QSettings, QStandardPaths

ENV_CONFIG_DIR = "FORCELAB_CONFIG_DIR"
DEFAULT_WINDOW_S = 10.0


def _text_setting(key: str, doc: str) -> property:
    """A text setting stored under ``key`` ("" when never set), as a property."""

    def get(self: ConsoleSettings) -> str:
        return str(self.qsettings.value(key, "") or "")

    def put(self: ConsoleSettings, value: str) -> None:
        self.qsettings.setValue(key, str(value))

    return property(get, put, doc=doc)


def config_dir() -> Path:
    """The console's configuration folder (created if missing)."""
    env = os.environ.get(ENV_CONFIG_DIR)
    if env:
        path = Path(env).expanduser()
    else:
        base = QStandardPaths.writableLocation(QStandardPaths.GenericConfigLocation)
        path = Path(base or Path.home() / ".config") / "forcelab"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_output_dir() -> Path:
    """Default folder for new session files: ``~/forcelab-sessions`` (created on demand)."""
    base = QStandardPaths.writableLocation(QStandardPaths.DocumentsLocation) or str(Path.home())
    return Path(base) / "forcelab-sessions"


class ConsoleSettings:
    """Typed access to the console's QSettings (INI file in :func:`config_dir`).

    Parameters
    ----------
    folder : Path or None
        Configuration folder; :func:`config_dir` by default.
    """

    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else config_dir()
        self.qsettings = QSettings(str(self.folder / "console.ini"), QSettings.IniFormat)

    # -- plain strings / lists ------------------------------------------------------------
    @property
    def devices(self) -> list[str]:
        """Device strings used last time (newest first)."""
        value = self.qsettings.value("devices/recent", "")
        if not isinstance(value, str):  # anything else is not ours: start afresh
            return []
        return [v.strip() for v in value.split("\n") if v.strip()]

    def remember_device(self, device: str) -> None:
        """Put ``device`` first in the recent device strings (at most 10 kept, one per line)."""
        device = " ".join(str(device).split())
        if not device:
            return
        recent = [d for d in self.devices if d != device]
        self.qsettings.setValue("devices/recent", "\n".join([device, *recent][:10]))
        self.qsettings.sync()

    @property
    def output_dir(self) -> Path:
        """Folder where new session files are created."""
        value = self.qsettings.value("session/output_dir", "")
        return Path(value) if value else default_output_dir()

    @output_dir.setter
    def output_dir(self, value: str | os.PathLike[str]) -> None:
        self.qsettings.setValue("session/output_dir", str(value))

    operator = _text_setting("session/operator", "Operator name written into new session files.")
    last_athlete = _text_setting("session/last_athlete", "Name of the athlete picked last time.")

    # -- window geometry ------------------------------------------------------------------
    def geometry(self) -> tuple[QByteArray | None, QByteArray | None]:
        """Saved (geometry, state) of the main window, or None when never saved."""
        geo = self.qsettings.value("window/geometry")
        state = self.qsettings.value("window/state")
        return (
            geo if isinstance(geo, QByteArray) else None,
            state if isinstance(state, QByteArray) else None,
        )

    def save_geometry(self, geometry: QByteArray, state: QByteArray) -> None:
        """Remember the main window's geometry and dock/toolbar state."""
        self.qsettings.setValue("window/geometry", geometry)
        self.qsettings.setValue("window/state", state)

    def sync(self) -> None:
        """Write pending changes to disk now."""
        self.qsettings.sync()
