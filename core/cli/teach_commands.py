"""``concept``, ``teach``, ``export``, ``predict`` and ``simulate``: the teaching loop from a terminal.

Every step is its own command working on the state in the workspace, so the loop can be scripted
(``teach next --json`` -> rate -> ``teach submit``) and resumed at any time, like the app.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import shlex
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from core.cli import arg_types
from core.errors import FewshotError, InvalidRating, NothingChanged, StaleBatch
from core.files import write_atomic
from core.text_safety import one_line, quoted

STRATEGY_CHOICES = ("auto", "nearest", "boundary", "mixed", "random", "diverse")
SKIP_WORDS = {"", "skip", "none", "null", "-"}


def register(commands: argparse._SubParsersAction) -> None:
    """Add the teaching commands to the top-level parser."""
    concept = commands.add_parser("concept", help="create, list or delete the concepts of an index")
    concept_sub = concept.add_subparsers(dest="concept_command", required=True)
    create = concept_sub.add_parser("create", help="start a concept from a prompt, example items or a diverse sample")
    _index_concept(create)
    start = create.add_mutually_exclusive_group()
    start.add_argument("--prompt", help="text describing the concept (embedders with a text side: clip, st)")
    start.add_argument("--examples", help="comma-separated item ids of positive examples")
    create.add_argument("--strategy", choices=STRATEGY_CHOICES, default="auto",
                        help="auto (default): the start's top items first, exploring only when they run dry")
    create.add_argument("--batch", type=int, default=10, help="items per round (default 10)")
    create.add_argument("--target-label", help="ground-truth label value this concept means (reports AP per round)")
    create.add_argument("--target-column", help="the index's label column holding --target-label (default: the first)")
    _train_options(create)
    create.set_defaults(run=run_concept_create)
    listing = concept_sub.add_parser("list", help="the concepts of an index")
    listing.add_argument("--index", required=True)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=run_concept_list)
    chosen = concept_sub.add_parser("set-threshold", help="keep a decision threshold for the concept (what the "
                                    "Validate page's slider does): export, report and the Map follow it")
    _index_concept(chosen)
    given_threshold = chosen.add_mutually_exclusive_group(required=True)
    given_threshold.add_argument("--threshold", type=arg_types.threshold, help="a logit (0 = probability 0.5)")
    given_threshold.add_argument("--clear", action="store_true", help="forget it (0 is used)")
    chosen.set_defaults(run=run_concept_set_threshold)
    rename = concept_sub.add_parser("rename", help="rename a concept (its ratings, checkpoints and settings follow)")
    _index_concept(rename)
    rename.add_argument("--to", required=True, help="the new name (a name no concept of the index has)")
    rename.set_defaults(run=run_concept_rename)
    delete = concept_sub.add_parser("delete", help="delete a concept with its ratings and checkpoints")
    _index_concept(delete)
    delete.set_defaults(run=run_concept_delete)

    teach = commands.add_parser("teach", help="one round at a time: next, submit, undo, reset-seen, ratings, history")
    teach_sub = teach.add_subparsers(dest="teach_command", required=True)
    nxt = teach_sub.add_parser("next", help="the next items to rate")
    _index_concept(nxt)
    nxt.add_argument("--k", type=int, help="how many (default: the concept's batch size)")
    nxt.add_argument("--strategy", choices=STRATEGY_CHOICES, help="override the concept's strategy once")
    nxt.add_argument("--seed", type=arg_types.seed, help="seed for strategies that sample")
    nxt.add_argument("--fresh", action="store_true",
                     help="after `teach undo`: leave the undone round's items unrated and show the batch the "
                          "strategy picks now (default: the undone items, offered again)")
    nxt.add_argument("--json", action="store_true")
    nxt.set_defaults(run=run_teach_next)
    submit = teach_sub.add_parser("submit", help="rate items (in [-1, 1], or skip), retrain, print the metrics")
    _index_concept(submit)
    given = submit.add_mutually_exclusive_group(required=True)
    given.add_argument("--ratings", help="id=rating pairs, comma-separated; 'skip' as rating skips the item")
    given.add_argument("--file", help="CSV with columns item_id,rating (empty or 'skip' = skipped)")
    submit.add_argument("--expected-round", type=int,
                        help="refuse (write nothing) unless the concept is still at this round "
                             "(`teach history` shows it)")
    submit.add_argument("--json", action="store_true")
    submit.set_defaults(run=run_teach_submit)
    for name, run, text in (("undo", run_teach_undo, "remove the last round's ratings and restore the previous w"),
                            ("reset-seen", run_teach_reset_seen, "let seen items be proposed again (ratings stay)")):
        sub = teach_sub.add_parser(name, help=text)
        _index_concept(sub)
        sub.set_defaults(run=run)
    listing = teach_sub.add_parser("ratings", help="the ratings given so far, per item (CSV: item_id, rating, round; "
                                   "with --all also created_at; an empty rating is a skip)")
    _index_concept(listing)
    listing.add_argument("--all", action="store_true",
                         help="every rating ever given, in order, skips and re-ratings included (default: each "
                              "item's current rating, the ones the classifier trains on)")
    listing.add_argument("--out", help="write the CSV to this file (its item_id and rating columns are what "
                                       "`teach submit --file` reads)")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(run=run_teach_ratings)
    history = teach_sub.add_parser("history", help="the metrics of every round")
    _index_concept(history)
    history.add_argument("--json", action="store_true")
    history.set_defaults(run=run_teach_history)

    export = commands.add_parser("export", help="save a concept's classifier (safetensors + JSON metadata)")
    _index_concept(export)
    export.add_argument("--out", required=True, help="file to write, e.g. cats.safetensors")
    export.add_argument("--threshold", type=arg_types.threshold,
                        help="logit above which predict says positive (default: the concept's, chosen on the "
                             "Validate page or with `concept set-threshold`; else 0)")
    export.set_defaults(run=run_export)

    predict = commands.add_parser("predict", help="score an index with an exported classifier")
    predict.add_argument("--classifier", required=True)
    predict.add_argument("--index", required=True)
    predict.add_argument("--split", choices=("train", "validation", "all"), default="all",
                         help="which items to score (default: all; the AP line then uses the validation items)")
    predict.add_argument("--out", required=True, help="scores.csv or scores.parquet")
    predict.set_defaults(run=run_predict)

    sim = commands.add_parser("simulate", aliases=["teach-sim"],
                              help="replay the loop with ground-truth labels as the annotator; compare strategies")
    sim.add_argument("--index", required=True)
    sim.add_argument("--positive", required=True, help="the label value that counts as positive")
    sim.add_argument("--label-column", help="the index's label column the oracle reads (default: the first)")
    sim.add_argument("--strategy", default="auto",
                     help=f"one or more of {','.join(STRATEGY_CHOICES)}, comma-separated")
    sim.add_argument("--rounds", type=int, default=10)
    sim.add_argument("--batch", type=int, default=10)
    sim.add_argument("--prompt", help="start from this text prompt (embedders with a text side)")
    sim.add_argument("--seed", type=arg_types.seed, default=0)
    sim.add_argument("--target-ap", type=arg_types.ap_target, default=0.9,
                     help="report the ratings needed to reach this AP")
    sim.add_argument("--out", help="write every round as CSV")
    sim.add_argument("--plot", help="save AP against ratings as PNG (or .svg)")
    sim.add_argument("--no-probe", action="store_true", help="skip the linear-probe ceiling")
    _train_options(sim)
    sim.set_defaults(run=run_simulate)


def _index_concept(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True)
    parser.add_argument("--concept", required=True)


def _train_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("training (defaults: core.classifier.TrainConfig)")
    group.add_argument("--lr", type=float)
    group.add_argument("--steps", type=int)
    group.add_argument("--momentum", type=float)
    group.add_argument("--prior-strength", type=float)
    group.add_argument("--warm-start", action="store_true", default=None)
    group.add_argument("--balance", dest="balance", action="store_true", default=None,
                       help="weight positive and negative ratings equally (off by default: measured no better)")
    group.add_argument("--prior-fade", type=float, help="ratings after which the pull toward the start fades")
    group.add_argument("--prior-zero", type=float, help="pull of w toward zero, in ratings (default 1, like C=1)")
    group.add_argument("--background-weight", type=float,
                       help="unrated items count as negatives worth this many ratings in all (default 20; 0 = off)")
    group.add_argument("--background-size", type=int, help="how many unrated train items that sample holds (4096)")
    group.add_argument("--prior-previous", type=float,
                       help="pull of w toward the last round's w, in ratings (default 0; 2 damps round-to-round "
                            "swings, at a cost in AP: see core.classifier)")


def _train_settings(args: argparse.Namespace) -> dict[str, Any]:
    from core.classifier import TrainConfig

    names = {f.name for f in fields(TrainConfig)}
    train = {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}
    try:
        TrainConfig(**train)
    except (TypeError, ValueError) as exc:
        raise FewshotError(f"invalid training setting: {exc}") from None
    return train


def _store(index: str):
    from core.store import Store

    store = Store()
    store.get_index(index)  # a clear error listing the indexes when it does not exist
    return store


def _open(args: argparse.Namespace):
    from core.session import TeachSession

    return TeachSession.open(args.index, args.concept, store=_store(args.index))


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


# ----- concept -----------------------------------------------------------------------------------
def run_concept_create(args: argparse.Namespace) -> int:
    from core.session import MAX_BATCH_SIZE, TeachSession

    if not 1 <= args.batch <= MAX_BATCH_SIZE:
        raise FewshotError(f"--batch must be from 1 to {MAX_BATCH_SIZE:,}, got {args.batch}")
    if args.target_column is not None and args.target_label is None:
        from core.ground_truth import describe_labels, label_set

        labels = label_set(_store(args.index).vectors(args.index), args.target_column)
        raise FewshotError(f"--target-column needs --target-label, the value that counts as positive; "
                           f"column {quoted(args.target_column)} has labels: {describe_labels(labels)}")
    examples = [e.strip() for e in args.examples.split(",") if e.strip()] if args.examples is not None else None
    if examples == []:  # '' or ',' quietly became a diverse start, while an empty --prompt was refused
        raise FewshotError("--examples names no item: give comma-separated item ids of train items, or leave it out "
                           "for a diverse start")
    session = TeachSession.create(
        args.index, args.concept, store=_store(args.index), prompt=args.prompt, examples=examples,
        strategy=args.strategy, batch_size=args.batch, train=_train_settings(args), target_label=args.target_label,
        target_column=args.target_column,
    )
    metrics = session.history()[0].metrics
    ap = f", validation AP {_fmt(metrics.get('ap'))}" if "ap" in metrics else ""
    print(f"concept {args.concept} on {args.index}: started from {session.concept.init}, "
          f"strategy {args.strategy}, batch {args.batch}{ap}")
    return 0


def run_concept_list(args: argparse.Namespace) -> int:
    from core.teach_store import TeachStore

    teach = TeachStore(_store(args.index))
    rows = []
    for c in teach.concepts(args.index):
        history = teach.checkpoints(args.index, c.name)
        last = history[-1] if history else None
        rows.append({**asdict(c), "round": last.round if last else 0,
                     "n_ratings": last.metrics.get("n_ratings", 0) if last else 0,
                     "ap": last.metrics.get("ap") if last else None})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print(f"no concepts on {args.index}; start one with: python -m core concept create --index {args.index} "
              "--concept NAME")
        return 0
    print(f"{'concept':<24} {'init':<9} {'strategy':<9} {'round':>5} {'ratings':>7} {'ap':>6}  target")
    for r in rows:
        print(f"{one_line(r['name']):<24} {r['init']:<9} {r['strategy']:<9} {r['round']:>5} {r['n_ratings']:>7} "
              f"{_fmt(r['ap']):>6}  {_target(r)}")
    return 0


def _target(row: dict[str, Any]) -> str:
    if row.get("target_label") is None:
        return "-"
    label = _cell(row["target_label"])
    return f"{_cell(row['target_column'])}={label}" if row.get("target_column") else label


def _cell(value: Any, limit: int = 80) -> str:
    """A name or label in a table row: one line (controls escaped, bidi neutral), at most ``limit`` characters."""
    text = one_line(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def run_concept_delete(args: argparse.Namespace) -> int:
    from core.teach_store import TeachStore

    teach = TeachStore(_store(args.index))
    if teach.concept(args.index, args.concept) is None:
        raise FewshotError(f"no concept {args.concept!r} on index {args.index!r}")
    teach.delete_concept(args.index, args.concept)
    print(f"deleted concept {args.concept} (ratings and checkpoints) from {args.index}")
    return 0


def run_concept_rename(args: argparse.Namespace) -> int:
    """What the sidebar's rename does: one lock over both names, refused onto a name in use."""
    from core.teach_store import TeachStore

    TeachStore(_store(args.index)).rename_concept(args.index, args.concept, args.to)
    if args.to == args.concept:
        print(f"concept {quoted(args.concept)} already has that name; nothing changed")
    else:
        print(f"renamed concept {quoted(args.concept)} to {quoted(args.to)} on {args.index}")
    return 0


