"""The Teach page against a hurried labeller's slips: a double Enter that lands on the next batch, switching
concepts mid-batch, and an undone round's draft across a rerun and a reload. Nothing may be written that the
person did not rate, and no draft may be lost."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from core.session import TeachSession
from core.store import Store
from tests.e2e.helpers import SIDEBAR, assert_no_exception, button, choose_option, set_toggle, wait_for_app
from tests.e2e.test_teach_flow import BOX, _ids, _open_teach, _round_rows, _statuses, _token, _wait_new_batch
from tests.helpers.workspaces import indexed_digits

pytestmark = pytest.mark.e2e


def _blur(page) -> None:
    """A person clicks the page after picking something in the sidebar (its selectbox keeps the focus)."""
    page.evaluate("() => document.activeElement && document.activeElement.blur()")


def _teach_random(app_server, page, concept: str, target: str) -> tuple[Store, list[str]]:
    """A digits concept with a random start, open on the Teach page: its store and the first batch's ids."""
    indexed_digits(app_server.workspace)
    store = Store(app_server.workspace)
    TeachSession.create("digits", concept, store=store, target_label=target, strategy="random")
    _open_teach(page, app_server.url)
    return store, _ids(page)


def test_a_double_enter_does_not_submit_the_next_batch_untouched(app_server, page):
    store, first = _teach_random(app_server, page, "three", "3")
    page.keyboard.press("a")
    old = _token(page)
    page.keyboard.press("Enter")
    _wait_new_batch(page, old)
    page.keyboard.press("Enter")  # the second press of a double Enter, right after the next batch came
    expect(page.locator(f"{BOX} .progress")).to_contain_text("Press Enter again")
    page.wait_for_timeout(1500)
    wait_for_app(page)
    assert _round_rows(store, "three") == {1: {i: (1.0 if k == 0 else None) for k, i in enumerate(first)}}
    # A deliberate Enter on an untouched batch still submits it (its items skipped).
    second, old = _ids(page), _token(page)
    page.keyboard.press("Enter")
    _wait_new_batch(page, old)
    assert _round_rows(store, "three")[2] == dict.fromkeys(second)
    # A stray Enter long after a batch came, nothing rated: it asks first (an auditor wrote a round of skips so).
    page.wait_for_timeout(1500)
    third, old = _ids(page), _token(page)

    def enter_asks_and_writes_nothing() -> None:
        page.keyboard.press("Enter")
        expect(page.locator(f"{BOX} .progress")).to_contain_text("Nothing rated: Enter again submits all")
        page.wait_for_timeout(1000)
        wait_for_app(page)
        assert 3 not in _round_rows(store, "three") and _token(page) == old

    enter_asks_and_writes_nothing()
    # a rating taken back in between disarms the ask: the next Enter asks again (a re-tester's went through)
    page.keyboard.press("a")
    page.keyboard.press("Backspace")
    enter_asks_and_writes_nothing()
    page.keyboard.press("Enter")
    _wait_new_batch(page, old)
    assert _round_rows(store, "three")[3] == dict.fromkeys(third)
    assert_no_exception(page)


def test_switching_concepts_mid_batch_keeps_each_concepts_ratings_apart(app_server, page):
    indexed_digits(app_server.workspace)
    store = Store(app_server.workspace)
    for name in ("c1", "c2"):  # the same start and strategy: both propose the same first batch
        TeachSession.create("digits", name, store=store, examples=["digits-3", "digits-13"], strategy="nearest")
    _open_teach(page, app_server.url)
    choose_option(page, "Concept", "c1", scope=SIDEBAR)
    _blur(page)
    ids = _ids(page)
    for key in ("a", "x", "a"):
        page.keyboard.press(key)
    typed = _statuses(page)
    assert typed[:3] == ["rated +1", "rated −1", "rated +1"]

    choose_option(page, "Concept", "c2", scope=SIDEBAR)
    _blur(page)
    assert _ids(page) == ids  # the same items, but another concept's batch: none of c1's ratings
    assert set(_statuses(page)) == {"not rated"}
    page.keyboard.press("x")
    old = _token(page)
    page.keyboard.press("Enter")
    _wait_new_batch(page, old)
    wait_for_app(page)
    assert _round_rows(store, "c2") == {1: {i: (-1.0 if k == 0 else None) for k, i in enumerate(ids)}}

    choose_option(page, "Concept", "c1", scope=SIDEBAR)  # c1's draft is still there, nothing of it written
    _blur(page)
    assert _ids(page) == ids and _statuses(page) == typed
    assert _round_rows(store, "c1") == {}
    assert_no_exception(page)


