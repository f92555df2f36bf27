"""`lab.errors.validation_line` on models with lists and tables of tables: an unknown
field inside an item is suggested and listed from the item's own model."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lab.errors import validation_line


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    volts: float = Field(0.0, description="level, V")


class _Root(BaseModel):
    model_config = ConfigDict(extra="forbid")

    network: str = "twin16"
    entries: list[_Entry] = []
    spare: tuple[_Entry, ...] = ()
    named: dict[str, _Entry] = {}
    maybe: list[_Entry] | None = None


def _line(raw: dict) -> str:
    with pytest.raises(ValidationError) as info:
        _Root.model_validate(raw)
    return validation_line("f.toml", _Root, info.value)


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        ({"entries": [{"name": "a"}, {"nmae": "b"}]}, "field 'entries', item 2, entry 'nmae'"),
        ({"spare": [{"nmae": "b"}]}, "field 'spare', item 1, entry 'nmae'"),
        ({"named": {"x": {"nmae": "b"}}}, "field 'named', entry 'x', entry 'nmae'"),
        ({"maybe": [{"nmae": "b"}]}, "field 'maybe', item 1, entry 'nmae'"),
    ],
)
def test_an_unknown_field_in_an_item_names_the_items_fields(raw: dict, where: str) -> None:
    line = _line(raw)
    assert line.startswith(f"f.toml: {where}: unknown field (did you mean 'name'?); "), line
    assert "; allowed fields: name, volts" in line and "network" not in line, line


def test_an_items_bad_value_carries_the_items_field_description() -> None:
    line = _line({"entries": [{"name": "a", "volts": "high"}]})
    assert line.startswith("f.toml: field 'entries', item 1, entry 'volts': expected"), line
    assert line.endswith("got 'high' (level, V)"), line


def test_an_unknown_root_field_still_lists_the_roots() -> None:
    line = _line({"netwrk": "x"})
    assert "(did you mean 'network'?)" in line
    assert line.endswith("allowed fields: network, entries, spare, named, maybe"), line