# ----- teach -------------------------------------------------------------------------------------
def run_teach_next(args: argparse.Namespace) -> int:
    if args.k is not None and args.k < 1:
        raise FewshotError(f"--k must be at least 1, got {args.k}")
    session = _open(args)
    if args.fresh:
        session.drop_held()
    batch = session.next_batch(args.k, strategy=args.strategy, seed=args.seed)
    # What the rater judges: the item's text (a text index) or its file (images), not only its id.
    shown = {r["id"]: r.get("text") or r.get("uri") for r in
             session.store.fetch_items(args.index, [c.item_id for c in batch])}
    held = session.held_ratings()
    undone = held[0] if held else {}  # an undone round's items come back with the ratings they had
    if args.json:
        # each item carries the round `teach submit --expected-round` takes (a script needs no `teach history`)
        print(json.dumps([{**asdict(c), "text": shown.get(c.item_id), "round": session.round,
                           **({"undone_rating": undone[c.item_id]} if c.item_id in undone else {})} for c in batch],
                         indent=2))
        return 0
    # the round `teach submit --expected-round` takes (an outside tester had to run `teach history` for it)
    print(f"round {session.round}: {len(batch)} item{'s' * (len(batch) != 1)} to rate; submitting them makes round "
          f"{session.round + 1} (with --expected-round {session.round}, refused if another writer got there first)")
    if session.last_policy_reason:  # why these items (the Teach page shows the same line)
        print(f"why: {one_line(session.last_policy_reason)}")
    if undone:  # what the Teach page shows as their draft: resubmit them as they were, or change some
        again = ",".join(f"{_cell(i)}={'skip' if v is None else f'{v:g}'}" for i, v in undone.items())
        print(f"their ratings before the undo (submit them again, or change some): {again}")
    ids = [_cell(c.item_id) for c in batch]  # whole (up to 80): they are what `teach submit --ratings` takes
    width = max([24, *(len(i) for i in ids)])
    print(f"{'item_id':<{width}} {'score':>8} {'prob':>6}  {'label':<12} text")
    for c, item_id in zip(batch, ids, strict=True):
        label = _cell(c.label, 12) if c.label is not None else "-"
        score = round(float(c.score), 3) + 0.0  # never "-0.000"
        print(f"{item_id:<{width}} {score:>8.3f} {c.probability:>6.3f}  {label:<12} "
              f"{_cell(shown.get(c.item_id) or '-', 70)}")
    return 0