def test_an_undone_rounds_draft_survives_a_rerun_and_a_reload(app_server, page):
    store, ids = _teach_random(app_server, page, "seven", "7")
    for key in ("a", "x", "4"):
        page.keyboard.press(key)
    old = _token(page)
    page.keyboard.press("Enter")
    _wait_new_batch(page, old)
    wait_for_app(page)
    old = _token(page)
    button(page, "Undo last round").click()
    _wait_new_batch(page, old)
    wait_for_app(page)
    assert _ids(page) == ids and _statuses(page)[:3] == ["rated +1", "rated −1", "rated +½"]
    set_toggle(page, "Show ground-truth labels", True)  # reruns the batch's fragment
    undone = _statuses(page)
    page.reload()
    page.locator(f"{BOX} .card").first.wait_for(timeout=60_000)
    wait_for_app(page)
    assert _ids(page) == ids and _statuses(page) == undone
    old = _token(page)
    page.keyboard.press("Enter")
    _wait_new_batch(page, old)
    assert _round_rows(store, "seven") == {1: {i: {0: 1.0, 1: -1.0, 2: 0.5}.get(k) for k, i in enumerate(ids)}}


def test_keys_rate_right_after_a_concept_is_picked_in_the_sidebar(app_server, page):
    """The sidebar's selectbox kept the focus after a pick, so the first keys went to it (opening its list)
    until the person clicked the page. The batch now takes the focus back from it."""
    indexed_digits(app_server.workspace)
    store = Store(app_server.workspace)
    for name in ("d1", "d2"):
        TeachSession.create("digits", name, store=store, target_label="3", strategy="random")
    _open_teach(page, app_server.url)
    choose_option(page, "Concept", "d1", scope=SIDEBAR)
    choose_option(page, "Concept", "d2", scope=SIDEBAR)  # no click on the page afterwards
    expect(page.locator(f"{BOX} .card").first).to_be_visible()
    page.wait_for_timeout(300)
    for key in ("a", "x"):
        page.keyboard.press(key)
    assert _statuses(page)[:2] == ["rated +1", "rated −1"]
    assert page.evaluate("() => document.activeElement && document.activeElement.getAttribute('role')") != "combobox"
    # Keys typed at once, before d1's batch came, went into the box's search ("No results") and kept it focused.
    old = _token(page)
    page.locator(SIDEBAR).get_by_role("combobox", name="Concept", exact=True).first.click()
    page.get_by_role("option", name="d1", exact=True).first.click()
    page.keyboard.type("ax", delay=30)
    _wait_new_batch(page, old)
    wait_for_app(page)
    page.wait_for_timeout(300)
    # On a loaded machine a key of "ax" can reach the page after d1's batch appeared (CI saw the "x" rate its
    # first card); that key rightly rates what is shown. Keys pressed now rate the batch from where it stands.
    before = _statuses(page)
    start = before.index("not rated")
    assert start <= 2 and all(s in ("rated +1", "rated −1") for s in before[:start]), before
    for key in ("a", "x"):
        page.keyboard.press(key)
    assert _statuses(page)[start:start + 2] == ["rated +1", "rated −1"]
    assert page.evaluate("() => document.activeElement && document.activeElement.getAttribute('role')") != "combobox"
    assert_no_exception(page)


