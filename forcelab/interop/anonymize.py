"""Pseudonymise athlete data before it leaves the lab (``--anonymize`` of export and report).

What anonymising does (see docs/exports.md): it keeps only what is known to be safe (allow
lists), so a field forcelab has never heard of (``surname``, ``e-mail``, ``birthday``) is dropped
rather than passed on:

- athlete: only the measures the analysis and the report need (:data:`KEPT_ATHLETE_FIELDS`:
  body mass and how it was measured, height, sex, dominant side, ...); the id is replaced by
  a stable pseudonym ``P-xxxxxxxxxx``, a keyed hash (HMAC-SHA256) of the id (or, without one,
  of the name, or of the input's file name), so the same athlete gets the same pseudonym in
  every export made with the same key (trends across sessions still work), while nobody
  without the key can recover the id by hashing a list of candidate ids;
- session and trial records: only times, software versions and numbers
  (:data:`KEPT_SESSION_FIELDS`, :data:`KEPT_TRIAL_FIELDS`); trial names (free text) become
  ``trial1``, ``trial2``, ...; notes, tags, shoe, operator and file names are dropped;
- reader metadata: only the technical facts of :data:`KEPT_META_FIELDS` (file format, time
  base, platforms), never a header, subject or path;
- output file names: the pseudonym and the session date, never the input's name.

The key comes from the ``FORCELAB_PSEUDONYM_KEY`` environment variable, or else from the file
``$XDG_CONFIG_HOME/forcelab/pseudonym.key`` (``~/.config/forcelab/pseudonym.key``), which is
created with a random key the first time it is needed (readable by the user only). Share that
file between the machines of one lab to get the same pseudonyms everywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any

from forcelab.errors import InputError

KEY_ENV = "FORCELAB_PSEUDONYM_KEY"
PSEUDONYM_PREFIX = "P-"
#: athlete fields kept when anonymising (everything else is dropped; the id is pseudonymised)
KEPT_ATHLETE_FIELDS = ("body_mass_kg", "body_mass_method", "height_m", "height_cm", "sex",
                       "dominant_side", "leg_length_m", "t_s")
#: session header fields kept when anonymising
KEPT_SESSION_FIELDS = ("uuid", "created_utc", "schema_version", "software_version")
#: trial record fields kept when anonymising (the name is replaced, see anonymize_trial_names)
KEPT_TRIAL_FIELDS = ("start_s", "stop_s", "duration_s", "speed_m_s")
#: reader metadata kept when anonymising (technical facts about the file, no text from it)
KEPT_META_FIELDS = ("format", "time", "platforms", "length_unit", "negated", "plate_size_mm",
                    "partial", "closed_cleanly", "side_conflicts", "skipped_streams")


def key_path() -> Path:
    """Where the pseudonym key file lives (``$XDG_CONFIG_HOME/forcelab/pseudonym.key``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "forcelab" / "pseudonym.key"


def pseudonym_key() -> bytes:
    """Return the key used for pseudonyms, creating the key file on first use.

    Returns
    -------
    bytes
        The secret key.

    Raises
    ------
    InputError
        If the key file exists but is empty, or cannot be created.
    """
    env = os.environ.get(KEY_ENV)
    if env:
        return env.encode("utf-8")
    path = key_path()
    if not path.exists():
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it in the meantime: read theirs
        except OSError as exc:
            raise InputError(
                f"cannot create the pseudonym key file {path} ({exc.strerror}); set "
                f"{KEY_ENV} to a secret string instead"
            ) from None
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise InputError(
            f"the pseudonym key file {path} is empty; delete it to get a new key, or set {KEY_ENV}"
        )
    return key.encode("utf-8")


def pseudonym(athlete_id: str, key: bytes | None = None) -> str:
    """Return the stable pseudonym of an athlete id.

    Parameters
    ----------
    athlete_id : str
        The athlete's id as recorded (leading/trailing blanks and case are ignored, so
        " A12 " and "a12" give the same pseudonym).
    key : bytes, optional
        Secret key; default :func:`pseudonym_key`.

    Returns
    -------
    str
        ``"P-"`` followed by 10 lowercase hex digits.
    """
    text = str(athlete_id).strip().casefold()
    if not text:
        return PSEUDONYM_PREFIX + "unknown"
    digest = hmac.new(key if key is not None else pseudonym_key(), text.encode("utf-8"),
                      hashlib.sha256).hexdigest()
    return PSEUDONYM_PREFIX + digest[:10]


def anonymize_athlete(athlete: dict[str, Any], key: bytes | None = None,
                      fallback: str = "") -> dict[str, Any]:
    """Return a copy of an athlete record with only :data:`KEPT_ATHLETE_FIELDS` and the id
    pseudonymised (from the id, else the name, else ``fallback``, e.g. the input file name)."""
    out = {k: v for k, v in dict(athlete).items() if k.lower() in KEPT_ATHLETE_FIELDS}
    raw_id = (athlete.get("id") or athlete.get("athlete_id") or athlete.get("name")
              or fallback or "")
    out["id"] = pseudonym(str(raw_id), key)
    return out


def keep_fields(record: dict[str, Any], kept: tuple[str, ...]) -> dict[str, Any]:
    """Return a copy of ``record`` with only the fields named in ``kept``."""
    return {k: v for k, v in dict(record).items() if k.lower() in kept}
