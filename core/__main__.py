"""``python -m core``: see ``core.cli``."""

import sys

try:
    from core.cli import main
except KeyboardInterrupt:  # Ctrl-C while the modules load: one line, not a traceback
    print("interrupted before the command started: nothing was done", file=sys.stderr)
    sys.exit(130)

if __name__ == "__main__":  # guarded: decoding worker processes re-import this module
    sys.exit(main())
