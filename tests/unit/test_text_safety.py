"""core's own HTML (offline report, figure specs) follows the app's one rule for data strings."""

from app import safe_text
from core.text_safety import escape, neutral


def test_escape_neutralises_bidi_controls_and_html():
    hostile = 'a\u202eexe.jpg <img src=x onerror="alert(1)">'
    out = escape(hostile)
    assert "\u202e" not in out and "[U+202E]" in out
    assert "<" not in out and '"' not in out and "&lt;img" in out


def test_the_app_rule_and_core_share_one_bidi_list():
    assert safe_text.neutral is neutral
    assert safe_text.html("x\u2067y") == escape("x\u2067y")
