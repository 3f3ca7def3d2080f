"""The reconnecting serial device every serial driver (FPB1, INS1, CSV4, serial lines) is built on.

A :class:`SerialDevice` owns one :class:`~forcelab.drivers.transport.Transport`. When the link
goes away (unplug, switched off, pty closed) the driver calls :meth:`SerialDevice._on_lost`: the
device remembers the loss, queues an ``unplug`` event and closes the port. While the link is
down, :meth:`SerialDevice._reconnect_if_due` (called by ``read``) tries at most every
``reconnect_interval_s`` to reopen the device: first on its old path, then on every real or
simulated port reporting the same serial number (a replugged device may come back elsewhere).
For each candidate port the base opens a fresh transport and calls the protocol's
:meth:`SerialDevice._reattach` hook, which runs that protocol's handshake in its own order (INS1
clears the lost-link state before resuming its commands, CSV4 after its handshake, FPB1 before
its commands) and raises :class:`~forcelab.drivers.errors.DeviceError` when the port holds
another device or does not answer. On success the base records the new port, counts the
reconnect and queues a ``replug`` event.
"""

from __future__ import annotations

import abc
import time
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

from forcelab.drivers.base import Device, DeviceEvent, DeviceInfo, LinkStats
from forcelab.drivers.discovery import ports_for_serial
from forcelab.drivers.errors import ConnectionLost, DeviceError
from forcelab.drivers.transport import Transport, wait_for_port

_D = TypeVar("_D", bound="SerialDevice")

RECONNECT_INTERVAL_S = 0.25
"""How often a device whose link is down looks for its port again (s), by default."""


