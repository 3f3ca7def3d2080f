"""Text lines of DIY load-cell boards -> numbers (pure, no I/O).

What the usual sketches print, and how a :class:`LineFormat` reads it:

==============================  =============================================================
line                            format and fields
==============================  =============================================================
``12.3``                        ``ws`` (default): one value, the force
``Reading: 12.3 kg``            ``regex``, ``pattern=Reading:\\s*(?P<force>\\S+)``
``Scale0,Scale1,Scale2,Scale3`` ``csv``: the header names the four cells; then
``-812.5,1042.2,998.1,-12.0``   four values per line
``time_ms,force_N``             ``csv``: the header names a time column and the force
``{"w": 123456}``               ``json``, ``keys=w``
==============================  =============================================================

Fields are named by ``columns=`` (csv, ws: one name per field, in order), ``keys=`` (json: the
keys to read) or the named groups of ``pattern=`` (regex). Without ``columns=``, a CSV header
names them, and a header-less line of 1 field is the force, of 4 fields the cells. Each name says
its role, either by itself (``t_ms``/``time_ms``/``millis`` time in ms, ``t_s``/``time`` time in
s, ``t_us``/``micros`` time in µs, ``force``/``fz``/``w``/``weight``/``load``/... the force, a
name ending in a digit such as ``c0`` or ``Scale2`` a cell, ``_`` or ``-`` ignored) or as
``name:role`` with role ``t_ms``, ``t_s``, ``t_us``, ``force``, ``cell`` or ``skip``.

:meth:`LineFormat.parse` returns a :class:`Parsed` line: a header, data (time and values) or a
bad line with the reason; bad lines are never turned into samples.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass

ROLE_TIME_MS = "t_ms"
ROLE_TIME_S = "t_s"
ROLE_TIME_US = "t_us"
ROLE_FORCE = "force"
ROLE_CELL = "cell"
ROLE_SKIP = "skip"
TIME_ROLES = {ROLE_TIME_MS: 1e-3, ROLE_TIME_S: 1.0, ROLE_TIME_US: 1e-6}
ROLES = (*TIME_ROLES, ROLE_FORCE, ROLE_CELL, ROLE_SKIP)
FORMATS = ("csv", "ws", "json", "regex")

_TIME_NAMES = {
    ROLE_TIME_MS: ("t_ms", "time_ms", "millis", "ms", "timestamp_ms", "time[ms]"),
    ROLE_TIME_S: ("t_s", "t", "time", "time_s", "seconds", "timestamp", "time[s]"),
    ROLE_TIME_US: ("t_us", "time_us", "micros", "us"),
}
_FORCE_NAMES = ("force", "fz", "f", "w", "weight", "load", "reading", "value", "total", "kg",
                "n", "grams", "g")


def role_of(name: str) -> str:
    """The role a field name says by itself (see the module docstring).

    Raises
    ------
    ValueError
        The name does not say it; the message shows how to name the role.
    """
    raw = name.strip()
    if ":" in raw:
        field, _, role = raw.rpartition(":")
        role = role.strip().lower()
        if role not in ROLES:
            raise ValueError(f"field {field!r}: role {role!r} is not one of {', '.join(ROLES)}")
        return role
    n = raw.lower()
    if n in ("_", "-", "skip"):
        return ROLE_SKIP
    for role, names in _TIME_NAMES.items():
        if n in names:
            return role
    base = re.sub(r"[\s_\-]*\[?\(?(n|kg|g|newtons?)\)?\]?$", "", n)
    if n in _FORCE_NAMES or base in _FORCE_NAMES or "force" in n or "weight" in n:
        return ROLE_FORCE
    if re.search(r"\d$", n) or n in ("tl", "tr", "bl", "br"):
        return ROLE_CELL
    raise ValueError(f"field {name!r}: say what it is, e.g. {name}:force, {name}:cell, "
                     f"{name}:t_ms or {name}:skip")


def field_name(spec: str) -> str:
    """``"w:force"`` -> ``"w"``; ``"c0"`` -> ``"c0"``."""
    return spec.rpartition(":")[0].strip() if ":" in spec else spec.strip()


@dataclass
class Parsed:
    """One parsed line: ``kind`` is ``"data"``, ``"header"``, ``"empty"`` or ``"bad"``;
    ``t`` the time in s (None without a time field), ``values`` the force or cell values in the
    board's units, ``reason`` why a line is bad."""

    kind: str
    t: float | None = None
    values: tuple[float, ...] = ()
    reason: str = ""