def _rating(text: str) -> float | None | str:
    text = text.strip()
    if text.lower() in SKIP_WORDS:
        return None
    try:
        return float(text)
    except ValueError:
        return text  # the session rejects it with a message naming the item


def parse_ratings(text: str) -> dict[str, float | None | str]:
    """``"a=1,b=-0.5,c=skip"`` -> ``{"a": 1.0, "b": -0.5, "c": None}``."""
    ratings: dict[str, float | None | str] = {}
    for pair in (p.strip() for p in text.split(",")):
        if not pair:
            continue
        item_id, sep, value = pair.rpartition("=")
        if not sep or not item_id.strip():
            raise InvalidRating(f"cannot read {pair!r}: write ratings as item_id=rating (e.g. digits-12=1, or =skip)")
        _once(ratings, item_id.strip(), _rating(value))
    return ratings


def _once(ratings: dict[str, float | None | str], item_id: str, value: float | None | str) -> None:
    """Add one rating; the same item twice with different ratings is refused (which one was meant?)."""
    if item_id in ratings and ratings[item_id] != value:
        raise InvalidRating(f"{item_id!r} is rated twice ({ratings[item_id]!r} and {value!r}); give each item once")
    ratings[item_id] = value


#: A ratings file holds one short line per item: 64 MB is millions of ratings, and the cap keeps a wrong file
#: (a video, /dev/zero, a file with no newline) from taking the machine's memory.
RATINGS_FILE_LIMIT = 64 * 1024 * 1024