class SerialDevice(Device):
    """A :class:`~forcelab.drivers.base.Device` on a serial link that reconnects by serial
    number after an unplug.

    Subclasses call :meth:`_init_link` first in ``__init__`` and :meth:`_connect` (open the port,
    run :meth:`_handshake`) last; they implement :meth:`_handshake`, :meth:`_stop_quickly` and
    :meth:`_reattach`, call :meth:`_before_read` first in ``read`` (or do its work under their own
    lock, as FPB1 does) and :meth:`_on_lost` when the transport raises ConnectionLost, and
    override :meth:`_event_seq` (the sequence number unplug/replug events refer to).
    """

    #: What the messages call this kind of device ("FPB1 plate", "CSV4 plate").
    kind_label = "serial device"
    #: How the device is recognised after a replug, for the messages ("serial number").
    identified_by = "serial number"
    #: Device-string scheme of :meth:`from_url` (``"csv4"``).
    scheme = ""
    #: Options of :meth:`from_url`: option -> (``__init__`` keyword, converter).
    url_options: dict[str, tuple[str, Callable[[Any], Any]]] = {}

    info: DeviceInfo
    stats: LinkStats
    _streaming: bool
    port: str
    baudrate: int
    reconnect_interval_s: float
    _transport: Transport

    @classmethod
    def from_url(cls: type[_D], port_url: str, **opts: Any) -> _D:
        """Open one device from ``SCHEME:///dev/ttyUSB0?option=value`` (or a bare port path);
        keyword ``opts`` join the query. The options are the class's :attr:`url_options`.

        Raises
        ------
        DeviceNotFound
            The port does not exist.
        ProtocolError
            The port answers, but not as this kind of device.
        DeviceError
            An option is not valid.
        """
        path, query = split_port_url(cls.scheme, port_url)
        kw = convert_options(cls.scheme.upper(), {**query, **opts}, cls.url_options, "is not valid")
        return cls(path, **kw)

    def _init_link(self, port: str, baudrate: int, reconnect_interval_s: float) -> None:
        """Set the link state every serial device has (before anything can fail)."""
        self.port = port
        self.baudrate = int(baudrate)
        self.reconnect_interval_s = float(reconnect_interval_s)
        self._events: list[DeviceEvent] = []
        self._lost: ConnectionLost | None = None
        self._raise_pending: ConnectionLost | None = None
        self._closed = False
        self._last_reconnect_try = 0.0
        self._last_reconnect_error: Exception | None = None

    def _open_transport(self) -> None:
        """Open :attr:`port` (raises DeviceNotFound when it does not exist)."""
        self._transport = Transport.open(self.port, baudrate=self.baudrate)

    # -- state ---------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """False while the link is lost (unplugged) or after close()."""
        return not self._closed and self._lost is None

    @property
    def label(self) -> str:
        """The device in messages: its kind and serial number."""
        info = getattr(self, "info", None)
        return f"{self.kind_label} {info.serial}" if info is not None else self.kind_label

    def _event_seq(self) -> int:
        """Sequence number of the next sample (what unplug/replug events refer to)."""
        return -1

    def _guard(self) -> None:
        """Raise when the device is closed (DeviceError) or its link is down (ConnectionLost)."""
        if self._closed:
            raise DeviceError(f"{self.kind_label} on {self.port} is closed")
        if self._lost is not None:
            raise self._lost

    def _on_lost(self, exc: ConnectionLost) -> ConnectionLost:
        """The link went away: remember it, queue an ``unplug`` event, release the port.

        Returns the ConnectionLost to raise (its message tells the user what to do).
        """
        self._lost = ConnectionLost(
            f"{self.label} on {self.port}: connection lost ({exc}). Plug it back in; "
            f"forcelab reconnects by {self.identified_by}."
        )
        self._events.append(DeviceEvent("unplug", self._event_seq(), time.time(), 0,
                                        str(self._lost)))
        self._transport.close()
        return self._lost

    # -- open, read, close -----------------------------------------------------------------
    @abc.abstractmethod
    def _handshake(self) -> None:
        """Bring the freshly opened device into a known state (stopped, identified)."""

    @abc.abstractmethod
    def _stop_quickly(self) -> None:
        """Send the protocol's STOP with a short timeout (used by close())."""

    def _connect(self) -> None:
        """Open the port and run the handshake; the port is released again when it fails."""
        self._open_transport()
        try:
            self._handshake()
        except BaseException:
            self._transport.close()
            raise

    def _before_read(self) -> None:
        """What every ``read`` does first: raise the loss held back while the Blocks received
        before it were handed out, refuse a closed device, try to reconnect a lost one.

        Raises
        ------
        ConnectionLost
            The link is (still) down.
        DeviceError
            The device is closed.
        """
        if self._raise_pending is not None:
            exc, self._raise_pending = self._raise_pending, None
            raise exc
        if self._closed:
            raise DeviceError(f"{self.kind_label} on {self.port} is closed")
        if self._lost is not None:
            self._reconnect_if_due()

    def close(self) -> None:
        """Stop streaming (if the link is up) and release the port; safe to call twice."""
        if self._closed:
            return
        if self._lost is None and self._streaming:
            try:
                self._stop_quickly()
            except DeviceError:
                pass
        self._streaming = False
        self._closed = True
        self._transport.close()

    # -- reconnect -----------------------------------------------------------------------
    @abc.abstractmethod
    def _reattach(self, path: str) -> None:
        """Run the protocol's handshake on the freshly opened transport at ``path`` and resume
        what was running; clear ``self._lost`` at the point the protocol needs it cleared.

        Raises
        ------
        DeviceError
            Another device answers on ``path``, or none does.
        """

    def _reconnect_once(self) -> bool:
        """One pass over the candidate ports (old path, then any with the same serial)."""
        lost = self._lost
        for path in ports_for_serial(self.info.serial, self.port):
            if not wait_for_port(path, 0.0):
                continue
            self._transport.close()
            try:
                self._transport = Transport.open(path, baudrate=self.baudrate)
                self._reattach(path)
            except DeviceError as exc:  # ConnectionLost and ProtocolError included
                self._transport.close()
                self._lost = self._lost or lost
                self._last_reconnect_error = exc
                continue
            self._lost = None
            self.port = path
            self.info.extra["port"] = path
            self.stats.reconnects += 1
            self._events.append(DeviceEvent("replug", self._event_seq(), time.time(), 0,
                                            f"{self.label} reconnected on {path}"))
            return True
        return False

    def _reconnect_if_due(self) -> None:
        """While the link is down: try to reconnect (at most every ``reconnect_interval_s``).

        Raises
        ------
        ConnectionLost
            The link is still down.
        """
        if self._lost is None:
            return
        now = time.monotonic()
        if now - self._last_reconnect_try < self.reconnect_interval_s:
            raise self._lost
        self._last_reconnect_try = now
        if not self._reconnect_once():
            raise self._lost

    def _reconnect_within(self, timeout_s: float) -> bool:
        """Try to reconnect until ``timeout_s`` s pass; True once the link is up again."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self._lost is None or self._reconnect_once():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def open_all(ports: list[str], open_one: Callable[[str], Device]) -> list[Device]:
    """Open one device per port; when one fails, close those already open and re-raise."""
    devices: list[Device] = []
    try:
        for port in ports:
            devices.append(open_one(port))
    except BaseException:
        for d in devices:
            d.close()
        raise
    return devices


def split_ports(target: str) -> list[str]:
    """The comma-separated ports of a registry target (``/dev/ttyA,/dev/ttyB``)."""
    return [p for p in target.split(",") if p]


def split_port_url(scheme: str, port_url: str) -> tuple[str, dict[str, str]]:
    """``ins1:///dev/ttyUSB0?rate=200`` -> ``("/dev/ttyUSB0", {"rate": "200"})``.

    A pyserial URL (``socket://``, ``loop://``) keeps its own query and gets no options.
    """
    url = port_url
    if url.lower().startswith(f"{scheme}://"):
        url = url[len(scheme) + 3:]
    path, _, query = url.partition("?")
    if "://" in path:
        return url, {}
    return path, dict(urllib.parse.parse_qsl(query))


def convert_options(protocol: str, options: dict[str, Any],
                    conv: dict[str, tuple[str, Callable[[Any], Any]]],
                    problem: str) -> dict[str, Any]:
    """Device-string options -> constructor keywords through ``conv`` (option -> (keyword,
    converter)).

    Raises
    ------
    DeviceError
        An unknown option, or a value the converter refuses (``problem`` says why).
    """
    kw: dict[str, Any] = {}
    for key, value in options.items():
        if key not in conv:
            raise DeviceError(
                f"unknown option {key!r} for {protocol} devices; valid: {', '.join(sorted(conv))}"
            )
        name, fn = conv[key]
        try:
            kw[name] = fn(value)
        except (TypeError, ValueError):
            raise DeviceError(f"{protocol}: option {key}={value!r} {problem}") from None
    return kw
