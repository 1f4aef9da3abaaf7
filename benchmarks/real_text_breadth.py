"""Label efficiency across many real concepts and prompts: is the default at least the peer on average?

Why a second benchmark: ``real_text_efficiency.py`` judges six concepts with one prompt each, and
their validation splits hold 16-82 positives, so one concept's AP after 100 ratings moves by
+-0.03 with the background sample or a solver tolerance (its paired-bootstrap intervals). Here
every concept gets three prompts a person might type, the six shared label columns are joined by
seven more read the same way from the package name (``django-*``, ``odoo*-*``, ``types-*``,
``alibabacloud-*``, ``collective.*`` = Plone, ``streamlit-*``, ``flake8-*``; 0.07-2.4%, up to 676
validation positives), and ``--prevalence 0.015`` replays every concept with negatives subsampled
to 1.5% positives (the regime of a 1-2% concept). Each run replays 10 rounds of 10 oracle ratings
in memory, exactly as ``core.simulate`` would (``real_text_efficiency.fast_replay``), for:
``auto`` (the default policy and learner), ``auto+before`` (the learner before the unrated
background and the pull toward zero), ``nearest`` (same learner) and the small-text peer
(scikit-learn logistic regression C=1, least confidence); any ``STRATEGY+LEARNER`` of
``real_text_efficiency.LEARNERS`` too (``auto+steady``: the pull toward the last round's ``w``).
Prints one line per run, then per arm: mean AP after 100 ratings, mean gap to the peer over the 39
runs, concepts where the 3-prompt mean is >= the peer's, runs with a drop > 0.05 between rounds, runs
whose first 30 ratings found fewer positives than ``nearest``::

    FEWSHOT_HOME=... python benchmarks/real_text_breadth.py --index pypi [--prevalence 0.015]

The index is the one ``real_text_efficiency.py`` builds (six label columns, ids = package names).
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from real_text_efficiency import LEARNERS, Split, fast_replay, max_drop, peer_replay  # noqa: E402

#: concept -> (label column of the index, or a regular expression on the lower-cased id), three prompts
CONCEPTS: dict[str, tuple[str, list[str]]] = {
    "pytest": ("pytest", ["a pytest plugin", "plugin that extends pytest", "pytest fixtures and test helpers"]),
    "flask": ("flask", ["an extension for Flask web apps", "Flask extension",
                        "adds a feature to a Flask application"]),
    "docs_plugin": ("docs_plugin", ["a documentation theme or plugin for Sphinx or MkDocs", "Sphinx extension",
                                    "MkDocs plugin or theme"]),
    "napari": ("napari", ["a napari plugin", "plugin for the napari image viewer",
                          "napari widget for microscopy image analysis"]),
    "hardware_driver": ("hardware_driver", ["a driver for Adafruit hardware", "CircuitPython driver for a sensor",
                                            "Adafruit breakout board library"]),
    "robotframework": ("robotframework", ["a Robot Framework library", "keyword library for Robot Framework",
                                          "Robot Framework test automation extension"]),
    "django": (r"re:^django[-_.]", ["a Django app or extension", "reusable Django application",
                                    "Django package for web projects"]),
    "odoo": (r"re:^odoo(\d+)?[-_.]", ["an Odoo addon module", "Odoo module", "an Odoo ERP extension"]),
    "types": (r"re:^types[-_.]", ["type stubs for a Python package", "typing stubs", "PEP 561 type stub package"]),
    "alibabacloud": (r"re:^alibabacloud[-_.]", ["the Alibaba Cloud SDK for a service", "Alibaba Cloud Python SDK",
                                                "aliyun API client"]),
    "collective": (r"re:^collective[-_.]", ["an add-on for the Plone CMS", "Plone add-on", "Plone product"]),
    "streamlit": (r"re:^streamlit[-_.]", ["a Streamlit component", "custom component for Streamlit apps",
                                          "Streamlit extension"]),
    "flake8": (r"re:^flake8[-_.]", ["a flake8 plugin", "flake8 extension that adds lint checks",
                                    "linter plugin for flake8"]),
}
ARMS = ("auto", "auto+before", "nearest", "lr_peer")


def concept_split(view, source: str, prevalence: float | None) -> Split:
    """The concept's train/validation data; with ``prevalence``, negatives subsampled (fixed seed) to it."""
    from core.ground_truth import known_mask, truth

    if source.startswith("re:"):
        pattern = re.compile(source[3:])
        y = np.array([bool(pattern.match(str(i).lower())) for i in view.ids])
        return Split.of_labels(view, y, np.ones(len(y), dtype=bool), prevalence)
    return Split.of_labels(view, truth(view, source, "1"), known_mask(view, source), prevalence)


