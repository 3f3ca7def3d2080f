"""The athlete list of the operator console: who can be picked for a session.

The list persists between runs as a small JSON file in the console's configuration folder
(:func:`forcelab.console.settings.config_dir`). Writes are atomic (temporary file, then rename),
so a crash while saving never leaves a half-written list. A damaged file is never overwritten:
:meth:`AthleteStore.load` raises :class:`~forcelab.errors.FileFormatError` and the console moves the
file aside (:meth:`AthleteStore.quarantine`) before starting a fresh list.

This module has no Qt dependency, so it is easy to test and to reuse.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from forcelab.errors import FileFormatError, InputError
from forcelab.recording import check_body_mass

FORMAT_VERSION = 1


@dataclass
class Athlete:
    """One athlete as the console knows them.

    Parameters
    ----------
    name : str
        Display name ("Jane Runner"); required, unique in the list (case-insensitive).
    athlete_id : str
        Lab or club identifier; may be empty. Stored in the session file.
    body_mass_kg : float or None
        Body mass in kg, when known (typed in, or the last weighed value).
    notes : str
        Free text (injury history, shoe, ...).
    """

    name: str
    athlete_id: str = ""
    body_mass_kg: float | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        self.name = " ".join(str(self.name).split())
        if not self.name:
            raise InputError("an athlete needs a name; type one before saving")
        self.athlete_id = str(self.athlete_id).strip()
        self.body_mass_kg = check_body_mass(self.body_mass_kg)
        self.notes = str(self.notes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict (the athlete block of a session file uses the same keys)."""
        d = asdict(self)
        d["id"] = d.pop("athlete_id")
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Athlete:
        """Rebuild an athlete from :meth:`to_dict` output."""
        if not isinstance(d, dict):
            raise InputError(f"an athlete entry must be an object, got {type(d).__name__}")
        return cls(
            name=d.get("name", ""),
            athlete_id=d.get("id", d.get("athlete_id", "")) or "",
            body_mass_kg=d.get("body_mass_kg"),
            notes=d.get("notes", "") or "",
        )


class AthleteStore:
    """The persistent athlete list (a JSON file).

    Parameters
    ----------
    path : str or Path
        The JSON file; its folder is created on the first save.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._athletes: list[Athlete] = []

    @property
    def athletes(self) -> list[Athlete]:
        """The athletes sorted by name (a copy)."""
        return sorted(self._athletes, key=lambda a: a.name.casefold())

    def load(self) -> list[Athlete]:
        """Read the list from disk; a missing file is an empty list.

        Raises
        ------
        FileFormatError
            If the file exists but is not a valid athlete list (it is left untouched).
        """
        if not self.path.exists():
            self._athletes = []
            return []
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise FileFormatError(
                f"the athlete list {self.path} is damaged ({exc}); it was not changed"
            ) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("athletes"), list):
            raise FileFormatError(
                f"the athlete list {self.path} is not a forcelab athlete list; it was not changed"
            )
        if int(doc.get("version", 1)) > FORMAT_VERSION:
            raise FileFormatError(
                f"the athlete list {self.path} was written by a newer forcelab "
                f"(version {doc.get('version')}); update forcelab to use it"
            )
        athletes = []
        for i, entry in enumerate(doc["athletes"]):
            try:
                athletes.append(Athlete.from_dict(entry))
            except InputError as exc:
                raise FileFormatError(
                    f"entry {i + 1} of the athlete list {self.path} is invalid: {exc}"
                ) from None
        self._athletes = athletes
        return self.athletes

    def quarantine(self) -> Path | None:
        """Move a damaged list aside (``athletes.json.broken-<time>``) and return its new path.

        Nothing is deleted, so the operator can repair the file by hand.
        """
        if not self.path.exists():
            return None
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = self.path.with_name(f"{self.path.name}.broken-{stamp}")
        n = 1
        while target.exists():
            target = self.path.with_name(f"{self.path.name}.broken-{stamp}-{n}")
            n += 1
        os.replace(self.path, target)
        self._athletes = []
        return target

    def save(self) -> None:
        """Write the list atomically (temporary file in the same folder, then rename)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"version": FORMAT_VERSION, "athletes": [a.to_dict() for a in self.athletes]}
        fd, tmp = tempfile.mkstemp(prefix=".athletes-", suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(doc, fh, indent=2, ensure_ascii=False)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def find(self, name: str) -> Athlete | None:
        """The athlete called ``name`` (case- and space-insensitive), or None."""
        key = _key(name)
        for a in self._athletes:
            if _key(a.name) == key:
                return a
        return None

    def upsert(self, athlete: Athlete, *, replace: str | None = None) -> Athlete:
        """Add an athlete, or update the one called ``replace`` (default: the same name); saves.

        Raises
        ------
        InputError
            If another athlete already has the new name.
        """
        old = self.find(replace if replace is not None else athlete.name)
        clash = self.find(athlete.name)
        if clash is not None and clash is not old:
            raise InputError(
                f"an athlete called {clash.name!r} already exists; pick another name"
            )
        if old is not None:
            self._athletes.remove(old)
        self._athletes.append(athlete)
        self.save()
        return athlete

    def remove(self, name: str) -> None:
        """Remove the athlete called ``name`` and save; unknown names are an error.

        Raises
        ------
        InputError
            If there is no such athlete.
        """
        old = self.find(name)
        if old is None:
            raise InputError(f"there is no athlete called {name!r}")
        self._athletes.remove(old)
        self.save()


def _key(name: str) -> str:
    return re.sub(r"\s+", " ", str(name)).strip().casefold()
