"""Start Streamlit (arguments as for ``streamlit``, e.g. ``run streamlit_app.py``) with the app's heavy imports
warming up in a background thread meanwhile.

Why: the first page needs LanceDB, whose import takes ~3-6 s on 2 cores (its namespace client builds
~150 pydantic models). Imported at start-up, it is done by the time a browser asks for the first page,
instead of that page waiting for it. Used by scripts/app.sh.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _warm_up() -> None:
    try:
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        import app.index_form  # noqa: F401  (the first page's own modules, pandas' preview reader)
        import app.index_jobs  # noqa: F401
        import app.sidebar  # noqa: F401  (LanceDB, pyarrow: the slow part)
    except Exception:  # only a head start: the page imports the same and reports any error
        pass


if __name__ == "__main__":
    threading.Thread(target=_warm_up, name="fewshot-import-warm-up", daemon=True).start()
    from streamlit.web.cli import main

    sys.exit(main())
