"""What every wire codec (FPB1, INS1, CSV4) promises, checked on each: ``feed`` takes bytes
only, and random bytes in random chunks never raise and never give a frame that is not in them."""

from __future__ import annotations

import pytest
from driver_helpers import feed_in_cuts
from forcelab.drivers.protocols import csv4, fpb1, ins1
from hypothesis import given, settings
from hypothesis import strategies as st


@pytest.mark.parametrize("codec, text", [
    (fpb1.FPB1Codec(), "\xa5\x5a"), (ins1.Ins1Codec(), "INS1"),
    (csv4.Csv4Parser(), "1000,1,2,3,4\n"),
], ids=["fpb1", "ins1", "csv4"])
def test_feed_rejects_text(codec, text):
    with pytest.raises(TypeError):
        codec.feed(text)


@pytest.mark.parametrize("make, encode", [
    (fpb1.FPB1Codec, lambda f: fpb1.encode_frame(f.type, f.payload, f.token)),
    (ins1.Ins1Codec, lambda f: ins1.encode_frame(f.type, f.payload)),
], ids=["fpb1", "ins1"])
@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=3000), st.lists(st.integers(1, 400), max_size=40))
def test_random_bytes_never_raise_and_never_invent_frames(make, encode, data, cuts):
    codec = make()
    frames = [f for chunk in feed_in_cuts(codec.feed, data, cuts) for f in chunk]
    # Random bytes essentially never form a frame with a valid CRC; whatever is returned must
    # re-encode to bytes present in the input.
    for f in frames:
        assert encode(f) in data
    assert codec.bytes_discarded + codec.pending_bytes <= len(data)
