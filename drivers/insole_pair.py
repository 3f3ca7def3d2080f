"""A left and a right insole of one pair, checked and read together on one host time base.

:func:`pair_insoles` matches two opened insole devices (one left foot and one right foot, the
same pair id) into an :class:`InsolePair`; the ``ins1:`` opener calls it when a device string
names two ports.
"""

from __future__ import annotations

from forcelab.drivers.base import Block, Device
from forcelab.drivers.errors import DeviceError


class InsolePair:
    """The left and right insole of one pair, on one host time base.

    Both feet's Blocks carry ``t_host_s`` from their own fitted clocks, so they line up on the
    host ``time.time()`` axis; gaps stay explicit per foot (``Block.gap_before``).
    """

    def __init__(self, left: Device, right: Device) -> None:
        self.left = left
        self.right = right

    @property
    def devices(self) -> list[Device]:
        """[left, right]."""
        return [self.left, self.right]

    @property
    def pair_id(self) -> int:
        """The pair id both insoles report."""
        return int(self.left.info.extra["pair_id"])

    def start(self) -> None:
        """Start both feet."""
        for d in self.devices:
            d.start()

    def stop(self) -> None:
        """Stop both feet."""
        for d in self.devices:
            d.stop()

    def read(self, timeout: float = 0.1) -> dict[str, list[Block]]:
        """Blocks per foot: ``{"left": [...], "right": [...]}`` (``timeout`` split over both)."""
        return {"left": self.left.read(timeout / 2), "right": self.right.read(timeout / 2)}

    def close(self) -> None:
        """Close both feet."""
        for d in self.devices:
            d.close()

    def __enter__(self) -> InsolePair:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def pair_insoles(devices: list[Device]) -> InsolePair:
    """Match two INS1 insoles into a left/right pair.

    Raises
    ------
    DeviceError
        Not exactly two INS1 devices, two of the same foot ("two left feet"), or insoles from
        different pairs (pair ids differ).
    """
    devs = list(devices)
    if len(devs) != 2:
        raise DeviceError(f"an insole pair needs exactly two INS1 insoles, got {len(devs)}")
    for d in devs:
        if d.info.protocol != "INS1":
            raise DeviceError(f"{d.info.protocol} device {d.info.serial} is not an INS1 insole")
    sides = [d.info.side for d in devs]
    if sides[0] == sides[1]:
        raise DeviceError(
            f"both insoles ({devs[0].info.serial} on {devs[0].port}, {devs[1].info.serial} on "
            f"{devs[1].port}) are {sides[0]} feet: connect one left and one right insole"
        )
    ids = [d.info.extra["pair_id"] for d in devs]
    if ids[0] != ids[1]:
        raise DeviceError(
            f"the insoles belong to different pairs (pair id {ids[0]:#x} on {devs[0].port}, "
            f"{ids[1]:#x} on {devs[1].port}): connect the two insoles of one pair"
        )
    left = devs[0] if sides[0] == "left" else devs[1]
    right = devs[1] if left is devs[0] else devs[0]
    return InsolePair(left, right)
