"""The MAP logistic regression learner: exact, prior-centred, graded ratings keep their meaning."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from core.classifier import LinearHead, TrainConfig
from core.logreg import fit_map


def _data(n: int = 200, dim: int = 32, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (X[:, 0] + 0.3 * rng.standard_normal(n)) > 0.1
    return X.astype(np.float32), y


def test_matches_scikit_learn_when_the_prior_is_centred_on_zero():
    from sklearn.linear_model import LogisticRegression

    X, y = _data()
    ref = LogisticRegression(C=10.0, tol=1e-10, max_iter=10_000).fit(X, y)
    fit = fit_map(X, y.astype(float), np.zeros(X.shape[1]), lam=0.1, lam_b=1e-9)
    assert fit.converged
    np.testing.assert_allclose(fit.w, ref.coef_[0], atol=2e-3)  # products run in float32
    assert abs(fit.b - ref.intercept_[0]) < 2e-3


def test_prior_pulls_toward_the_start_vector():
    X, y = _data(n=20)
    w0 = np.zeros(X.shape[1])
    w0[1] = 5.0
    weak = fit_map(X, y.astype(float), w0, lam=0.01)
    strong = fit_map(X, y.astype(float), w0, lam=100.0)
    assert np.linalg.norm(strong.w - w0) < 0.1 * np.linalg.norm(weak.w - w0)


def test_graded_ratings_are_soft_targets():
    """A rating of +0.5 means target 0.75: one item rated alone settles at probability 0.75."""
    x = np.zeros((1, 4), dtype=np.float32)
    x[0, 0] = 1.0
    head = LinearHead.init_from_vector(None, 4, config=TrainConfig(prior_strength=1e-3, bias_prior=1e-6))
    head.fit(np.repeat(x, 50, axis=0), np.full(50, 0.5))
    assert abs(float(head.predict_proba(x)[0]) - 0.75) < 0.01


def test_all_negative_ratings_keep_the_bias_finite_and_the_ranking_of_the_start():
    X, _ = _data(n=300)
    start = X[0]
    head = LinearHead.init_from_vector(start, X.shape[1])
    before = np.argsort(-head.decision(X))[:20]
    head.fit(X[100:110], -np.ones(10))
    assert np.isfinite(head.b) and head.b < 0
    after = np.argsort(-head.decision(X))[:20]
    assert len(set(before.tolist()) & set(after.tolist())) >= 10  # the prior keeps the start's ranking


def test_the_fit_depends_on_the_ratings_only_not_their_order():
    X, y = _data(n=60)
    r = np.where(y, 1.0, -1.0)
    a = LinearHead.init_from_vector(X[0], X.shape[1])
    b = LinearHead.init_from_vector(X[0], X.shape[1])
    order = np.random.default_rng(3).permutation(len(r))
    a.fit(X, r)
    b.fit(X[order], r[order])
    np.testing.assert_allclose(a.w, b.w, atol=1e-5)
    assert abs(a.b - b.b) < 1e-5


def test_fitting_does_not_import_torch():
    code = ("import sys, numpy as np; from core.classifier import LinearHead; "
            "h = LinearHead.init_from_vector(np.ones(8), 8); h.fit(np.eye(8, dtype=np.float32), np.ones(8)); "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _prompt_region(seed: int, n: int = 20_000, dim: int = 64, k: int = 400):
    """Unit vectors; ``k`` of them crowd around the prompt, half positive, half confusable negatives."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, dim))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    prompt = rng.standard_normal(dim)
    prompt /= np.linalg.norm(prompt)
    side = rng.standard_normal(dim)
    side -= (side @ prompt) * prompt
    side /= np.linalg.norm(side)
    near = 0.6 * X[:k] + prompt
    near[: k // 2] += 0.3 * side
    near[k // 2:] -= 0.3 * side
    X[:k] = near / np.linalg.norm(near, axis=1, keepdims=True)
    y = np.zeros(n, dtype=bool)
    y[: k // 2] = True
    return X.astype(np.float32), y, prompt.astype(np.float32)


def test_a_mixed_first_batch_from_the_top_of_the_ranking_does_not_collapse_it():
    """The first batch is the start's top 10, a sample chosen by the start itself; the default prior keeps it steady.

    Issue 10 follow-up: priors chosen from the ratings (evidence, leave-one-out) came out weak on such
    a batch and AP on the real collection fell from 0.46 to 0.01 after one round. A weak prior does
    the same here (AP ~0.3, below the start's ~0.5): the check can fail.
    """
    from sklearn.metrics import average_precision_score

    for seed in range(3):
        X, y, prompt = _prompt_region(seed)
        aps = {}
        for name, config in (("default", TrainConfig()), ("weak", TrainConfig(prior_strength=0.01, prior_fade=None))):
            head = LinearHead.init_from_vector(prompt, X.shape[1], config=config)
            start_ap = average_precision_score(y, head.decision(X))
            top = np.argsort(-head.decision(X))[:10]
            assert 0 < y[top].sum() < 10  # a mixed batch
            head.fit(X[top], np.where(y[top], 1.0, -1.0))
            aps[name] = average_precision_score(y, head.decision(X))
        assert aps["default"] >= start_ap + 0.2, (seed, start_ap, aps)
        assert aps["weak"] < start_ap, (seed, start_ap, aps)  # what the default guards against
