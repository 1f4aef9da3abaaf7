"""core's own HTML (offline report, figure specs) follows the app's one rule for data strings."""

import pytest

from app import safe_text
from core.errors import FewshotError
from core.store import validate_index_name
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


def test_an_invalid_name_is_quoted_and_cut_in_its_message():
    """A 5,000-character or multi-line name is shown one line and bounded, as every other message shows names."""
    for bad, what in (("x" * 5000, "index"), ("a\nb\x1b[31m", "concept")):
        with pytest.raises(FewshotError) as info:
            validate_index_name(bad, what)
        message = str(info.value)
        assert message.startswith(f"invalid {what} name '") and "\n" not in message and "\x1b" not in message
        assert len(message) < 200


def test_map_hover_cuts_long_ids_and_labels_and_escapes_them():
    """An attacker's 3,000-character id drew a hover box 12,000 px wide on the Map and in the report."""
    import numpy as np

    from app.map_figure import hover_texts

    ids = np.asarray(["<b>" + "i" * 3000, "short"], dtype=object)
    labels = np.asarray(["L" * 500, None], dtype=object)
    out = hover_texts(np.arange(2), ids, labels, np.asarray([0.5, -0.25]), None)
    assert len(out[0]) < 300 and "&lt;b&gt;" in out[0] and "…" in out[0] and "<b>&lt;b&gt;" in out[0]
    assert out[1] == "<b>short</b> · score -0.25"
