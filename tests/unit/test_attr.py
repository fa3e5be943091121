"""Attr.coerce: every rejection names the attr and the reason; coercions convert."""

import pytest

from sugo.driverinterface import Attr
from sugo.driverinterface.units import registry

PARAM = Attr(type=float, rw=True, units="s", minimum="0.1 s", maximum="1 h")
PLAIN = Attr(type=float, rw=True)
CHOICE = Attr(type=str, rw=True, options=("red", "green", "blue"))


def q(text: str):
    return registry().Quantity(text)


@pytest.mark.parametrize(
    ("spec", "value", "reason"),
    [
        (PLAIN, None, "None is not allowed"),
        (PARAM, None, "None is not allowed"),
        (PLAIN, "wrong type", "wrong type"),
        (PLAIN, True, "wrong type"),
        (PLAIN, [1.0], "wrong type"),
        (PARAM, "wrong type", "wrong type"),
        (PARAM, "1 m", "wrong dimension"),
        (PARAM, "1 ms", "below minimum 0.1 s"),
        (PARAM, 0.01, "below minimum 0.1 s"),
        (PARAM, "2 h", "above maximum 1 h"),
        (CHOICE, "pink", "not one of"),
        (CHOICE, 3, "wrong type"),
        (Attr(type=int, rw=True), "1.5", "wrong type"),
        (Attr(type=bool, rw=True), "maybe", "wrong type"),
        (Attr(type=int, rw=True, minimum=-1), -2, "below minimum -1"),
        # JSON has no inf or nan: they would read back as null.
        (PLAIN, "1e400", "not a finite number"),
        (PLAIN, float("nan"), "not a finite number"),
        (Attr(type=float, rw=True, units="s"), "inf s", "not a finite number"),
    ],
)
def test_coerce_rejects_with_a_message_naming_attr_and_reason(spec, value, reason):
    with pytest.raises(ValueError, match=reason) as info:
        spec.coerce(value, "param")
    message = str(info.value)
    assert "'param'" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("spec", "value", "expected"),
    [
        (PLAIN, "3", 3.0),
        (PLAIN, 3, 3.0),
        (Attr(type=int, rw=True), "4", 4),
        (Attr(type=int, rw=True), 4.0, 4),
        (Attr(type=bool, rw=True), "yes", True),
        (Attr(type=bool, rw=True), 0, False),
        (CHOICE, "green", "green"),
    ],
)
def test_coerce_converts_plain_values(spec, value, expected):
    out = spec.coerce(value, "x")
    assert out == expected
    assert type(out) is type(expected)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1.0", 1.0), ("2 min", 120.0), (1.5, 1.5), (2, 2.0), ("100 ms", 0.1), (q("3 s"), 3.0)],
)
def test_coerce_gives_a_quantity_in_the_attr_units(value, seconds):
    out = PARAM.coerce(value, "param")
    assert str(out.units) == "second"
    assert out.magnitude == pytest.approx(seconds)
    assert isinstance(out.magnitude, float)


def test_minimum_as_a_number_is_taken_in_the_attr_units():
    spec = Attr(type=float, rw=True, units="ms", minimum=5)
    assert spec.coerce("0.01 s", "t").magnitude == pytest.approx(10.0)
    with pytest.raises(ValueError, match="below minimum 5"):
        spec.coerce("1 ms", "t")


def test_int_attr_with_units_wants_whole_numbers():
    spec = Attr(type=int, rw=True, units="ms")
    assert spec.coerce("2 s", "n").magnitude == 2000
    with pytest.raises(ValueError, match="whole number"):
        spec.coerce("0.5 ms", "n")


def test_describe_is_json_friendly():
    assert CHOICE.describe() == {
        "type": "str",
        "rw": True,
        "status": False,
        "units": None,
        "minimum": None,
        "maximum": None,
        "options": ["red", "green", "blue"],
        "default": None,
    }
    assert PARAM.describe()["minimum"] == "0.1 s"