def read_ratings_file(path: str) -> dict[str, float | None | str]:
    """Ratings from a CSV with columns item_id and rating; a file that is not one gets a message, not a crash."""
    import io

    from core.source_table import check_unique_columns

    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            text = handle.read(RATINGS_FILE_LIMIT + 1)
    except UnicodeDecodeError as exc:
        raise InvalidRating(f"{quoted(path)} is not UTF-8 text (byte {exc.start}): save the ratings as a UTF-8 "
                            "CSV with columns item_id and rating") from None
    except OSError as exc:
        raise FewshotError(f"cannot read {quoted(path)}: {one_line(exc.strerror or exc)}") from None
    if len(text) > RATINGS_FILE_LIMIT:
        raise InvalidRating(f"{quoted(path)} is larger than {RATINGS_FILE_LIMIT // 2**20} MB: a ratings file "
                            "holds one line per item (item_id,rating)")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader, [])]
        check_unique_columns(quoted(path), header)  # as for tables: which column a name means would be a guess
        missing = {"item_id", "rating"} - set(header)
        if missing:
            raise InvalidRating(f"{quoted(path)} needs columns item_id and rating; missing "
                                f"{', '.join(sorted(missing))}")
        at_id, at_rating = header.index("item_id"), header.index("rating")
        ratings: dict[str, float | None | str] = {}
        for row in reader:
            if len(row) > len(header):
                raise InvalidRating(f"{quoted(path)} line {reader.line_num} has {len(row)} fields, the header "
                                    f"{len(header)} (a comma inside an id needs quotes)")
            # as written: an id stored with spaces around it (" i3 ") is rated by its exact cell;
            # ``_exact_ids`` falls back to the stripped id when the index does not hold the cell's
            item_id = row[at_id] if at_id < len(row) else ""
            if item_id.strip() and at_rating >= len(row):  # no rating field at all, unlike an empty one (a skip)
                raise InvalidRating(f"{quoted(path)} line {reader.line_num} has no rating field (an empty one, "
                                    "'item,', is a skip)")
            if item_id.strip():
                _once(ratings, item_id, _rating(row[at_rating]))
        return ratings
    except csv.Error as exc:
        raise InvalidRating(f"{quoted(path)} line {reader.line_num} is not valid CSV: {one_line(exc)}") from None


