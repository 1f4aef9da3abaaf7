"""Map projection: cached on disk and reused, refitted when the index changes, sample+place, placing w.

One real UMAP fit of the digits per module, through the child process the app uses (``import umap``
and numba's compilation cost ~15 s, paid once there); every other check reuses it or fakes the fit.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import core.projection as projection
from core.errors import FewshotError
from core.projection import (
    Projection,
    fingerprint,
    get_projection,
    knn_place,
    load_projection,
    pca_view,
    place_directions,
    projection_path,
    save_projection,
)
from core.projection_fit import fit_in_subprocess
from core.session import TeachSession
from core.store import Store, items_schema
from tests.helpers.workspaces import taught_digits

EPOCHS = 30
SAMPLE = 1000  # below the digits' 1,797 items: the fit samples and places the rest


@pytest.fixture(scope="module")
def digits_root(tmp_path_factory) -> Path:
    """Digits indexed with raw pixels, concept "three" taught for three oracle rounds."""
    return taught_digits(tmp_path_factory.mktemp("digits-projection"), rounds=3)


@pytest.fixture(scope="module")
def fit_run(digits_root) -> tuple[Projection, list]:
    """The one real UMAP fit of this module, in a child process, cached under the template root."""
    view = Store(digits_root).vectors("digits")
    progress: list = []
    fitted = fit_in_subprocess(digits_root, "digits", view, sample_threshold=SAMPLE, n_epochs=EPOCHS,
                               progress=progress.append)
    return fitted, progress


@pytest.fixture(scope="module")
def fitted(fit_run) -> Projection:
    return fit_run[0]


@pytest.fixture
def workspace_copy(digits_root, fitted, tmp_path) -> Path:
    """This test's own copy of the workspace, projection included."""
    root = tmp_path / "ws"
    shutil.copytree(digits_root, root)
    return root


def _counting_fitter(monkeypatch) -> list[int]:
    """Replace the UMAP fit by PCA and count the calls (so refits are cheap and visible)."""
    calls: list[int] = []

    def fake(matrix, **_kwargs):
        calls.append(len(matrix))
        return pca_view(matrix), len(matrix)

    monkeypatch.setattr(projection, "fit_umap", fake)
    return calls


def test_fit_is_cached_on_disk_and_reused(digits_root, fitted, monkeypatch):
    view = Store(digits_root).vectors("digits")
    path = projection_path("digits", view.version, digits_root)
    assert path.exists() and path.suffix == ".npz"
    assert fitted.xy.shape == (len(view.ids), 2) and np.isfinite(fitted.xy).all()
    assert fitted.method == "umap" and fitted.n_fitted == SAMPLE
    calls = _counting_fitter(monkeypatch)
    started = time.perf_counter()
    again = get_projection("digits", view, digits_root)
    assert time.perf_counter() - started < 1.0
    assert calls == []  # loaded, not refitted
    np.testing.assert_array_equal(again.xy, fitted.xy)
    with np.load(path, allow_pickle=False) as data:  # plain arrays only: nothing pickled
        assert set(data.files) == {"xy", "meta"}


def test_refit_when_the_index_changes(workspace_copy, monkeypatch):
    store = Store(workspace_copy)
    info = store.get_index("digits")
    before = store.vectors("digits")
    assert load_projection("digits", before, workspace_copy) is not None
    vector = np.zeros(info.dim, np.float32)
    vector[0] = 1.0
    import pyarrow as pa

    row = {"id": "extra", "split": "train", "label": None, "vector": vector.tolist(), "text": None,
           "thumbnail": None, "uri": None}
    store.add_items("digits", pa.Table.from_pylist([row], schema=items_schema(info.dim)))
    after = store.vectors("digits")
    assert after.version != before.version
    assert load_projection("digits", after, workspace_copy) is None
    calls = _counting_fitter(monkeypatch)
    refit = get_projection("digits", after, workspace_copy)
    assert calls == [len(after.ids)] and refit.n_items == len(after.ids)
    assert get_projection("digits", after, workspace_copy).n_items == len(after.ids)
    assert calls == [len(after.ids)]  # the refit was cached in turn
    assert [p.name for p in projection_path("digits", 0, workspace_copy).parent.glob("*.npz")] == \
        [f"v{after.version}.npz"]  # the stale file is gone


def test_same_content_under_a_new_version_is_reused(workspace_copy, fitted):
    view = Store(workspace_copy).vectors("digits")
    bumped = SimpleNamespace(ids=view.ids, matrix=view.matrix, version=view.version + 5)
    loaded = load_projection("digits", bumped, workspace_copy)
    assert loaded is not None and loaded.version == view.version + 5
    np.testing.assert_array_equal(loaded.xy, fitted.xy)
    assert projection_path("digits", view.version + 5, workspace_copy).exists()


def test_other_content_under_the_same_version_is_not_reused(workspace_copy):
    """A deleted and rebuilt index restarts its version numbers: the fingerprint tells them apart."""
    view = Store(workspace_copy).vectors("digits")
    other = view.matrix[::-1].copy()
    assert fingerprint(view.ids, other) != fingerprint(view.ids, view.matrix)
    rebuilt = SimpleNamespace(ids=view.ids, matrix=other, version=view.version)
    assert load_projection("digits", rebuilt, workspace_copy) is None


def test_a_damaged_file_means_refit(workspace_copy):
    view = Store(workspace_copy).vectors("digits")
    projection_path("digits", view.version, workspace_copy).write_bytes(b"not a numpy file")
    assert load_projection("digits", view, workspace_copy) is None