def run(split: Split, vector: np.ndarray, arm: str) -> list[dict]:
    if arm == "lr_peer":
        return peer_replay(split, vector, 10, 10, 0)
    strategy, _, learner = arm.partition("+")
    return fast_replay(split, vector, strategy, 10, 10, 0, LEARNERS[learner] if learner else None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--index", default="pypi")
    parser.add_argument("--prevalence", type=float, default=None, help="subsample negatives to this share")
    parser.add_argument("--concepts", default=",".join(CONCEPTS))
    parser.add_argument("--arms", default=",".join(ARMS))
    args = parser.parse_args(argv)

    from core.embedders import load_embedder
    from core.store import Store

    t0 = time.perf_counter()
    store = Store()
    info = store.get_index(args.index)
    embedder = load_embedder(info.embedder)
    view = store.vectors(args.index)
    arms = [a for a in args.arms.split(",") if a]
    concepts = [c for c in args.concepts.split(",") if c]
    finals: dict[str, list[float]] = {a: [] for a in arms}
    by_concept: dict[tuple[str, str], list[float]] = {}
    drops = {a: 0 for a in arms}
    starved = {a: 0 for a in arms}
    first30: dict[tuple[str, int, str], int] = {}
    for concept in concepts:
        source, prompts = CONCEPTS[concept]
        split = concept_split(view, source, args.prevalence)
        print(f"concept={concept} train={len(split.y)} positives={int(split.y.sum())} "
              f"prevalence={split.y.mean():.4f} validation_positives={int(split.yv.sum())}", flush=True)
        for i, prompt in enumerate(prompts):
            vector = embedder.embed_texts([prompt])[0]
            for arm in arms:
                rows = run(split, vector, arm)
                aps = [r["ap"] for r in rows]
                finals[arm].append(aps[-1])
                by_concept.setdefault((concept, arm), []).append(aps[-1])
                drops[arm] += max_drop(aps) > 0.05
                starved[arm] += rows[-1]["n_positive"] == 0
                first30[(concept, i, arm)] = sum(r["new_positive"] for r in rows[1:4])
                print(f"run concept={concept} prompt={i} arm={arm} positives={rows[-1]['n_positive']} "
                      f"first30={first30[(concept, i, arm)]} ap_final={aps[-1]:.3f} max_drop={max_drop(aps):.3f} "
                      "ap_by_round=" + ",".join(f"{a:.2f}" for a in aps), flush=True)
    peer = np.array(finals.get("lr_peer", []))
    for arm in arms:
        f = np.array(finals[arm])
        line = f"arm={arm} runs={len(f)} mean_ap_after_100={f.mean():.3f} runs_with_drop_over_0.05={drops[arm]}"
        line += f" runs_with_0_positives={starved[arm]}"
        if len(peer) and arm != "lr_peer":
            gaps = {c: np.mean(by_concept[(c, arm)]) - np.mean(by_concept[(c, "lr_peer")]) for c in concepts}
            line += (f" mean_gap_to_peer={np.mean(f - peer):+.3f} concepts_ge_peer={sum(g >= 0 for g in gaps.values())}"
                     f"/{len(gaps)} worst_concept_gap={min(gaps.values()):+.3f}")
        if "nearest" in arms and arm == "auto":  # nearest runs with the default learner, as auto does
            line += " first30_below_nearest=" + str(sum(
                first30[(c, i, arm)] < first30[(c, i, "nearest")] for c in concepts for i in range(3)))
        print(line)
    print(f"elapsed_s={time.perf_counter() - t0:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
