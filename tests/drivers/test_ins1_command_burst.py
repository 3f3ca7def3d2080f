"""INS1 command replies that arrive together with samples (one read brings both).

A stalled link delivers the START reply and the samples the insole took meanwhile in one burst:
the driver takes the reply and keeps every sample that came with it.
"""

from __future__ import annotations

import numpy as np
from driver_helpers import per_sample, stream_samples
from forcelab.drivers.ins1 import Ins1Device
from forcelab.drivers.sim.ins1_sim import start_insoles


def test_samples_in_the_same_burst_as_the_start_reply_are_kept():
    setup = start_insoles({"seed": 5, "rate": 200, "name": "t-start-burst"})
    try:
        sim = setup.left
        dev = Ins1Device.from_url(setup.urls[0])
        try:
            with sim._lock:  # the link stalls: the START reply waits behind the next samples
                sim._stall_until = sim.model_time_s() + 0.3
            blocks = stream_samples(dev, 200, 20.0)
        finally:
            dev.close()
        seq, _ = per_sample(blocks)
        sent = sim.sent["seq"]
        assert len(sent) >= 200
        # every sample from the very first after START, none lost with the reply
        np.testing.assert_array_equal(seq - seq[0], np.arange(len(sent)))
        assert np.array_equal(seq % 65536, sent)
        assert all(b.gap_before == 0 for b in blocks)
    finally:
        setup.stop()
