"""Byte transport under every driver: a thin wrapper around pyserial's ``serial_for_url``.

Contract (shared by the FPB1, INS1 and CSV4 drivers)
---------------------------------------------------
- ``Transport.open(url, baudrate=...)`` opens a real port (``/dev/ttyACM0``, ``COM3``), a
  simulated pty (its symlink path), ``socket://host:port`` or ``loop://``. A port that does not
  exist raises :class:`~forcelab.drivers.errors.DeviceNotFound`.
- ``read(timeout_s)`` returns the bytes available now; when none are, it waits up to
  ``timeout_s`` for the first byte and then returns everything available (never blocks longer).
  ``read(timeout_s, gather=True)`` (a streaming device) takes a block of frames per call, one
  wake-up, instead of one frame: it sleeps until ``STREAM_GATHER_S`` after the previous take
  (or, after a quiet spell, that long after the first byte) and takes everything waiting; a
  vanished port is still reported by that call (at most ``STREAM_GATHER_S`` later).
- ``write(data)`` writes all bytes.
- Any pyserial ``SerialException`` and any bare ``OSError`` (EIO from ``in_waiting`` after an
  unplug) become :class:`~forcelab.drivers.errors.ConnectionLost`; after that the transport is
  closed and every further call raises ConnectionLost again.
- ``close()`` is idempotent.
- :func:`wait_for_port` polls until a path exists again (used for reconnecting after a replug).

The port is configured once at open and never reconfigured afterwards (changing a pyserial
setting re-applies termios, which simulated devices interpret as a new open).
"""

from __future__ import annotations

import os
import select
import termios
import time

import serial
from forcelab.drivers._frames import read_waiting
from forcelab.drivers.errors import ConnectionLost, DeviceNotFound

#: What a vanished port raises: pyserial's SerialException, a bare OSError (EIO from
#: in_waiting) and termios.error (tcdrain/tcflush on a pty whose master is gone).
_LINK_ERRORS = (serial.SerialException, OSError, termios.error)

#: Bytes read per call at most (keeps one read call bounded in time and memory).
MAX_READ_BYTES = 1 << 20


