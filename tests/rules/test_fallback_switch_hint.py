"""PLN205's hint never suggests the switch that is already taken."""
from planctl.rules.checks.fallback_switch import _rename_hint


def test_the_hint_names_the_switch_after_the_plan():
    assert "PLANCTL_DISABLE_EMBED_V2" in _rename_hint("embed-v2", "PLANCTL_DISABLE_EMBED")


def test_a_copied_plan_is_told_to_take_a_name_of_its_own_first():
    hint = _rename_hint("minilm-embed", "PLANCTL_DISABLE_MINILM_EMBED")
    assert "shares metadata.name 'minilm-embed'" in hint and "e.g. PLANCTL_DISABLE_MINILM_EMBED" not in hint