def run_teach_submit(args: argparse.Namespace) -> int:
    from core.cli import is_interrupt

    try:
        ratings = parse_ratings(args.ratings) if args.ratings is not None else read_ratings_file(args.file)
        session = _open(args)
        if args.file is not None:
            ratings = _unquote_formula_ids(session, _exact_ids(session, ratings))
    except BaseException as exc:
        if is_interrupt(exc):  # before the submit began
            raise KeyboardInterrupt(f"nothing was written to {args.concept}; run the same command again") from None
        raise
    before = session.round
    try:
        result = session.submit(ratings, expected_round=getattr(args, "expected_round", None))
    except BaseException as exc:
        if is_interrupt(exc):  # say whether the round was written ("what was written is kept" did not)
            raise KeyboardInterrupt(_after_interrupted_submit(args, before)) from None
        return _submit_refused(args, session, exc)
    if args.json:
        print(json.dumps({"round": result.round, "n_new": result.n_new, "n_rerated": result.n_rerated,
                          "metrics": result.metrics}, indent=2))
        return 0
    m = result.metrics
    skips = sum(v is None for v in ratings.values())
    rerated = f" ({result.n_rerated} re-rated)" if result.n_rerated else ""
    skipped = f", {skips} skipped" if skips else ""  # a skip-only submit said "1 new" with no new rating
    parts = [f"round {result.round}: {max(0, result.n_new - skips)} new{rerated}{skipped}",
             f"ratings {m.get('n_ratings')} (+{m.get('n_positive')}/-{m.get('n_negative')})",
             f"loss {_fmt(m.get('loss'))}", f"w moved {_degrees(m.get('cosine_to_previous'))}",
             f"predicted positive {m.get('predicted_positive')} of {len(session.view.ids):,} items "
             f"(threshold {float(m.get('predicted_threshold') or 0.0):+.2f})" if m.get("n_ratings")
             else "predicted positive - (no rating yet: the start ranks, it does not decide)"]
    if "ap" in m:
        rests = f" (on {m['valid_positives']} positives)" if m.get("valid_positives") is not None else ""
        parts.append(f"validation AP {_fmt(m['ap'])}{rests} AUC {_fmt(m.get('auc'))}")
    print(", ".join(parts))
    return 0


def _submit_refused(args: argparse.Namespace, session, exc: BaseException) -> int:
    """A stale batch (an error that says what to do) or a submit that changes nothing (done already: exit 0)."""
    if isinstance(exc, StaleBatch):
        raise StaleBatch(f"{exc} Run `teach next` to see the current batch.") from None
    if isinstance(exc, NothingChanged):  # the same submit run twice: done already, so not an error
        if args.json:
            print(json.dumps({"round": session.round, "n_new": 0, "n_rerated": 0, "unchanged": True}, indent=2))
        else:
            print(one_line(str(exc)))
        return 0
    raise exc


