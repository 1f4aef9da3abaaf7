"""Confinement of the names a person types for a dataset or a model: a folder inside the data roots,
or a Hugging Face hub id, never anything the loaders would resolve against the server's disk.

``datasets.load_dataset`` and ``from_pretrained`` look a name up on the local disk first, relative
to the working directory, and ``datasets`` also knows builder names (``text``, ``csv``, ``json``,
``imagefolder``, ...) that read every matching file of the working directory. So in the app a name
is either a path resolved inside ``core.config.data_roots()`` or an ``owner/name`` hub id that names
nothing on the server's disk; every refusal reads the same whether or not something exists outside
the roots.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from core.config import check_data_path, data_roots, shown_path
from core.errors import SourceError
from core.text_safety import quoted

HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*", re.ASCII)


class ShadowedHubId(Exception):  # noqa: N818 - internal signal, never shown
    """A hub id that also names a path relative to the working directory (a loader would read that)."""


def looks_like_path(text: str) -> bool:
    """Whether a typed name is meant as a path (absolute, home, ``./``/``../`` or Windows-style)."""
    return text.startswith(("/", "~", ".")) or "\\" in text or re.match(r"^[A-Za-z]:", text) is not None


def local_or_hub(text: str, what: str, example: str) -> tuple[str, bool]:
    """``(absolute path inside the data roots, True)`` or ``(hub id, False)`` for a typed name.

    A path-like name must lie inside the roots (else the roots' refusal, the same for a missing and an
    existing path). A plain relative name is looked up inside the roots first. Anything else must be
    an ``owner/name`` hub id; one that also names a path relative to the working directory raises
    ``ShadowedHubId`` so the caller answers exactly as it does when the hub cannot provide a name.
    """
    text = str(text).strip()
    if not text:
        raise SourceError(f"no {what} given: type a Hugging Face hub id (e.g. {example}) or a folder path")
    if "\0" in text or any(ord(c) < 32 for c in text):
        raise SourceError(f"{shown_path(text)!r} holds control characters; type the {what} again")
    if looks_like_path(text):
        return str(check_data_path(text)), True
    for root in data_roots():
        try:
            candidate = (root / text).resolve()
            if candidate.is_relative_to(root) and candidate.exists():
                return str(candidate), True
        except (OSError, ValueError):
            continue
    if not HUB_ID.fullmatch(text) or ".." in text or text.lower().endswith((".py", ".")):
        hint = ""
        if "/" not in text and _is_loader_name(text):
            hint = (
                f" ({text!r} is a builder name of the `datasets` library, which would read files of the server; "
                "to index a table, upload it or give its path inside the data folders as file:PATH)"
            )
        roots = ", ".join(str(r) for r in data_roots())
        raise SourceError(
            f"{shown_path(text)!r} is neither a folder inside the data folders ({roots}) nor a Hugging Face hub id "
            f"of the form owner/name (e.g. {example}){hint}."
        )
    try:
        shadowed = os.path.lexists(text)
    except (OSError, ValueError):
        shadowed = True
    if shadowed:
        raise ShadowedHubId(text)
    return text, False


MAX_LINK_SCAN = 1_000_000  # entries of a local dataset folder checked for links; more is refused


def check_links_inside(folder: str | Path) -> None:
    """Refuse a local dataset folder that holds a link to somewhere outside the data folders.

    ``datasets`` reads every file a folder (or its card's ``data_files``) names and follows links
    anywhere, so one link inside the roots would expose any file the server can read. Links into the
    data folders are allowed, and a linked folder is checked in turn. The refusal names the link, never
    its target, and reads the same whether the target exists or not.
    """
    roots = data_roots()
    pending, visited, seen = [Path(folder)], set(), 0
    while pending:
        current = pending.pop()
        try:
            real = current.resolve()
        except (OSError, RuntimeError):
            raise _outside_link(folder, current) from None
        if real in visited:
            continue
        visited.add(real)
        try:
            entries = list(os.scandir(current))
        except OSError:
            continue  # unreadable: the loader cannot read it either
        for entry in entries:
            seen += 1
            if seen > MAX_LINK_SCAN:
                raise SourceError(f"{folder} holds over {MAX_LINK_SCAN:,} files and folders, too many to check; "
                                  "index a smaller folder")
            path = Path(entry.path)
            if entry.is_symlink():
                try:
                    target = path.resolve(strict=True)
                except (OSError, RuntimeError):
                    raise _outside_link(folder, path) from None
                if not any(target == root or target.is_relative_to(root) for root in roots):
                    raise _outside_link(folder, path)
                if target.is_dir():
                    pending.append(path)
            elif entry.is_dir(follow_symlinks=False):
                pending.append(path)


def _outside_link(folder: str | Path, link: Path) -> SourceError:
    try:
        shown = link.relative_to(folder)
    except ValueError:
        shown = link.name
    return SourceError(
        f"the dataset folder {folder} holds a link ({shown}) that leads outside the data folders, or nowhere; "
        "the dataset loader would follow it, so the folder is not read. Copy the data in instead of linking it."
    )


def _is_loader_name(text: str) -> bool:
    try:
        from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES
    except ImportError:  # pragma: no cover - datasets is a dependency
        return False
    return text.lower() in _PACKAGED_DATASETS_MODULES


def check_dataset_card(folder: str | Path) -> None:
    """A local dataset folder's YAML may name data files (``configs: data_files``); refuse any that point
    outside the folder (absolute, ``..``, a URL), since ``datasets`` would follow them.

    The YAML is read the way ``datasets`` reads it (``LocalDatasetModuleFactory.get_module``): the card's
    header as ``huggingface_hub.DatasetCard`` finds it (after a BOM, blank lines or spaces too), merged with a
    standalone ``.huggingface.yaml``. An outside tester read /tmp files through both, which a check of a
    README starting exactly with ``---`` did not see.
    """
    meta: dict = {}
    folder = Path(folder)
    card, standalone = folder / "README.md", folder / ".huggingface.yaml"
    try:
        if card.is_file():
            from huggingface_hub import DatasetCard

            data = DatasetCard.load(card).data
            meta.update(data.to_dict() if data is not None else {})
        if standalone.exists():
            import yaml

            extra = yaml.safe_load(standalone.read_text(encoding="utf-8"))
            if extra:
                if not isinstance(extra, dict):
                    raise ValueError("not a mapping")
                meta.update(extra)
    except Exception:  # noqa: BLE001 - an unreadable card is refused, not guessed at
        raise SourceError(f"the dataset card (README.md or .huggingface.yaml) of {folder} cannot be read; fix or "
                          "remove it") from None
    for value in _strings(meta):
        # any colon: a scheme (``file:/tmp/x``, ``local:``, ``hf://``), a chain (``simplecache::``) or a drive
        # (``C:``) is not joined to the folder by ``datasets``, and fsspec reads it where it points (a re-tester
        # read /tmp through ``file:``); paths inside a dataset folder need none
        if value.startswith(("/", "~", "\\")) or ".." in value or ":" in value:
            raise SourceError(
                f"the dataset card of {folder} points at data outside its folder ({quoted(value, 120)}); "
                "only files inside the dataset folder may be read (plain relative paths, no scheme)"
            )


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() if k in ("configs", "data_files", "data_dir", "path") or
                isinstance(v, dict | list) for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []
