"""The bounded YAML loader: ordinary documents load as yaml.safe_load loads them; the rest is refused."""

from __future__ import annotations

import pytest
import yaml

from u7s.config import safeyaml, values


def test_an_ordinary_inventory_loads_like_safe_load_including_small_anchors_and_merges():
    text = """
defaults: &d {user: alice, port: 22}
hosts:
  - {name: cp, ssh: {<<: *d, port: 2222}, settings: {PORT_ETCD: 2379, U7S_MULTI_NODE: true}}
  - {name: w1, ssh: *d, address: 192.0.2.12, settings: {HOST_IP: 192.0.2.12, U7S_TIMEOUT: -5}}
"""
    assert safeyaml.load_text(text, "h.yaml") == yaml.safe_load(text)


@pytest.mark.parametrize("text, meant", [
    ("p: 0x16", "0x16"), ("p: 0o26", "0o26"), ("p: 026", "026"), ("p: 10_250", "10_250"),
    ("p: 1:30", "1:30"), ("p: +2379", "+2379"), ("p: 2001-12-14", "2001-12-14"),
])
def test_integers_are_plain_decimals_and_other_forms_stay_text(text, meant):
    assert safeyaml.load_text(text, "h.yaml") == {"p": meant}


def test_an_alias_expanding_past_the_bound_is_refused_while_composing():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"{chr(98 + i)}: &{chr(98 + i)} [" + ", ".join([f"*{chr(97 + i)}"] * 10) + "]" for i in range(5)]
    with pytest.raises(safeyaml.YamlError, match=r"h.yaml: line \d+: expands to more than"):
        safeyaml.load_text("\n".join(lines), "h.yaml")


def test_a_long_value_is_named_by_its_prefix_only():
    with pytest.raises(safeyaml.YamlError) as caught:
        safeyaml.load_text("k: " + "z" * 10_000, "h.yaml")
    assert "z" * values.SHOWN + "..." in str(caught.value) and "z" * (values.SHOWN + 1) not in str(caught.value)


def test_shown_is_bounded_for_huge_structures_and_stays_on_one_line():
    huge = [[list(range(1000))] * 1000] * 1000
    assert len(values.shown(huge)) < 200
    assert values.shown("a\nb") == "'a\\nb'" and values.shown("x", quote=False) == "x"