def test_two_tabs_on_one_batch_each_get_their_own_draft_back_after_a_reload(app_server, page):
    """A fast-labeller tester: two tabs on one batch wrote one shared draft, so a reload of the first brought back
    the second's ratings (and an Enter would have stored them as the first's round)."""
    store, ids = _teach_random(app_server, page, "three", "3")
    other = page.context.new_page()
    _open_teach(other, app_server.url)
    assert _ids(other) == ids
    for key in ("a", "a", "a"):
        page.keyboard.press(key)
    for key in ("x", "x", "x", "x", "x"):
        other.keyboard.press(key)
    mine, theirs = _statuses(page), _statuses(other)
    assert mine[:4] == ["rated +1"] * 3 + ["not rated"] and theirs[:5] == ["rated −1"] * 5
    for tab in (page, other):
        tab.reload()
        tab.locator(f"{BOX} .card").first.wait_for(timeout=60_000)
        wait_for_app(tab)
    assert _statuses(page) == mine and _statuses(other) == theirs
    third = page.context.new_page()  # a tab with no draft of its own takes the newest, and says so
    _open_teach(third, app_server.url)
    assert _statuses(third) == theirs
    expect(third.locator(f"{BOX} .progress")).to_contain_text("typed in another tab of this browser")
    old = _token(page)
    page.keyboard.press("Enter")
    _wait_new_batch(page, old)
    assert _round_rows(store, "three") == {1: {i: (1.0 if k < 3 else None) for k, i in enumerate(ids)}}
    assert_no_exception(page)


def test_a_duplicated_tab_gets_its_own_draft_and_a_tab_overtaken_is_told_on_reload(app_server, page):
    """The re-tester: Chrome's "Duplicate tab" copies sessionStorage, so a copy shared the original's draft (and an
    Enter in one stored the other's ratings); and a tab reloaded after another tab's Enter showed the next batch
    without a word about what it had typed."""
    store, ids = _teach_random(app_server, page, "three", "3")
    for key in ("a", "a", "a"):
        page.keyboard.press(key)
    mine = _statuses(page)
    tab = page.evaluate("() => window.sessionStorage.getItem('fewshot-tab')")
    copy = page.context.new_page()  # what "Duplicate tab" does: the same sessionStorage, the original still open
    copy.add_init_script(  # once: a duplicate starts with the copy; its reloads keep whatever it has since
        f"if (!window.sessionStorage.getItem('copied')) {{ window.sessionStorage.setItem('fewshot-tab', {tab!r});"
        " window.sessionStorage.setItem('copied', '1'); }")
    _open_teach(copy, app_server.url)
    assert _statuses(copy) == mine  # it starts as a copy of the original's draft...
    expect(copy.locator(f"{BOX} .progress")).to_contain_text("kept for this batch by the tab this one was copied from")
    assert copy.evaluate("() => window.sessionStorage.getItem('fewshot-tab')") != tab  # ...under an id of its own
    copy.keyboard.press("ArrowLeft")
    for key in ("x", "x"):
        copy.keyboard.press(key)
    theirs = _statuses(copy)
    assert theirs != mine
    page.reload()
    page.locator(f"{BOX} .card").first.wait_for(timeout=60_000)
    wait_for_app(page)
    assert _statuses(page) == mine  # the copy's edits stay the copy's
    # the original submits; the copy, reloaded before its Enter, is told its ratings were never sent
    old = _token(page)
    page.keyboard.press("Enter")
    _wait_new_batch(page, old)
    wait_for_app(page)
    assert _round_rows(store, "three") == {1: {i: (1.0 if k < 3 else None) for k, i in enumerate(ids)}}
    copy.reload()
    copy.locator(f"{BOX} .card").first.wait_for(timeout=60_000)
    wait_for_app(copy)
    assert _token(copy) == _token(page) and set(_statuses(copy)) == {"not rated"}
    # the two keys pressed in the copy, not the three it took over (a re-tester's partly edited take-over counted all)
    expect(copy.locator(f"{BOX} .progress")).to_contain_text("2 ratings typed here on an earlier batch were never sent")
    copy.reload()  # told once
    copy.locator(f"{BOX} .card").first.wait_for(timeout=60_000)
    wait_for_app(copy)
    expect(copy.locator(f"{BOX} .progress")).not_to_contain_text("never sent")
    assert _round_rows(store, "three") == {1: {i: (1.0 if k < 3 else None) for k, i in enumerate(ids)}}
    assert_no_exception(page)


