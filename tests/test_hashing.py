from __future__ import annotations

from jobs.models import input_hash

SETTINGS = {"provider": "offline", "model": "m", "temperature": "0.70", "max_tokens": 100}


def test_key_order_does_not_matter() -> None:
    a = input_hash(version_id=1, model_settings=SETTINGS, inputs={"a": 1, "b": "x"})
    b = input_hash(version_id=1, model_settings=dict(reversed(SETTINGS.items())), inputs={"b": "x", "a": 1})
    assert a == b
    assert len(a) == 64


def test_every_determining_part_changes_the_hash() -> None:
    base = input_hash(version_id=1, model_settings=SETTINGS, inputs={"a": 1})
    assert base != input_hash(version_id=2, model_settings=SETTINGS, inputs={"a": 1})
    assert base != input_hash(version_id=1, model_settings={**SETTINGS, "model": "n"}, inputs={"a": 1})
    assert base != input_hash(
        version_id=1, model_settings={**SETTINGS, "temperature": "0.5"}, inputs={"a": 1}
    )
    assert base != input_hash(version_id=1, model_settings=SETTINGS, inputs={"a": 2})


def test_types_are_part_of_the_value() -> None:
    assert input_hash(version_id=1, model_settings=SETTINGS, inputs={"a": 1}) != input_hash(
        version_id=1, model_settings=SETTINGS, inputs={"a": "1"}
    )
