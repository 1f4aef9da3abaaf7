"""``index`` and ``list``: build an index from a source, show what the workspace holds."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from core.errors import FewshotError
from core.text_safety import one_line


def register(commands: argparse._SubParsersAction) -> None:
    index = commands.add_parser(
        "index",
        help="embed a dataset into a LanceDB index (resumes if interrupted)",
        description=(
            "SOURCE: demo:digits | folder:PATH | file:PATH (csv/parquet/jsonl) | hf:DATASET_ID. "
            "EMBEDDER: clip[:CHECKPOINT] | st[:MODEL] (st:minilm is bundled, offline) | pixels[:N]."
        ),
    )
    index.add_argument("--name", required=True, help="index name (letters, digits, - and _)")
    index.add_argument("--source", required=True)
    index.add_argument("--embedder", required=True)
    index.add_argument("--text-column")
    index.add_argument("--label-column", action="append", dest="label_columns", metavar="COLUMN",
                       help="a ground-truth column; repeat for several (the first is the default target)")
    index.add_argument("--image-column")
    index.add_argument("--id-column", help="tables: the column holding stable item ids (default: id when present)")
    index.add_argument("--split-column", help="tables: the column saying train or validation (default: the one "
                                              "`preview` finds, as the app picks it; else a hash of the id)")
    index.add_argument("--random-split", action="store_true",
                       help="tables: split 20%% to validation by a hash of the id even when a split column is found")
    index.add_argument("--config", help="Hugging Face dataset config, e.g. 320px")
    index.add_argument("--split", help="Hugging Face split(s), comma-separated, e.g. train,validation")
    index.add_argument("--batch-size", type=int)
    index.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    index.add_argument("--skipped-report", help="write the skipped items (id, uri, reason) to this CSV")
    index.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local (default): this process; ray: Ray Data actors (needs requirements-scale.txt)")
    index.add_argument("--ray-address", help="with --engine ray: auto, ray://HOST:10001, or unset for a local Ray")
    index.add_argument("--actors", type=int, help="with --engine ray: embedding actors (default: one per GPU or CPU)")
    index.set_defaults(run=run_index)

    listing = commands.add_parser("list", help="list the indexes in the workspace")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.set_defaults(run=run_list)

    delete = commands.add_parser("delete-index", help="delete an index, its vectors and every concept taught on it")
    delete.add_argument("name", help="the index to delete")
    delete.add_argument("--yes", action="store_true", help="really delete (required: nothing can be undone)")
    delete.set_defaults(run=run_delete_index)


def run_index(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.source_base import no_validation_warning, split_note
    from core.sources import parse_source
    from core.store import validate_index_name

    validate_index_name(args.name)  # before the model loads and the progress bar starts
    from core.build_lock import refuse_if_building
    from core.store import Store

    refuse_if_building(Store().root, args.name)  # a build of it is running: say so before loading a model
    options = {
        k: v
        for k, v in {
            "text_column": args.text_column,
            "label_columns": args.label_columns,
            "image_column": args.image_column,
            "id_column": args.id_column,
            "split_column": args.split_column,
            "config": args.config,
            "split": args.split,
        }.items()
        if v is not None
    }
    if args.random_split and args.split_column is not None:
        raise FewshotError("--random-split and --split-column contradict each other: pick one")
    source = _zip_on_disk(args) or parse_source(args.source, **options)
    found_split = None
    if args.split_column is None and not args.random_split and (found_split := _found_split_column(source)):
        source = parse_source(args.source, **{**options, "split_column": found_split})
    if args.engine == "local" and (args.ray_address or args.actors):
        raise FewshotError("--ray-address and --actors need --engine ray")
    embedder = None if args.engine == "ray" else load_embedder(args.embedder, device=args.device,
                                                               batch_size=args.batch_size)
    bar = tqdm(total=source.count(), unit="item", desc=f"indexing {args.name}")

    def on_progress(p) -> None:
        bar.total = p.total
        bar.n = p.done
        bar.set_postfix(added=p.added, skipped=p.skipped, refresh=False)
        bar.refresh()

    try:
        if args.engine == "ray":
            try:
                from core.scale.ray_index import build_index_ray
            except ImportError as exc:
                raise FewshotError(f"--engine ray needs the scale-out packages ({exc}): "
                                   "pip install -r requirements-scale.txt") from None
            report = build_index_ray(args.name, source, args.embedder, ray_address=args.ray_address,
                                     actors=args.actors, batch_size=args.batch_size, device=args.device,
                                     progress=on_progress)
        else:
            report = build_index(args.name, source, embedder, progress=on_progress, batch_size=args.batch_size)
    finally:
        bar.close()
    info = report.info
    counts = ", ".join(f"{k}={v}" for k, v in sorted(info.counts.items()))
    print(
        f"index {info.name}: {info.n_items} items ({counts}), {info.dim}-d {info.embedder}; "
        f"added {report.added} in {report.elapsed_s:.1f}s ({report.rate:.0f}/s), "
        f"{report.already_present} already present, {len(report.skipped)} skipped"
        + (f"; {note}" if (note := split_note(source.describe())) else "")
        + (" (found by its name and values, as the app picks it; --random-split splits at random instead)"
           if found_split is not None else "")
    )
    no_column = "use --random-split" if found_split is not None else "leave --split-column out"
    if warning := no_validation_warning(info.counts, source.describe(), no_column=no_column):
        print(f"warning: {warning}", file=sys.stderr)
    for item in report.skipped[:10]:
        print(f"  skipped {one_line(item.id)}: {one_line(item.reason)}")  # ids and file names are the data's
    if len(report.skipped) > 10:
        print(f"  ... and {len(report.skipped) - 10} more (use --skipped-report FILE)")
    if args.skipped_report:
        _write_skipped(args.skipped_report, report.skipped)
    fit = getattr(report, "map_fit", None)
    if fit is not None and getattr(fit, "pid", None):  # a process that outlives this command: say so
        print(f"map: its UMAP is fitting in the background (process {fit.pid}; the Map page shows it when done; "
              "FEWSHOT_AUTO_MAP=0 turns this off)")
    return 0


def _write_skipped(path: str, skipped) -> None:
    import csv

    try:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "uri", "reason"])
            from core import csv_safe

            writer.writerows(csv_safe.row([s.id, s.uri, s.reason]) for s in skipped)
    except OSError as exc:
        raise FewshotError(f"could not write the skipped report to {path}: {exc}") from exc


def run_delete_index(args: argparse.Namespace) -> int:
    from core.errors import IndexNotFound
    from core.store import Store, validate_index_name
    from core.teach_store import TeachStore

    validate_index_name(args.name)
    teach = TeachStore(Store())
    try:
        info = teach.store.get_index(args.name)
    except IndexNotFound:
        if not teach.index_leftovers(args.name):
            raise
        if not args.yes:  # a delete killed after the listing went: the rest can still go
            raise FewshotError(f"index {args.name!r} is not listed, but a delete cut short left its data behind: "
                               "run again with --yes to remove it") from None
        teach.delete_index(args.name)
        print(f"removed what a delete cut short left of index {args.name!r}")
        return 0
    if not args.yes:
        concepts = len(teach.concepts(args.name))
        raise FewshotError(f"this deletes index {args.name!r} ({info.n_items:,} items, {concepts} concept(s)) "
                           f"for good: run again with --yes to delete it")
    deleted = teach.delete_index(args.name)
    print(f"deleted index {args.name!r} and {len(deleted)} concept(s)"
          + (f": {', '.join(deleted)}" if deleted else ""))
    return 0


def run_list(args: argparse.Namespace) -> int:
    from core.store import Store

    store = Store()
    infos = store.list_indexes()
    if args.json:
        print(json.dumps([json.loads(i.to_json()) for i in infos], indent=2))
        return 0
    if not infos:
        print(f"no indexes in {store.root}; build one with: python -m core index --name digits "
              "--source demo:digits --embedder pixels")
        return 0
    print(f"{'name':<20} {'items':>8} {'train':>8} {'valid':>8} {'dim':>5}  {'status':<11} embedder")
    cut_short = False
    for i in infos:
        counts = store.stored_counts(i)
        status = _build_status(store, i)
        cut_short |= status == "interrupted"
        print(
            f"{i.name:<20} {sum(counts.values()):>8} {counts.get('train', 0):>8} {counts.get('validation', 0):>8} "
            f"{i.dim:>5}  {status:<11} {i.embedder}"
        )
    if cut_short:
        print("interrupted: the build stopped before its end (what it embedded is kept); run the same index command "
              "again to resume it, or delete-index it")
    return 0


def _build_status(store, info) -> str:
    """The stored status, but "interrupted" for a build nobody is running (killed or stopped: it said "building"
    forever, where the app said interrupted)."""
    from core.build_lock import BuildInProgress, refuse_if_building

    if info.status != "building":
        return info.status
    try:
        refuse_if_building(store.root, info.name)
    except BuildInProgress:
        return "building"
    return "interrupted"


def _found_split_column(source) -> str | None:
    """The split column ``preview`` (and the app's Index form) finds in a table file: a column named split,
    subset, fold or set, or one whose values are all split names. Without it the CLI split at random a file
    the app split by its column, so the two measured on different items."""
    from core.source_table import TextTable
    from core.table_preview import SPLIT_NAMES, preview_table

    if not isinstance(source, TextTable):
        return None
    try:
        preview = preview_table(source.path.name, source.path)
    except FewshotError:
        return None
    column = preview.split_column
    values = {str(r[column]).strip().lower() for r in preview.rows if column is not None and r.get(column)}
    # only a column of split names: "split" holding A/B put every item in train (the hash split held 20% out)
    return column if values and values <= SPLIT_NAMES else None


def _zip_on_disk(args: argparse.Namespace):
    """``folder:photos.zip``: extracted safely under the workspace (as an upload in the app), then indexed."""
    kind, _, rest = str(args.source).partition(":")
    path = Path(rest.strip()).expanduser()
    if kind.strip().lower() != "folder" or path.suffix.lower() != ".zip" or not path.is_file():
        return None
    from core.uploads import folder_source_from_upload

    return folder_source_from_upload(args.name, path.name, path)