def _reload(tab) -> None:
    tab.reload()
    tab.locator(f"{BOX} .card").first.wait_for(timeout=60_000)
    wait_for_app(tab)


def test_drafts_a_tab_took_over_sent_or_lost_are_reported_truly(app_server, page):
    """A second re-tester: a tab that only took over another tab's ratings was told it had "typed" them; an Enter that
    never reached the server, then a reload, left ratings marked sent, lost without a word once another tab went on;
    and Undo, which a refusal suggests, replaced the refused tab's own ratings with the undone round's."""
    store, ids = _teach_random(app_server, page, "three", "3")
    for key in ("a", "a", "x"):
        page.keyboard.press(key)
    taker = page.context.new_page()
    _open_teach(taker, app_server.url)
    expect(taker.locator(f"{BOX} .progress")).to_contain_text("typed in another tab of this browser")
    # an Enter sent but never answered (a restarted server), then a reload: emulated by marking the draft sent
    loser = page.context.new_page()
    _open_teach(loser, app_server.url)  # adopts too; then types its own
    loser.keyboard.press("ArrowLeft")
    for key in ("x", "4"):
        loser.keyboard.press(key)
    loser_typed = _statuses(loser)
    loser.evaluate("""() => { for (let i = 0; i < localStorage.length; i++) { const k = localStorage.key(i);
        if (k.startsWith('fewshot-draft|') && k.endsWith('|' + sessionStorage.getItem('fewshot-tab'))) {
          const d = JSON.parse(localStorage.getItem(k)); d.sent = true;
          localStorage.setItem(k, JSON.stringify(d)); } } }""")
    _reload(loser)
    assert _statuses(loser) == loser_typed  # the batch is still current: that Enter did not land
    old = _token(page)
    page.keyboard.press("Enter")
    _wait_new_batch(page, old)
    wait_for_app(page)
    written = _round_rows(store, "three")[1]
    assert written == {i: {0: 1.0, 1: 1.0, 2: -1.0}.get(k) for k, i in enumerate(ids)}
    _reload(taker)  # took over the ratings, typed nothing: not "typed here ... never sent"
    expect(taker.locator(f"{BOX} .progress")).not_to_contain_text("never sent")
    _reload(loser)
    expect(loser.locator(f"{BOX} .progress")).to_contain_text("typed here on an earlier batch were never sent")
    # Undo brings the batch back: the loser's own ratings, not the undone round's
    old = _token(loser)
    button(loser, "Undo last round").click()
    _wait_new_batch(loser, old)
    wait_for_app(loser)
    assert _ids(loser) == ids and _statuses(loser) == loser_typed
    expect(loser.locator(f"{BOX} .progress")).to_contain_text("typed here on these items kept, not the undone round's")
    assert_no_exception(loser)


def test_unsent_ratings_are_reported_when_another_notice_had_the_bar(app_server, page):
    """A third re-tester: a tab's unsent ratings were marked reported while another notice held the bar, so no load
    ever said so."""
    store, ids = _teach_random(app_server, page, "three", "3")
    for key in ("x", "x"):
        page.keyboard.press(key)
    other = page.context.new_page()
    _open_teach(other, app_server.url)  # takes the two ratings over, sends them as its own round
    old = _token(other)
    other.keyboard.press("a")
    other.keyboard.press("Enter")
    _wait_new_batch(other, old)
    wait_for_app(other)
    other.keyboard.press("a")  # a draft on the next batch, which the first tab will take over
    _reload(page)
    expect(page.locator(f"{BOX} .progress")).to_contain_text("typed in another tab of this browser")
    _reload(page)
    expect(page.locator(f"{BOX} .progress")).to_contain_text("2 ratings typed here on an earlier batch were never sent")
    assert _round_rows(store, "three") == {1: {i: {0: -1.0, 1: -1.0, 2: 1.0}.get(k) for k, i in enumerate(ids)}}