def _after_interrupted_submit(args: argparse.Namespace, before: int) -> str:
    """What a submit stopped by Ctrl-C left: a round is written whole or not at all (one whose classifier was
    not saved yet is finished by this reopen)."""
    try:
        now = _open(args).round
    except (Exception, KeyboardInterrupt):  # noqa: BLE001 - a second Ctrl-C, a lock: say what is sure
        return f"a round is written whole or not at all; run `teach history` to see whether round {before + 1} was"
    if now > before:
        return f"round {now} was written whole (its ratings and classifier); nothing to do again"
    return f"nothing was written: {args.concept} is still at round {before}; run the same command again"


def _exact_ids(session, ratings: dict[str, float | None]) -> dict[str, float | None]:
    """A file's ids as its cells hold them where the index has that id (an outside tester's ``" i3 "`` could
    not be rated: the id was stripped), else stripped (``digits-3 ,1`` typed by hand)."""
    rename = _read_back(session, ratings, str.strip)
    if not rename:
        return ratings
    out: dict[str, float | None] = {}
    for item_id, value in ratings.items():
        _once(out, rename.get(item_id, item_id), value)
    return out


def _unquote_formula_ids(session, ratings: dict[str, float | None]) -> dict[str, float | None]:
    """Ids as `teach ratings --out` wrote them: one starting with = + - @ got a ``'`` so a spreadsheet does not
    run it (core.csv_safe); read back, it means the id without it, unless the index holds the quoted one."""
    from core.csv_safe import FORMULA_STARTS

    def unquoted(item_id: str) -> str | None:
        return item_id[1:] if item_id.startswith("'") and item_id[1:].startswith(FORMULA_STARTS) else None

    rename = _read_back(session, ratings, unquoted)
    return {rename.get(i, i): v for i, v in ratings.items()}


def _read_back(session, ratings: dict[str, float | None], other) -> dict[str, str]:
    """``{id: other(id)}`` for the file's ids the index does not hold whose other reading it does (one scan of the
    index's ids, only when some id has another reading)."""
    readings = {i: alt for i in ratings if (alt := other(i)) is not None and alt != i}
    if not readings:
        return {}
    wanted = {*readings, *readings.values()}
    known = {i for i in session.view.ids.tolist() if i in wanted}
    return {i: alt for i, alt in readings.items() if i not in known and alt in known}


def _degrees(cosine: Any) -> str:
    """How far ``w`` turned this round, as the Teach page says it (degrees), with the cosine it comes from."""
    from core.drift import turn_degrees

    angle = turn_degrees(cosine)
    return "-" if angle is None else f"{angle:.1f} degrees (cosine {_fmt(cosine)})"


def run_teach_undo(args: argparse.Namespace) -> int:
    round_ = _open(args).undo()
    print(f"undone: back at round {round_}")
    return 0


def run_teach_reset_seen(args: argparse.Namespace) -> int:
    _open(args).reset_seen()
    print("every item can be proposed again; the ratings so far still train the classifier")
    return 0


def run_teach_ratings(args: argparse.Namespace) -> int:
    import pandas as pd

    from core import csv_safe

    wanted = ".json" if args.json else ".csv"
    if args.out and Path(args.out).suffix.lower() not in (wanted, ".txt"):
        # an outside tester overwrote an exported classifier with `--out cats.safetensors`
        raise FewshotError(f"--out {quoted(args.out)} does not end in {wanted}: the ratings are written as "
                           f"{wanted[1:].upper()}; name the file *{wanted} (nothing was written)")
    session = _open(args)
    if args.all:
        rows = [{"item_id": r["item_id"], "rating": r["rating"], "round": r["round"], "created_at": r["created_at"]}
                for r in session.teach.label_rows(session.index, session.concept.name)]
    else:
        current = session.ratings()
        rows = [{"item_id": str(i), "rating": float(v), "round": int(n)}
                for i, v, n in zip(current.item_ids, current.ratings.tolist(), current.rounds.tolist(), strict=True)]
    if args.json:
        text = json.dumps(rows, indent=2) + "\n"
    else:  # ids never run as spreadsheet formulas
        text = csv_safe.to_csv(pd.DataFrame(rows, columns=["item_id", "rating", "round",
                                                           *(["created_at"] if args.all else [])]))
    if not args.out:
        print(text, end="")
        return 0
    out = Path(args.out)
    if not out.parent.is_dir():  # one line, as before, not a folder made on the way
        raise FewshotError(f"cannot write {quoted(args.out)}: No such file or directory")
    try:
        write_atomic(out, text.encode("utf-8"))  # whole or not at all: a kill mid-write left a 0-byte file
    except OSError as exc:  # a folder named like the file, a read-only place: one line, not a traceback
        raise FewshotError(f"cannot write {quoted(args.out)}: {one_line(exc.strerror or exc)}") from None
    if args.all:  # every rating given, skips and re-ratings too: not the count the other surfaces show
        skips = sum(1 for r in rows if r["rating"] is None or r["rating"] != r["rating"])  # null or NaN
        print(f"wrote {len(rows):,} rows of {args.concept}'s rating history (re-ratings and {skips:,} skips "
              f"included; {len(session.ratings()):,} current ratings; round {session.round}) to {args.out}")
    else:
        print(f"wrote {len(rows):,} ratings of {args.concept} (round {session.round}) to {args.out}")
    return 0


