"""Workspaces the tests share: the digits indexed with raw pixels, a concept taught by an oracle."""

from __future__ import annotations

import shutil
from pathlib import Path

from core.session import TeachSession
from core.store import Store


def oracle_rounds(session: TeachSession, positive: str, rounds: int, seed: int = 0) -> None:
    """Rate like an annotator who knows the ground truth (seeded batches: the same head on every run)."""
    for r in range(rounds):
        batch = session.next_batch(seed=seed + r)
        session.submit({c.item_id: 1.0 if c.label == positive else -1.0 for c in batch})


def indexed_digits(root: Path) -> Path:
    """Index the 1,797 digits with raw pixels (pixels:16) into a workspace at ``root``; returns root."""
    from core.embedders import load_embedder
    from core.indexing import build_index
    from core.sources import parse_source

    build_index("digits", parse_source("demo:digits"), load_embedder("pixels"), store=Store(root))
    return root


def taught_digits(root: Path, rounds: int, concept: str = "three", positive: str = "3") -> Path:
    """Index the digits under ``root`` and teach ``concept`` for ``rounds`` oracle rounds; returns root."""
    indexed_digits(root)
    store = Store(root)
    oracle_rounds(TeachSession.create("digits", concept, store=store, target_label=positive), positive, rounds)
    return root


def use_workspace(template: Path, workspace_dir: Path) -> Store:
    """Copy a template workspace (built once per module) into this test's own FEWSHOT_HOME."""
    shutil.copytree(template, workspace_dir, dirs_exist_ok=True)
    return Store()
