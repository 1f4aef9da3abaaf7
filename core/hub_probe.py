"""Is the Hugging Face hub reachable right now? A 3-second TCP probe before a hub load.

Why: on a machine without internet, ``huggingface_hub`` retries every request five times with back-off, so a
model or dataset load took about 30 s to say "no connection" (or to fall back to a copy in the local cache).
With the probe a loader fails at once, or reads its cache at once (``local_files_only``).
"""

from __future__ import annotations

import os
import socket
from urllib.parse import urlparse

_PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "HTTP_PROXY", "http_proxy")


def hub_reachable(endpoint: str | None = None, timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to the hub endpoint (``HF_ENDPOINT``, else huggingface.co) opens in time.

    Assumed reachable behind a proxy: a direct probe would be wrong there, and the loader's own retries apply.
    """
    if any(os.environ.get(name) for name in _PROXY_VARS):
        return True
    parsed = urlparse(endpoint or os.environ.get("HF_ENDPOINT") or "https://huggingface.co")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "huggingface.co", port), timeout=timeout_s):
            return True
    except OSError:
        return False
