"""``python -m core report``: the offline HTML report of a concept (and a PNG of its map)."""

from __future__ import annotations

import argparse
from pathlib import Path

from core.cli import arg_types


def register(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="write a self-contained HTML report of a concept (opens offline)")
    report.add_argument("--index", required=True)
    report.add_argument("--concept", required=True)
    report.add_argument("--out", required=True, help="the HTML file to write")
    report.add_argument("--png", default=None, help="also write the map at the latest round as a PNG")
    report.add_argument("--threshold", type=arg_types.threshold,
                        help="decision threshold (logit) for metrics (default: the concept's, else 0)")
    report.add_argument("--max-points", type=int, default=None,
                        help="draw at most this many items on the map (a random sample above; default 100,000)")
    report.set_defaults(run=run_report)


def run_report(args: argparse.Namespace) -> int:
    from core.errors import FewshotError
    from core.report import REPORT_MAX_POINTS
    from core.report_build import write_report
    from core.store import Store

    out = Path(args.out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise FewshotError(f"--out must name an .html file, not {str(out)!r}")
    if args.png is not None and not str(args.png).lower().endswith(".png"):
        raise FewshotError(f"--png must name a .png file, not {args.png!r}")
    if args.max_points is not None and args.max_points < 1:
        raise FewshotError(f"--max-points must be at least 1, got {args.max_points}")
    if not out.parent.is_dir():
        raise FewshotError(f"the folder of --out does not exist: {str(out.parent)!r}")
    result = write_report(Store(), args.index, args.concept, out, png=args.png, threshold=args.threshold,
                          max_points=REPORT_MAX_POINTS if args.max_points is None else args.max_points)
    sampled = result.n_points < result.n_items
    sample = f" (a sample of {result.n_points:,} of {result.n_items:,} items)" if sampled else ""
    rounds = f"{result.n_rounds} round{'s' * (result.n_rounds != 1)}"  # "1 rounds" before
    print(f"wrote {result.path} ({result.n_bytes / 1e6:.1f} MB, {rounds}{sample})")
    if result.png_path is not None:
        print(f"wrote {result.png_path}")
    return 0