HISTORY_KEYS = ("n_ratings", "loss", "cosine_to_previous", "predicted_positive", "predicted_threshold", "ap")


def run_teach_history(args: argparse.Namespace) -> int:
    session = _open(args)
    history = session.history()
    rows = [{"round": c.round, **{k: c.metrics.get(k) for k in HISTORY_KEYS}, "created_at": c.created_at}
            for c in history]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    # pred_pos: items of the whole index predicted positive, at the threshold in force when the round was trained
    # (`at`): a threshold set later does not rewrite the history (an auditor read 458 -> 301 as a drop)
    print(f"{'round':>5} {'ratings':>7} {'loss':>7} {'cos_prev':>8} {'pred_pos':>8} {'at':>6} {'ap':>6}")
    for r in rows:
        decided = r["predicted_positive"] is not None and r["n_ratings"] != 0  # one rule with the app's pages
        at = f"{float(r.get('predicted_threshold') or 0.0):+.2f}" if decided else "-"
        print(f"{r['round']:>5} {_fmt(r['n_ratings']):>7} {_fmt(r['loss']):>7} {_fmt(r['cosine_to_previous']):>8} "
              f"{_fmt(r['predicted_positive'] if decided else None):>8} {at:>6} {_fmt(r['ap']):>6}")
    print(f"pred_pos: items of the whole index ({len(session.view.ids):,}) predicted positive at the threshold `at` "
          "in force when the round was trained; '-' before the first rating (the start ranks, it does not decide)")
    return 0


# ----- export / predict ----------------------------------------------------------------------------
def run_export(args: argparse.Namespace) -> int:
    from core.export import export_session

    session = _open(args)
    path = export_session(session, args.out, threshold=args.threshold)
    threshold = session.threshold if args.threshold is None else args.threshold
    whose = "" if args.threshold is not None else " (the concept's)" if session.concept.threshold is not None \
        else " (none chosen for the concept: `concept set-threshold` or the Validate page)"
    print(f"saved {args.concept} (round {session.round}, {len(session.ratings())} ratings, "
          f"{session.info.embedder}, {session.info.dim}-d) at threshold {threshold:+.2f}{whose} to {path}")
    if not len(session.ratings()):  # a zero-shot classifier is allowed, but its threshold was never learnt
        print("note: no rating yet: this classifier is the start (a ranking by the prompt or examples); at a threshold "
              "it calls most items positive until it is trained on ratings")
    return 0


def run_concept_set_threshold(args: argparse.Namespace) -> int:
    session = _open(args)
    session.set_threshold(None if args.clear else args.threshold)
    if args.clear:
        print(f"{args.concept}: threshold forgotten; 0 (probability 0.5) is used")
    else:
        print(f"{args.concept}: threshold {session.threshold:+.2f} (probability "
              f"{0.5 * (1 + math.tanh(session.threshold / 2)):.3f}); export, report and the Map follow it")
    return 0


