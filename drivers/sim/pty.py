"""Simulated serial ports: a real pseudo-terminal behind a stable name.

Contract (used by every simulator)
----------------------------------
``SimPort(name, description=..., vid=..., pid=..., serial_number=...)`` then ``.open()``:

- ``os.openpty()``, ``tty.setraw(slave)`` at once (otherwise the line discipline mangles bytes),
  master non-blocking; the simulator keeps its own slave fd open so the master never sees a
  hang-up when a driver closes the port.
- ``.device`` is a stable symlink ``/tmp/forcelab-sim-<uid>/<name>`` to the pty slave; drivers
  open that path like any serial port. A JSON record beside it (``<name>.json``: device,
  description, hwid ``USB VID:PID=vvvv:pppp SER=...``, serial_number, pid of the owning process)
  is what discovery lists (:func:`list_sim_ports`), also from other processes.
- ``.write(data) -> bool`` queues bytes towards the driver without blocking; False when more than
  ``max_pending`` bytes are queued (the driver is not reading: a device would overflow).
  ``.pump()`` pushes queued bytes into the pty, ``.read() -> bytes`` returns what the driver sent.
- ``.poll_opened() -> bool`` is True once after a driver opened (configured) the port: the slave
  is parked at an unusual line speed and pyserial sets its own on open. Used for Arduino-style
  auto-reset on open.
- ``.unplug()`` closes the master (and the simulator's slave): pyserial then raises
  SerialException on read/write and ``in_waiting`` raises OSError(EIO); the symlink and record
  vanish like a /dev node. ``.replug()`` makes a new pty under the same symlink name.
  ``.take_unread() -> int`` (called just before an unplug) discards and counts what the driver
  has not read yet, including bytes the kernel holds between master and slave.
- ``.close()`` removes everything; idempotent.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import termios
import tty
from pathlib import Path
from typing import Any

#: Line speed the slave is parked at, so that a driver's open (which sets its own) is visible.
_PARK_SPEED = termios.B50


#: Names of the simulated ports this process runs.
_LIVE_NAMES: set[str] = set()


def _claim(name: str) -> int | None:
    """Take the name ``name`` in the sim folder: an exclusive lock on ``.<name>.lock`` (held
    until the fd is closed, released by the kernel when the owner dies). Returns the fd, or
    None when another port (any process) holds it. Checking a record and then writing one is
    not atomic: two processes sharing the folder could both take a free name."""
    fd = os.open(sim_dir() / f".{name}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def name_in_use(name: str) -> bool:
    """True when a running simulated port (any process of this user) is called ``name``."""
    if name in _LIVE_NAMES:
        return True
    fd = _claim(name)
    if fd is None:
        return True
    os.close(fd)
    rec = _read_record(sim_dir() / f"{name}.json")
    return rec is not None and _pid_alive(int(rec.get("owner_pid", -1)))


def free_name(base: str) -> str:
    """``base`` or ``base-2``, ``base-3``... whichever no running simulated port uses."""
    name, k = base, 1
    while name_in_use(name):
        k += 1
        name = f"{base}-{k}"
    return name


def sim_dir() -> Path:
    """The folder holding the symlinks and records of simulated ports of this user."""
    d = Path(os.environ.get("FORCELAB_SIM_DIR", f"/tmp/forcelab-sim-{os.getuid()}"))
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    return d


class SimPort:
    """One simulated serial port (a pty with a stable symlink).

    Parameters
    ----------
    name : str
        Symlink name, unique among running simulated ports (e.g. ``"fpb1-left"``).
    description : str
        Human-readable description shown by discovery.
    vid, pid : int
        USB vendor and product id shown in ``hwid``.
    serial_number : str
        Device serial number (discovery and reconnect-by-serial use it).
    max_pending : int
        Bytes that may wait for the driver before :meth:`write` refuses more.
    """

    def __init__(
        self,
        name: str,
        *,
        description: str = "forcelab simulated device",
        vid: int = 0x1209,
        pid: int = 0xF0CE,
        serial_number: str = "",
        max_pending: int = 256 * 1024,
    ) -> None:
        if not name or "/" in name or name.startswith("."):
            raise ValueError(f"bad simulated port name {name!r}")
        self.name = name
        self.description = description
        self.vid = vid
        self.pid = pid
        self.serial_number = serial_number
        self.max_pending = max_pending
        self._master: int | None = None
        self._slave: int | None = None
        self._claim_fd: int | None = None
        self._pending = bytearray()
        self.plugged = False
        self.slave_path = ""
        self.bytes_written = 0
        self.bytes_read = 0

    # -- names ---------------------------------------------------------------------------
    @property
    def device(self) -> str:
        """Stable path of the port (a symlink to the current pty slave)."""
        return str(sim_dir() / self.name)

    @property
    def hwid(self) -> str:
        """pyserial-style hardware id ``USB VID:PID=vvvv:pppp SER=...``."""
        return f"USB VID:PID={self.vid:04X}:{self.pid:04X} SER={self.serial_number}"

    def record(self) -> dict[str, Any]:
        """The discovery record of this port."""
        return {
            "device": self.device,
            "description": self.description,
            "hwid": self.hwid,
            "serial_number": self.serial_number,
            "vid": self.vid,
            "pid": self.pid,
            "simulated": True,
            "owner_pid": os.getpid(),
            "target": self.slave_path,
        }

    # -- lifecycle -----------------------------------------------------------------------
    def open(self) -> SimPort:
        """Create the pty, its symlink and discovery record; returns self."""
        link = Path(self.device)
        claim = None if self.name in _LIVE_NAMES else _claim(self.name)
        rec = _read_record(link.with_name(link.name + ".json"))
        owner = int(rec.get("owner_pid", -1)) if rec else -1
        if claim is None or (
                (link.is_symlink() or link.exists()) and owner != os.getpid()
                and _pid_alive(owner)):
            if claim is not None:
                os.close(claim)
            raise FileExistsError(
                f"a simulated port named {self.name!r} is already running "
                f"(process {owner if owner > 0 else '?'}); stop it or choose another name"
            )
        self._claim_fd = claim
        try:
            self._plug()
        except BaseException:
            self._release()
            raise
        _LIVE_NAMES.add(self.name)
        return self

    def _release(self) -> None:
        if self._claim_fd is not None:
            os.close(self._claim_fd)
            self._claim_fd = None

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[4] = attrs[5] = _PARK_SPEED
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        os.set_blocking(slave, False)  # only this end (the driver opens its own): take_unread
        self._master, self._slave = master, slave
        self.slave_path = os.ttyname(slave)
        link = Path(self.device)
        tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        if tmp.is_symlink():
            tmp.unlink()
        os.symlink(self.slave_path, tmp)
        os.replace(tmp, link)
        rec = link.with_name(link.name + ".json")
        tmp_rec = rec.with_name(f".{rec.name}.{os.getpid()}.tmp")
        tmp_rec.write_text(json.dumps(self.record()))
        os.replace(tmp_rec, rec)
        self._pending.clear()
        self.plugged = True

    def _unlink(self) -> None:
        link = Path(self.device)
        for p in (link, link.with_name(link.name + ".json")):
            try:
                if p.is_symlink() or p.exists():
                    p.unlink()
            except FileNotFoundError:
                pass

    def _close_fds(self) -> None:
        for fd in (self._master, self._slave):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._master = self._slave = None
        self.plugged = False

    def unplug(self) -> None:
        """Pull the cable: the pty disappears, the driver's next read/in_waiting fails."""
        if not self.plugged:
            return
        self._unlink()
        self._close_fds()
        self._pending.clear()

    def replug(self) -> None:
        """Plug the cable back in: a new pty under the same symlink name."""
        if self.plugged:
            return
        self._plug()

    def close(self) -> None:
        """Remove the port for good (idempotent)."""
        if self.plugged:
            self._unlink()
        self._close_fds()
        if self._claim_fd is not None:
            self._release()
            _LIVE_NAMES.discard(self.name)

    # -- I/O -----------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Bytes queued for the driver but not yet in the pty."""
        return len(self._pending)

    def take_unread(self) -> int:
        """Discard the bytes sent to the driver that it has not read yet and return how many
        there were (what an unplug loses besides the device's own buffer): those still queued
        here, those in the pty's input queue, and those the kernel has accepted from the master
        but not yet moved into that queue. FIONREAD counts only the input queue: the kernel
        moves written bytes there from a work queue, which a loaded machine may not run for
        tens of ms. A non-blocking read of the simulator's own slave end waits for that work
        and then takes everything; the driver can no longer get those bytes (a hang-up would
        discard them anyway), and whatever it reads meanwhile is not counted."""
        n = len(self._pending)
        self._pending.clear()
        if self._slave is None:
            return n
        while True:
            try:
                data = os.read(self._slave, 65536)
            except (BlockingIOError, InterruptedError):
                return n
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EIO):
                    return n
                raise
            if not data:
                return n
            n += len(data)

    def write(self, data: bytes) -> bool:
        """Queue ``data`` for the driver; False (nothing queued) when the queue is full or the
        port is unplugged."""
        if not self.plugged:
            return False
        if len(self._pending) + len(data) > self.max_pending:
            self.pump()
            if len(self._pending) + len(data) > self.max_pending:
                return False
        self._pending += data
        self.pump()
        return True

    def pump(self) -> int:
        """Push queued bytes into the pty without blocking; returns bytes moved."""
        if not self.plugged or not self._pending:
            return 0
        try:
            n = os.write(self._master, self._pending)
        except BlockingIOError:
            return 0
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EIO):
                return 0
            raise
        del self._pending[:n]
        self.bytes_written += n
        return n

    def read(self, max_bytes: int = 65536) -> bytes:
        """Bytes the driver wrote to the port (non-blocking; b"" when none)."""
        if not self.plugged:
            return b""
        try:
            data = os.read(self._master, max_bytes)
        except (BlockingIOError, InterruptedError):
            return b""
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EIO):
                return b""
            raise
        self.bytes_read += len(data)
        return data

    def fileno(self) -> int:
        """The master fd (for select); -1 when unplugged."""
        return self._master if self._master is not None else -1

    def poll_opened(self) -> bool:
        """True (once) when a driver has opened and configured the port since the last call."""
        if not self.plugged:
            return False
        try:
            attrs = termios.tcgetattr(self._slave)
        except termios.error:
            return False
        if attrs[4] == _PARK_SPEED and attrs[5] == _PARK_SPEED:
            return False
        attrs[4] = attrs[5] = _PARK_SPEED
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        return True

    def __enter__(self) -> SimPort:
        return self.open() if not self.plugged else self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "plugged" if self.plugged else "unplugged"
        return f"SimPort({self.name!r}, {self.device!r}, {state})"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def list_sim_ports() -> list[dict[str, Any]]:
    """Records of the simulated ports running now (in any process of this user).

    Stale records (owner process gone or symlink missing) are removed.
    """
    out = []
    d = sim_dir()
    for rec_path in sorted(d.glob("*.json")):
        rec = _read_record(rec_path)
        if rec is None:
            continue
        link = rec_path.with_name(rec_path.name[: -len(".json")])
        alive = _pid_alive(int(rec.get("owner_pid", -1)))
        if not alive or not link.is_symlink() or not os.path.exists(link):
            if not alive:
                for p in (rec_path, link):
                    try:
                        if p.is_symlink() or p.exists():
                            p.unlink()
                    except OSError:
                        pass
            continue
        out.append(rec)
    return out
