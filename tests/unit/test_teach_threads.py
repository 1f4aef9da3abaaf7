"""A round's fit runs on one BLAS thread and leaves torch's thread count as it found it (nested or not)."""

from __future__ import annotations

import threading


def test_fits_restore_the_thread_count_even_when_they_overlap():
    import torch

    from core.session import _one_blas_thread

    before = torch.get_num_threads()
    with _one_blas_thread(100):
        assert torch.get_num_threads() == 1
        with _one_blas_thread(100):  # a second session's fit at the same time
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    barrier = threading.Barrier(4)

    def fit() -> None:
        with _one_blas_thread(100):
            barrier.wait(timeout=10)

    threads = [threading.Thread(target=fit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert torch.get_num_threads() == before