def run_predict(args: argparse.Namespace) -> int:
    from core.export import predict

    split = None if args.split == "all" else args.split
    if ":" in args.index:  # `--index folder:new-photos/`: new items are scored once they are an index
        raise FewshotError(f"--index takes an index name, not a source ({quoted(args.index)}): index the new items "
                           "first with the classifier's embedder (python -m core index --name NEW --source "
                           f"{shlex.quote(args.index)} --embedder ...), then run predict --index NEW")
    table = predict(args.classifier, args.index, split=split, store=_store(args.index), out=args.out)
    if table.attrs.get("note"):
        print(f"note: {table.attrs['note']}")
    print(f"wrote {len(table)} predictions ({int(table['predicted'].sum())} positive) to {args.out}")
    m = table.attrs.get("metrics")
    if m:  # the concept's ground truth is in this index: how the classifier does on it
        target = f"{one_line(str(m['target_column']))}={one_line(str(m['target_label']))}"
        which = "" if m["split"] == "all" else f"{m['split']} "
        print(f"against {_cell(target, 60)}: AP {_fmt(m['ap'])} (on {m['n_positive']} positives of "
              f"{m['n_labelled']} labelled {which}items), at threshold {m['threshold']:g}: "
              f"precision {_fmt(m['precision'])} recall {_fmt(m['recall'])}")
        if m["split"] != "validation":
            print("note: these items may include the ones rated while teaching, which flatters the AP; "
                  "the validation items are held out")
    return 0


# ----- simulate ----------------------------------------------------------------------------------
def run_simulate(args: argparse.Namespace) -> int:
    from core import simulate as sim

    strategies = [s.strip().lower() for s in args.strategy.split(",") if s.strip()]
    unknown = [s for s in strategies if s not in STRATEGY_CHOICES]
    if not strategies or unknown:
        raise FewshotError(
            f"unknown strategy {', '.join(unknown) or '(none)'}; choose from {', '.join(STRATEGY_CHOICES)}"
        )
    if args.rounds < 0 or args.batch < 1:
        raise FewshotError("--rounds must be >= 0 and --batch >= 1")
    for path, kind in ((args.out, "--out"), (args.plot, "--plot")):
        if path and not Path(path).parent.exists():
            raise FewshotError(f"{kind}: folder {Path(path).parent} does not exist")
    store = _store(args.index)
    sim.check_label(store, args.index, args.positive, args.label_column)

    def show(row: dict[str, Any]) -> None:
        policy = f"  [{row['policy']}]" if row.get("policy") and row["policy"] != row["strategy"] else ""
        print(f"{row['strategy']:<9} round {row['round']:>3}  ratings {row['n_ratings']:>4}  "
              f"positives {row['n_positive']:>3} (+{row['new_positive']})  "
              f"ap {_fmt(row['ap'])}  auc {_fmt(row['auc'])}{policy}", flush=True)

    rows = sim.compare(args.index, args.positive, strategies, args.rounds, args.batch, prompt=args.prompt,
                       store=store, train=_train_settings(args), seed=args.seed, on_round=show,
                       label_column=args.label_column)
    probe = None
    if not args.no_probe:
        try:
            probe = sim.linear_probe_ap(store, args.index, args.positive, args.label_column)
        except FewshotError as exc:  # the rounds ran: keep them, say why there is no ceiling
            print(f"linear probe skipped: {exc}")
    for strategy in strategies:
        ran = max((r["round"] for r in rows if r["strategy"] == strategy), default=0)
        if ran < args.rounds:
            print(f"note: {strategy} stopped after round {ran} of {args.rounds}: every train item had been rated")
    for s in sim.summarize(rows, ap_target=args.target_ap):
        reached = f"{s['ratings_to_target']} ratings" if s["ratings_to_target"] is not None else "not reached"
        ratio = f" ({s['final_ap'] / probe:.0%} of probe)" if probe and s["final_ap"] is not None else ""
        starving = "  NO POSITIVE FOUND" if s["n_positive"] == 0 else ""
        print(f"summary {s['strategy']:<9} final ap {_fmt(s['final_ap'])}{ratio} after {s['n_ratings']} ratings; "
              f"positives found {s['n_positive']} (per round {' '.join(map(str, s['positives_per_round']))}); "
              f"ratings to reach AP {args.target_ap:g}: {reached}; largest AP drop between rounds "
              f"{s['max_drop']:.3f}{starving}")
    if probe is not None:
        print(f"linear probe (every train label) ap {probe:.3f}")
    if args.out:
        print(f"wrote {sim.write_rows(rows, args.out)}")
    if args.plot and not any(r["ap"] is not None for r in rows):  # the rounds ran: keep the exit code
        print("plot skipped: no round has a validation AP (the validation split needs positives and negatives "
              "of the target label)")
    elif args.plot:
        column = f"{args.label_column}=" if args.label_column else "label "
        title = f"{args.index}: {column}{args.positive!r}"
        print(f"wrote {sim.plot_label_efficiency(rows, args.plot, probe_ap=probe, title=title)}")
    return 0
