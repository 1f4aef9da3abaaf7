"""core's own HTML (offline report, figure specs) follows the app's one rule for data strings."""

from app import safe_text
from core.text_safety import escape, neutral, one_line, quoted


def test_escape_neutralises_bidi_controls_and_html():
    hostile = 'a\u202eexe.jpg <img src=x onerror="alert(1)">'
    out = escape(hostile)
    assert "\u202e" not in out and "[U+202E]" in out
    assert "<" not in out and '"' not in out and "&lt;img" in out


def test_the_app_rule_and_core_share_one_bidi_list():
    assert safe_text.neutral is neutral
    assert safe_text.html("x\u2067y") == escape("x\u2067y")


def test_one_line_and_quoted_show_controls_and_stay_bounded():
    assert one_line("a\nb\x1b[31m\u202e") == "a\\nb\\x1b[31m[U+202E]"
    assert quoted("a,b") == "'a,b'" and quoted("") == "''" and quoted("c\u202ed") == "'c\\u202ed'"
    assert quoted("x" * 100) == "'" + "x" * 60 + "…' (100 characters)"
    # a text holding ' is quoted with " by repr, and closed with " when cut
    assert quoted("it's " * 30) == '"' + ("it's " * 30)[:60] + '…" (150 characters)'
