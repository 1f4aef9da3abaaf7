"""Argument types the commands share: a bad number is one argparse line naming the flag, never a traceback
deep in numpy (``--seed -1``) nor a value that means nothing (``--threshold inf``, ``--target-ap 5``)."""

from __future__ import annotations

import argparse
import math

#: A logit beyond this calls every item one way for any classifier this app trains (|logits| stay under ~50).
MAX_ABS_THRESHOLD = 1e6
MAX_SEED = 2**32 - 1  # numpy's seeds


def threshold(text: str) -> float:
    """A finite logit, at most ``MAX_ABS_THRESHOLD`` either way."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (a logit; 0 = probability 0.5)") from None
    if not math.isfinite(value) or abs(value) > MAX_ABS_THRESHOLD:
        raise argparse.ArgumentTypeError(f"{text!r}: a threshold is a finite logit between {-MAX_ABS_THRESHOLD:g} "
                                         f"and {MAX_ABS_THRESHOLD:g} (0 = probability 0.5)")
    return value


def seed(text: str) -> int:
    """A whole number from 0 to ``MAX_SEED``."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text!r}: a seed is a whole number from 0 to {MAX_SEED}")
    return value


def ap_target(text: str) -> float:
    """An average precision worth aiming at: above 0, at most 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: an AP target is above 0 and at most 1 (e.g. 0.9)")
    return value