class LineFormat:
    """How to read one board's lines.

    Parameters
    ----------
    fmt : {"csv", "ws", "json", "regex"}
    columns : list of str, optional
        Field names (csv, ws) or keys (json), each maybe ``name:role``.
    pattern : str, optional
        Regular expression with named groups (regex).

    Attributes
    ----------
    names : list of str or None
        Field names in use (None until a header or the first line decides them).
    roles : list of str or None
        Role of each name.
    """

    MAX_LINE = 512

    def __init__(self, fmt: str, columns: list[str] | None = None,
                 pattern: str | None = None) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}: choose one of {', '.join(FORMATS)}")
        self.fmt = fmt
        self.regex: re.Pattern[str] | None = None
        specs = list(columns or [])
        if fmt == "regex":
            if not pattern:
                raise ValueError("format=regex needs pattern=... with named groups, e.g. "
                                 "pattern=Reading:\\s*(?P<force>\\S+)")
            try:
                self.regex = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") \
                    from None
            groups = list(self.regex.groupindex)
            if not groups:
                raise ValueError(f"pattern {pattern!r} has no named group such as (?P<force>...)")
            specs = specs or groups
        self.names: list[str] | None = None
        self.roles: list[str] | None = None
        if specs:
            self._set_fields(specs)

    def _set_fields(self, specs: list[str]) -> None:
        roles = [role_of(s) for s in specs]
        names = [field_name(s) for s in specs]
        value_roles = [r for r in roles if r in (ROLE_FORCE, ROLE_CELL)]
        if not value_roles:
            raise ValueError(f"fields {', '.join(names)}: none is a force or a cell")
        if ROLE_FORCE in value_roles and ROLE_CELL in value_roles:
            raise ValueError("name either one force field or the cells, not both")
        if value_roles.count(ROLE_FORCE) > 1:
            raise ValueError("more than one force field; name the others :skip")
        if sum(r in TIME_ROLES for r in roles) > 1:
            raise ValueError("more than one time field; name the others :skip")
        if self.regex is not None:
            missing = [n for n in names if n not in self.regex.groupindex]
            if missing:
                raise ValueError(f"pattern has no group named {', '.join(missing)}")
        self.names, self.roles = names, roles

    @property
    def decided(self) -> bool:
        """True once the fields are known (given, from a header or from the first line)."""
        return self.roles is not None

    @property
    def value_roles(self) -> list[str]:
        """Roles of the values :meth:`parse` returns, in order (``force`` or ``cell``...)."""
        return [r for r in self.roles or [] if r in (ROLE_FORCE, ROLE_CELL)]

    @property
    def has_time(self) -> bool:
        """True when a field carries the board's time."""
        return any(r in TIME_ROLES for r in self.roles or [])

    def parse(self, line: str) -> Parsed:
        """Parse one line (without its line end)."""
        text = line.strip()
        if not text:
            return Parsed("empty")
        if len(text) > self.MAX_LINE:
            return Parsed("bad", reason="line too long")
        if self.fmt == "json":
            return self._parse_json(text)
        if self.fmt == "regex":
            m = self.regex.search(text)
            if m is None:
                return Parsed("bad", reason="no match")
            if self.roles is None:
                self._set_fields(list(self.regex.groupindex))
            return self._values([m.group(n) for n in self.names])
        fields = [f.strip() for f in text.split(",")] if self.fmt == "csv" else text.split()
        if self.roles is None:
            if all(_is_number(f) for f in fields):
                if len(fields) == 1:
                    self._set_fields(["force"])
                elif len(fields) == 4:
                    self._set_fields(["c0", "c1", "c2", "c3"])
                else:
                    return Parsed("bad", reason=f"{len(fields)} fields and no header: name "
                                                "them with columns=")
            else:
                try:
                    self._set_fields(fields)
                except ValueError as exc:
                    return Parsed("bad", reason=f"header: {exc}")
                return Parsed("header")
        if not any(_is_number(f) for f in fields):
            # a header again (the board restarted) or a message of the sketch
            return Parsed("header") if len(fields) == len(self.names) and self.fmt == "csv" \
                else Parsed("bad", reason="text")
        if len(fields) != len(self.names):
            return Parsed("bad", reason=f"{len(fields)} fields, not {len(self.names)}")
        return self._values(fields)

    def _parse_json(self, text: str) -> Parsed:
        try:
            obj = json.loads(text)
        except ValueError:
            return Parsed("bad", reason="not JSON")
        if not isinstance(obj, dict):
            return Parsed("bad", reason="not a JSON object")
        if self.roles is None:
            keys = [k for k, v in obj.items() if isinstance(v, (int, float))
                    and not isinstance(v, bool)]
            if len(keys) != 1:
                return Parsed("bad", reason="name the JSON keys with keys=")
            self._set_fields([f"{keys[0]}:force"])
        if any(n not in obj for n in self.names):
            return Parsed("bad", reason="key missing")
        return self._values([obj[n] for n in self.names])

    def _values(self, raw: list[object]) -> Parsed:
        t = None
        values = []
        for v, role in zip(raw, self.roles, strict=True):
            if role == ROLE_SKIP:
                continue
            if isinstance(v, bool):
                return Parsed("bad", reason="not a number")
            try:
                x = float(v)  # str, int or float
            except (TypeError, ValueError):
                return Parsed("bad", reason="not a number")
            if not math.isfinite(x):
                return Parsed("bad", reason="not finite")
            if role in TIME_ROLES:
                t = x * TIME_ROLES[role]
            else:
                values.append(x)
        return Parsed("data", t, tuple(values))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
