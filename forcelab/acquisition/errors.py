"""Exceptions of the acquisition room (session controller, recorder, live analyser).

All derive from :class:`forcelab.errors.ForcelabError`, so the CLI prints them as one line.
"""

from __future__ import annotations

from forcelab.errors import ForcelabError


class AcquisitionError(ForcelabError):
    """Recording cannot go on as asked (devices failed, file not writable, ...)."""


class StateError(AcquisitionError):
    """The session controller cannot do this in its current state (e.g. stop before record)."""


class NotStillError(AcquisitionError):
    """Body weight was not measured because the athlete moved (or stepped off) during the window."""


class TareRefusedError(AcquisitionError):
    """A tare was refused because a sensor is loaded or moving (the zero would be wrong)."""