class Transport:
    """An open byte link to a device.

    Parameters
    ----------
    port : serial.SerialBase
        An open pyserial port object (use :meth:`open` to create one from a URL).
    url : str
        What was opened, for messages.
    """

    def __init__(self, port: serial.SerialBase, url: str) -> None:
        self._port = port
        self.url = url
        self._closed = False
        self._lost: str | None = None
        self._last_take = 0.0  # time.monotonic() of the last read that returned bytes
        try:
            self._fd: int | None = port.fileno()
        except Exception:  # loop://, socket:// and others have no usable fd
            self._fd = None

    @classmethod
    def open(cls, url: str, *, baudrate: int = 115200, timeout_s: float = 0.05) -> Transport:
        """Open ``url`` (a device path, a pty symlink, ``socket://``, ``loop://``).

        Parameters
        ----------
        url : str
            Port path or pyserial URL.
        baudrate : int
            Line rate in bit/s (ignored by USB-CDC devices and ptys).
        timeout_s : float
            Read timeout used by URL transports without a file descriptor, in s.

        Raises
        ------
        DeviceNotFound
            The port does not exist or cannot be opened.
        """
        try:
            port = serial.serial_for_url(
                url, baudrate=baudrate, timeout=timeout_s, write_timeout=2.0, exclusive=True
            )
        except (serial.SerialException, OSError, ValueError, termios.error) as exc:
            raise DeviceNotFound(
                f"cannot open serial port {url!r}: {exc}. Check the cable and the port name "
                f"(`forcelab devices` lists the ports)"
            ) from exc
        except TypeError:
            # Some URL handlers (loop://, socket://) do not accept ``exclusive``.
            try:
                port = serial.serial_for_url(
                    url, baudrate=baudrate, timeout=timeout_s, write_timeout=2.0
                )
            except (serial.SerialException, OSError, ValueError, termios.error) as exc:
                raise DeviceNotFound(f"cannot open serial port {url!r}: {exc}") from exc
        return cls(port, url)

    # -- state ---------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        """True until the link is closed or lost."""
        return not self._closed and self._lost is None

    @property
    def serial(self) -> serial.SerialBase:
        """The underlying pyserial object (for tests and special settings)."""
        return self._port

    def _raise_lost(self, exc: BaseException | None, what: str) -> None:
        if self._lost is None:
            detail = f": {exc}" if exc is not None else ""
            self._lost = f"serial link {self.url!r} lost during {what}{detail}"
            try:
                self._port.close()
            except Exception:  # noqa: BLE001 - the port is already gone
                pass
        raise ConnectionLost(
            f"{self._lost}. The device was unplugged or switched off; plug it back in and "
            f"reconnect"
        ) from exc

    def _check(self, what: str) -> None:
        if self._lost is not None:
            self._raise_lost(None, what)
        if self._closed:
            raise ConnectionLost(f"serial link {self.url!r} is closed")

    # -- I/O -----------------------------------------------------------------------------
    def in_waiting(self) -> int:
        """Number of bytes waiting to be read."""
        self._check("in_waiting")
        try:
            return int(self._port.in_waiting)
        except _LINK_ERRORS as exc:
            self._raise_lost(exc, "in_waiting")
        return 0  # pragma: no cover - _raise_lost always raises

    #: The block period of a streaming read, in s: one wake-up takes the frames of that time at
    #: once (see ``read(gather=True)``); the same for every streaming serial driver. It bounds
    #: how long a sample waits on the host before its Block is handed out (live feedback needs
    #: a cue within 50 ms of the toe-off, so the port-to-Block latency must stay near 20 ms),
    #: and what an unplug may lose besides the frames in the cable (FPB1 at 2 kHz sends a
    #: frame every 4 ms; 15 ms of its frames are 1 kB, well inside a serial port's 4 kB buffer).
    STREAM_GATHER_S = 0.015

    def read(self, timeout_s: float = 0.0, gather: bool = False) -> bytes:
        """Return the bytes available, waiting up to ``timeout_s`` s for the first one.

        Parameters
        ----------
        timeout_s : float
            Longest wait for the first byte, in s.
        gather : bool
            A streaming device (the call may wait, ``timeout_s`` > 0): one wake-up per block of
            frames, ``STREAM_GATHER_S`` long. While the stream keeps coming, the call sleeps
            until that long after the previous take and takes what is waiting; after a quiet
            spell (and always on a URL transport without a file descriptor, ``socket://``) it
            waits for the first byte and then ``STREAM_GATHER_S`` more. No byte waits on the
            host longer than that (plus the caller's own work); bytes waiting in the
            port's buffer are lost by an unplug like the ones in the cable. False returns at
            once: command replies, whose arrival time the clock fit needs. A poll
            (``timeout_s`` = 0) never waits.

        Raises
        ------
        ConnectionLost
            The port vanished (unplugged device, closed pty) or reported an I/O error.
        """
        self._check("read")
        port = self._port
        try:
            if self._fd is not None:
                gather_s = self.STREAM_GATHER_S if gather and timeout_s > 0 else 0.0
                if gather_s > 0:
                    since_s = time.monotonic() - self._last_take
                    if since_s < gather_s:
                        # A stream that keeps coming: sleep out the rest of the block period
                        # since the last take; its bytes are then waiting (one wake-up).
                        rest_s = min(gather_s - since_s, timeout_s)
                        time.sleep(rest_s)
                        timeout_s -= rest_s
                    if since_s < 2 * gather_s:
                        # Take what is waiting straight away (the port is non-blocking): one
                        # syscall, no select first. Nothing there (EAGAIN, or no bytes: a
                        # terminal with VMIN = 0) goes on to the select below, which also
                        # tells a port that hung up (readable, yet no bytes) in this call.
                        data = self._read_now()
                        if data:
                            return data
                # One select + one read syscall: wait for the first byte.
                r, _, _ = select.select([self._fd], [], [], max(timeout_s, 0.0))
                if not r:
                    return b""
                if gather_s > 0:
                    time.sleep(gather_s)  # the first byte of a block: gather the rest
                try:
                    data = os.read(self._fd, MAX_READ_BYTES)
                except (BlockingIOError, InterruptedError):
                    return b""  # spurious wake-up: nothing to read after all
                if not data:
                    # Readable but end of file: the other side hung up.
                    raise serial.SerialException("device reports readiness but returned no data")
                self._last_take = time.monotonic()
                return data
            n = port.in_waiting
            if n == 0 and timeout_s > 0:
                first = port.read(1)
                if first and gather and self.STREAM_GATHER_S > 0:
                    time.sleep(self.STREAM_GATHER_S)  # timeout_s > 0 here
                return first + self._read_rest(port)
            if n == 0:
                return b""
            return port.read(min(n, MAX_READ_BYTES))
        except _LINK_ERRORS as exc:
            self._raise_lost(exc, "read")
        return b""  # pragma: no cover

    def _read_now(self) -> bytes:
        """One non-blocking read of the port's file descriptor, the GIL kept: the bytes waiting,
        or b"" when none are (a port that went away raises OSError here, or reads as empty:
        the select of the caller tells that apart)."""
        data = read_waiting(self._fd, MAX_READ_BYTES)  # type: ignore[arg-type]
        if data:
            self._last_take = time.monotonic()
        return data

    @staticmethod
    def _read_rest(port: serial.SerialBase) -> bytes:
        n = port.in_waiting
        return port.read(min(n, MAX_READ_BYTES)) if n else b""

    def write(self, data: bytes) -> None:
        """Write all of ``data``.

        Raises
        ------
        ConnectionLost
            The port vanished or the write timed out (device not reading).
        """
        self._check("write")
        try:
            self._port.write(data)
            self._port.flush()
        except _LINK_ERRORS as exc:
            self._raise_lost(exc, "write")

    def reset_input(self) -> None:
        """Discard bytes received but not read yet."""
        self._check("reset_input")
        try:
            self._port.reset_input_buffer()
        except _LINK_ERRORS as exc:
            self._raise_lost(exc, "reset_input")

    def close(self) -> None:
        """Close the port; safe to call twice and after a loss."""
        if self._closed:
            return
        self._closed = True
        try:
            self._port.close()
        except Exception:  # noqa: BLE001 - closing a vanished port may fail; nothing to do
            pass

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wait_for_port(path: str, timeout_s: float, poll_s: float = 0.05) -> bool:
    """Wait until the device path ``path`` exists (a replugged device re-appears).

    Parameters
    ----------
    path : str
        Device path or symlink (URLs with ``://`` are considered always present).
    timeout_s : float
        How long to wait, in s.
    poll_s : float
        Polling interval, in s.

    Returns
    -------
    bool
        True when the path exists within the timeout.
    """
    if "://" in path:
        return True
    deadline = time.monotonic() + timeout_s
    while True:
        if os.path.exists(path):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll_s)