def test_sample_and_place_above_the_threshold(digits_root, fit_run):
    fitted, progress = fit_run
    view = Store(digits_root).vectors("digits")
    xy = fitted.xy
    assert fitted.n_fitted == SAMPLE and xy.shape == (len(view.ids), 2) and np.isfinite(xy).all()
    assert any("placing" in p.stage for p in progress)
    fractions = [p.fraction for p in progress]
    assert fractions == sorted(fractions) and fractions[-1] == pytest.approx(1.0)
    labels = view.labels.astype(str)
    names = sorted(set(labels))
    centroids = np.stack([xy[labels == name].mean(axis=0) for name in names])
    nearest = np.asarray(names)[np.argmin(np.linalg.norm(xy[:, None, :] - centroids[None], axis=2), axis=1)]
    assert (nearest == labels).mean() > 0.8  # sampled and placed items land in their own digit's region


def test_knn_place_is_exact_for_a_reference_item():
    reference = np.eye(4, dtype=np.float32)
    reference_xy = np.asarray([[0, 0], [10, 0], [0, 10], [10, 10]], dtype=np.float32)
    placed = knn_place(reference[[2, 3]], reference, reference_xy, k=3)
    np.testing.assert_allclose(placed, reference_xy[[2, 3]], atol=1e-4)
    assert np.array_equal(placed, knn_place(reference[[2, 3]], reference, reference_xy, k=3))


def test_placed_w_lands_near_the_positives(digits_root, fitted):
    store = Store(digits_root)
    view = store.vectors("digits")
    history = TeachSession.open("digits", "three", store=store).history()
    W = np.stack([c.w for c in history])
    started = time.perf_counter()
    placed = place_directions(W[-1], view.matrix, fitted.xy)[0]
    assert time.perf_counter() - started < 0.5  # ~ms here; the 100 ms target is checked by the benchmark
    labels = view.labels.astype(str)
    threes, others = fitted.xy[labels == "3"].mean(axis=0), fitted.xy[labels != "3"].mean(axis=0)
    assert np.linalg.norm(placed - threes) < np.linalg.norm(placed - others)
    for digit in sorted(set(labels) - {"3"}):
        assert np.linalg.norm(placed - threes) < np.linalg.norm(placed - fitted.xy[labels == digit].mean(axis=0))
    path = place_directions(W, view.matrix, fitted.xy)
    assert path.shape == (len(history), 2)
    assert np.isnan(path[0]).all()  # round 0 of a "diverse" concept: w = 0, no direction to place
    assert np.isfinite(path[1:]).all()


def test_pca_stand_in_is_instant_and_finite(digits_root):
    view = Store(digits_root).vectors("digits")
    started = time.perf_counter()
    xy = pca_view(view.matrix)
    assert time.perf_counter() - started < 5
    assert xy.shape == (len(view.ids), 2) and np.isfinite(xy).all()
    assert pca_view(view.matrix[:2]).shape == (2, 2)


def test_cancel_stops_the_fit_and_saves_nothing(workspace_copy):
    view = Store(workspace_copy).vectors("digits")
    shutil.rmtree(workspace_copy / "projections")
    started = time.perf_counter()
    with pytest.raises(projection.FitCancelled):
        fit_in_subprocess(workspace_copy, "digits", view, should_cancel=lambda: True)
    assert time.perf_counter() - started < 10
    assert load_projection("digits", view, workspace_copy) is None


def test_fit_errors_come_back_as_messages(workspace_copy):
    view = Store(workspace_copy).vectors("digits")
    with pytest.raises(FewshotError, match="'gone'"):
        fit_in_subprocess(workspace_copy, "gone", view)


def test_fit_umap_refuses_tiny_indexes():
    with pytest.raises(FewshotError, match="at least 3 items"):
        projection.fit_umap(np.eye(2, dtype=np.float32))


def test_save_is_atomic_and_keeps_one_file(tmp_path):
    xy = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    for version in (1, 2):
        save_projection("demo-index", Projection(xy, "umap", version, "f", 5), tmp_path)
    folder = projection_path("demo-index", 2, tmp_path).parent
    assert sorted(p.name for p in folder.iterdir()) == ["v2.npz"]


def test_a_background_fit_runs_at_low_priority_and_stops_when_its_workspace_goes(workspace_copy):
    """The detached fit must not slow the person labelling beside it, nor outlive a deleted workspace."""
    import os

    from core.projection_auto import read_status, start_background_fit
    from core.projection_fit import BACKGROUND_NICENESS

    status = start_background_fit(workspace_copy, "digits", force=True, n_epochs=50_000)  # minutes
    assert status is not None
    lowered = min(19, os.getpriority(os.PRIO_PROCESS, 0) + BACKGROUND_NICENESS)  # 19 is the lowest there is
    deadline = time.monotonic() + 30
    while os.getpriority(os.PRIO_PROCESS, status.pid) < lowered:
        assert time.monotonic() < deadline, "the fit never lowered its priority"
        time.sleep(0.1)
    deadline = time.monotonic() + 120
    while (read_status("digits", workspace_copy) or status).stage != "optimising the layout":  # vectors read
        assert time.monotonic() < deadline and status.alive, "the fit never reached its layout"
        time.sleep(0.2)
    shutil.rmtree(workspace_copy)
    deadline = time.monotonic() + 45  # the next progress report ends it (well before 50,000 epochs)
    while status.alive:
        assert time.monotonic() < deadline, "the fit kept running for a deleted workspace"
        time.sleep(0.2)
