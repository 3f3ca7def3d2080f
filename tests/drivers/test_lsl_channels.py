"""The channel mapping shared by the lsl: inlet and the XDF reader (pure functions)."""

from __future__ import annotations

import numpy as np
import pytest
from forcelab.drivers.base import KIND_INSOLE, ROLE_PRESSURE, ROLE_VERTICAL
from forcelab.drivers.errors import DeviceError
from forcelab.drivers.lsl_channels import (
    SourceChannel,
    acquisition_from_xml,
    channels_from_xml,
    is_force_stream,
    map_channels,
)

AMTI = [SourceChannel(x, u) for x, u in (("Fx", "N"), ("Fy", "N"), ("Fz", "N"), ("Mx", "N*m"),
                                          ("My", "N*m"), ("Mz", "N*m"))]


def roles(cmap):
    return {c.name: c.role for c in cmap.channels}


def named_after_their_roles(*names):
    """What :func:`roles` gives for channels with standard names: a force, moment or centre of
    pressure channel is named after its role (the role strings of docs/architecture.md)."""
    return {name: name for name in names}


def test_plate_labels_z_up_x_medio_lateral():
    cmap = map_channels("AMTI 1", "Force", 6, AMTI)
    assert roles(cmap) == named_after_their_roles("fml", "fap", "fz", "mx", "my", "mz")
    assert cmap.kind == "plate" and cmap.side is None


def test_cop_from_forces_and_moments_with_the_plate_origin():
    # a 1000 N load at x = 0.10 m, y = -0.05 m on a plate whose moment origin is 40 mm deep,
    # with a shear of 50 N in x and -20 N in y (AMTI sign convention)
    fx, fy, fz, dz = 50.0, -20.0, 1000.0, 0.040
    x, y = 0.10, -0.05
    my = -(x * fz + fx * dz)
    mx = y * fz + fy * dz
    samples = np.array([[fx, fy, fz, mx, my, 0.0], [0.0, 0.0, 5.0, 0.0, 0.0, 0.0]])
    cmap = map_channels("AMTI 1", "Force", 6, AMTI, {"origin_z_mm": "40"})
    out = cmap.apply(samples)
    names = [c.name for c in cmap.channels]
    assert names[-2:] == ["cop_ml", "cop_ap"]
    assert out[0, names.index("cop_ml")] == pytest.approx(x)
    assert out[0, names.index("cop_ap")] == pytest.approx(y)
    assert np.isnan(out[1, -2:]).all()  # below 20 N the COP is not defined
    flipped = map_channels("AMTI 1", "Force", 6, AMTI,
                           {"origin_z_mm": "40", "cop_ml": "x", "cop_ml_right": "negative"})
    # cop_ml names the x axis of the computed COP, right is negative: COP and fml are negated
    out2 = flipped.apply(samples)
    assert out2[0, -2] == pytest.approx(-x)
    assert out2[0, [c.name for c in flipped.channels].index("fml")] == pytest.approx(-fx)


def test_opensim_style_y_up_labels_with_units():
    src = [SourceChannel("Fx", "kN"), SourceChannel("Fy", "kgf"), SourceChannel("Fz", "lbf"),
           SourceChannel("COPx", "mm"), SourceChannel("COPz", "cm"), SourceChannel("Ty", "N*mm")]
    cmap = map_channels("plate", "Force", 6, src,
                        {"vertical": "Fy", "cop_ml": "COPz", "cop_ml_right": "positive"})
    assert roles(cmap) == named_after_their_roles("fap", "fz", "fml", "cop_ap", "cop_ml", "tz")
    out = cmap.apply(np.array([[1.0, 100.0, 10.0, 250.0, 3.0, 2000.0]]))
    np.testing.assert_allclose(out[0], [1000.0, 980.665, 44.482216152605, 0.25, 0.03, 2.0])


def test_insole_pressures_and_total_force_by_channel_number():
    src = [SourceChannel(f"pressure {i}", "N/cm2") for i in range(1, 17)] + [
        SourceChannel("total force", "N")]
    cmap = map_channels("OpenGo right", "Pressure", 17, src)
    assert cmap.kind == KIND_INSOLE and cmap.side == "right"
    assert [c.role for c in cmap.channels].count(ROLE_PRESSURE) == 16
    assert cmap.channels[16].name == "fz"
    bare = map_channels("x", "", 3, [], {"vertical": "3", "length_unit": "mm"})
    assert [c.role for c in bare.channels] == [None, None, ROLE_VERTICAL]


def test_forcelab_outlet_names_read_back_as_themselves():
    src = [SourceChannel(n, u, r) for n, u, r in (
        ("fz", "N", "fz"), ("fap", "N", "fap"), ("cop_ml", "m", "cop_ml"), ("cop_ap", "m", ""))]
    cmap = map_channels("forcelab-plate", "Force", 4, src)
    assert [c.name for c in cmap.channels] == ["fz", "fap", "cop_ml", "cop_ap"]
    assert roles(cmap) == named_after_their_roles("fz", "fap", "cop_ml", "cop_ap")


@pytest.mark.parametrize("source, options, message", [
    ([], {}, "carries no channel labels: give vertical=N"),
    ([SourceChannel("a"), SourceChannel("b")], {}, "no channel(s) look like the vertical force"),
    ([SourceChannel("Fz", "V")], {}, "is in 'V', but a force must be in"),
    ([SourceChannel("Fz", "N")], {"vertical": "Fq"}, "vertical=Fq names no channel"),
    ([SourceChannel("Fz", "N")], {"cop_ml_right": "negative"}, "only applies together"),
    ([SourceChannel("Fz", "N")], {"cop_ml_right": "left"}, "must be positive or negative"),
    ([SourceChannel("Fz", "N")], {"origin_z_mm": "40"}, "origin_z_mm= computes the COP"),
    ([SourceChannel("Fz", "N")], {"colour": "red"}, "unknown LSL channel option(s) colour"),
    ([SourceChannel("Fsum", "N"), SourceChannel("total force", "N")], {},
     "several channel(s) look like"),
])
def test_unusable_streams_name_the_options(source, options, message):
    with pytest.raises(DeviceError) as err:
        map_channels("s", "Force", max(1, len(source)), source, options)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_xml_metadata_and_force_stream_detection():
    xml = ("<?xml version='1.0'?><info><name>p</name><desc><channels>"
           "<channel><label>Fz</label><unit>N</unit><type>Force</type></channel>"
           "<channel><label>COPx</label><unit>mm</unit></channel></channels>"
           "<acquisition><manufacturer>AMTI</manufacturer><model>OR6-7</model></acquisition>"
           "</desc></info>")
    assert channels_from_xml(xml) == [SourceChannel("Fz", "N", "Force"),
                                      SourceChannel("COPx", "mm", "")]
    assert acquisition_from_xml(xml) == {"manufacturer": "AMTI", "model": "OR6-7"}
    assert channels_from_xml("<info/>") == [] and channels_from_xml("not xml") == []
    assert is_force_stream("Force") and is_force_stream("GRF") and is_force_stream("insole")
    assert is_force_stream("Mocap", labels=["Fz", "Mx"])
    assert not is_force_stream("EEG", labels=["C3", "C4"])
