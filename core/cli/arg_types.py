"""Argument types the commands share: a bad number is one argparse line naming the flag, never a traceback
deep in numpy (``--seed -1``) nor a value that means nothing (``--threshold inf``, ``--target-ap 5``)."""

from __future__ import annotations

import argparse
import math

from core.classifier import MAX_THRESHOLD as MAX_ABS_THRESHOLD  # one bound: commands, concepts, files

MAX_SEED = 2**32 - 1  # numpy's seeds


def _parsed(text: str, convert, what: str):
    """``convert(text)``, or argparse's one line saying ``text`` is not ``what``."""
    try:
        return convert(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None


def threshold(text: str) -> float:
    """A finite logit, at most ``MAX_ABS_THRESHOLD`` either way."""
    value = _parsed(text, float, "a number (a logit; 0 = probability 0.5)")
    if not math.isfinite(value) or abs(value) > MAX_ABS_THRESHOLD:
        raise argparse.ArgumentTypeError(f"{text!r}: a threshold is a finite logit between {-MAX_ABS_THRESHOLD:g} "
                                         f"and {MAX_ABS_THRESHOLD:g} (0 = probability 0.5)")
    return value


def seed(text: str) -> int:
    """A whole number from 0 to ``MAX_SEED``."""
    value = _parsed(text, int, "a whole number")
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text!r}: a seed is a whole number from 0 to {MAX_SEED}")
    return value


def ap_target(text: str) -> float:
    """An average precision worth aiming at: above 0, at most 1."""
    value = _parsed(text, float, "a number")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: an AP target is above 0 and at most 1 (e.g. 0.9)")
    return value
