"""The exception tree of forcelab's own rooms (drivers keep theirs in forcelab.drivers.errors).

Every message tells the user what is wrong and what to do; the CLI prints it as one line.
"""


class ForcelabError(Exception):
    """Base of every error forcelab reports to a user (never a programming error)."""


class InputError(ForcelabError, ValueError):
    """A parameter makes no sense (body mass 0, rate -5, unknown column, ...)."""


class FileFormatError(ForcelabError):
    """A recording file cannot be read: unknown format, malformed content, missing columns."""


class AnalysisError(ForcelabError):
    """The data cannot be analysed as asked (no stances, no usable signal, ...)."""


class SessionFileError(ForcelabError):
    """A session file is damaged, foreign, of a newer schema, or cannot be written."""


class ExportError(ForcelabError):
    """A trial cannot be exported in the requested format."""
