"""The ``sim:`` opener: start a simulated setup and open the real drivers on its ptys.

``sim:treadmill?speed=3&seed=1`` starts the setup named ``treadmill``
(:func:`~forcelab.drivers.sim.setups.start_setup`) and opens each of its device strings through
the registry, like any other device string: the devices of one scheme with the same options
open together (an insole pair is matched by its pair id), the others one by one. The setup
stops when the last of its devices is closed (:meth:`Setup.stop_after`).
"""

from __future__ import annotations

from forcelab.drivers.base import Device
from forcelab.drivers.open import split_url
from forcelab.drivers.registry import opener_for
from forcelab.drivers.sim.setups import start_setup


def open_sim(name: str, options: dict[str, str]) -> list[Device]:
    """Registry opener of ``sim:``: start the named simulated setup and open its devices.

    Raises
    ------
    DeviceNotFound
        Unknown setup.
    DeviceError
        Bad options (of the setup or of its drivers).
    """
    setup = start_setup(name, options)
    devices: list[Device] = []
    try:
        groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
        for url in setup.urls:
            scheme, ports, opts = split_url(url)
            groups.setdefault((scheme, tuple(sorted(opts.items()))), []).extend(ports)
        for (scheme, opts), ports in groups.items():
            devices += opener_for(scheme)(",".join(ports), dict(opts))
    except BaseException:
        for d in devices:
            d.close()
        setup.stop()
        raise
    setup.stop_after(devices)
    return devices
