"""Where the workspace lives and the defaults shared by the app and the CLI."""

from __future__ import annotations

import os
from pathlib import Path

WORKSPACE_ENV = "FEWSHOT_HOME"
DEFAULT_WORKSPACE = "./workspace"

DEFAULT_CLIP = "openai/clip-vit-base-patch32"
DEFAULT_SENTENCE_MODEL = "minilm"
THUMBNAIL_SIZE = 160
VALIDATION_FRACTION = 0.2


def workspace() -> Path:
    """The workspace directory from ``FEWSHOT_HOME`` (default ``./workspace``), created if missing."""
    path = Path(os.environ.get(WORKSPACE_ENV, DEFAULT_WORKSPACE)).expanduser().resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path
