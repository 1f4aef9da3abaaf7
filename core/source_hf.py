"""Records from a Hugging Face dataset, streamed by default, through ``datasets.load_dataset``.

The id may be a hub id ("frgfm/imagenette"), a local dataset folder (parquet/arrow/imagefolder
files, or a ``save_to_disk`` folder) or a packaged builder ("parquet", "csv", "imagefolder")
with ``data_files``/``data_dir``: all go through the same ``load_dataset`` call, so the offline
tests exercise the code path real users take. Images are kept undecoded (``decode=False``) and
decoded by ``open_image`` only when a record's ``load_image`` is called.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any, Literal

from core.errors import SourceError
from core.images import open_image
from core.records import Record
from core.source_base import columns_hint, label_column_list, label_str, map_split_name

TEXT_COLUMNS = ("text", "sentence", "content", "review", "document")
LABEL_COLUMNS = ("label", "labels", "class")
PARQUET_EXPORT = "refs/convert/parquet"
ALTERNATIVES = (
    "Alternatives: a local image folder (folder:PATH), a text table (file:PATH), or the built-in demo (demo:digits)"
)


class HuggingFaceDataset:
    """The requested splits of a dataset, in order; ids ``{split}/{row}``.

    Split names: train/training -> train; validation/valid/val/test/dev -> validation; any
    other hub split name (e.g. "unlabeled") -> train. Columns: an ``Image`` feature is the
    image column, else a string column named text/sentence/content/review/document is the text;
    the label column is taken only when named label/labels/class (``ClassLabel`` ids become
    their names). Every split is opened when the source is made, so an unreachable hub, an
    unknown dataset, config or split is reported at once, as a ``SourceError``.
    """

    def __init__(
        self,
        dataset_id: str,
        config: str | None = None,
        splits: tuple[str, ...] | list[str] | str = ("train",),
        image_column: str | None = None,
        text_column: str | None = None,
        label_column: str | list[str] | None = None,
        streaming: bool = True,
        data_files: Any = None,
        data_dir: str | None = None,
        confine: bool = False,
        label_columns: list[str] | None = None,
    ) -> None:
        self.dataset_id = str(dataset_id)
        #: Set by the app: hub errors are told alike and image paths in rows must lie inside the roots.
        self.confine = confine
        self.config = config
        names = splits.split(",") if isinstance(splits, str) else list(splits)
        self.splits = tuple(s.strip() for s in names if s.strip())
        if not self.splits:
            raise SourceError("no split given; use e.g. split='train' or 'train,validation'")
        self.streaming = streaming
        self.spec = f"hf:{self.dataset_id}"
        self._load_kwargs: dict[str, Any] = {"name": config, "data_files": data_files, "data_dir": data_dir}
        self.revision: str | None = None
        if not _hub_reachable(self.dataset_id, probe_only=confine):
            raise SourceError(self._explain(ConnectionError("hub unreachable")))
        self._datasets = {split: self._load(split) for split in self.splits}
        features = self._features()
        if features is None:
            raise SourceError(f"could not read the columns of '{self.dataset_id}'")
        self.features = features
        self.columns = list(features)
        self.image_column, self.text_column = self._pick_content(image_column, text_column)
        asked = label_column_list(label_column, label_columns)
        self.label_columns = [self._pick_label(c) for c in asked] if asked else [
            c for c in [self._pick_label(None)] if c]
        self.label_column = self.label_columns[0] if self.label_columns else None
        self.modality: Literal["image", "text"] = "image" if self.image_column else "text"

    # -- loading -----------------------------------------------------------------------------

    def _load(self, split: str) -> Any:
        """One split through ``load_dataset``; hub and script-era failures become SourceErrors."""
        try:
            return self._load_dataset(split)
        except RuntimeError as exc:
            if "scripts are no longer supported" not in str(exc):
                raise SourceError(self._explain(exc)) from exc
            return self._load_parquet_export(split, exc)
        except Exception as exc:  # noqa: BLE001 - every failure must reach the person as a message
            raise SourceError(self._explain(exc)) from exc

    def _load_parquet_export(self, split: str, cause: Exception) -> Any:
        """A script-era hub dataset: datasets>=4 cannot run its script, but the hub keeps an
        automatic Parquet export on ``refs/convert/parquet`` (one folder per config)."""
        attempts: list[dict[str, Any]] = [{"name": self.config}]
        if self.config:
            attempts.append({"name": None, "data_dir": self.config})
        errors = []
        for attempt in attempts:
            args = {**self._load_kwargs, "revision": PARQUET_EXPORT, **attempt}
            try:
                ds = self._load_dataset(split, **args)
            except Exception as exc:  # noqa: BLE001
                errors.append(_first_line(exc))
                continue
            self._load_kwargs, self.revision = args, PARQUET_EXPORT
            return ds
        raise SourceError(
            f"'{self.dataset_id}' needs a loading script, which this version of `datasets` cannot run, "
            f"and its Parquet export could not be loaded ({'; '.join(errors)}). " + ALTERNATIVES
        ) from cause

    def _load_dataset(self, split: str, **overrides: Any) -> Any:
        import datasets

        kwargs = {k: v for k, v in {**self._load_kwargs, **overrides}.items() if v is not None}
        name = kwargs.pop("name", None)
        return datasets.load_dataset(self.dataset_id, name, split=split, streaming=self.streaming, **kwargs)

    def _explain(self, exc: BaseException) -> str:
        """A message for a load failure that says what to do about it."""
        name = type(exc).__name__
        text = _first_line(exc)
        if isinstance(exc, ConnectionError) or name in {
            "OfflineModeIsEnabled",
            "ConnectError",
            "ConnectTimeout",
            "TimeoutException",
            "ReadTimeout",
            "LocalEntryNotFoundError",
        }:
            return _unreachable(self.dataset_id)
        if name in {"DatasetNotFoundError", "RepositoryNotFoundError", "GatedRepoError"}:
            return _not_on_hub(self.dataset_id)
        if isinstance(exc, FileNotFoundError):
            return f"no dataset found at '{self.dataset_id}' ({text})"
        if isinstance(exc, ValueError) and ("split" in text.lower() or "config" in text.lower()):
            return f"cannot load '{self.dataset_id}': {text}"
        if isinstance(exc, TypeError | AttributeError | KeyError | IndexError) and Path(self.dataset_id).is_dir():
            # the loader's own internals failing on a folder it cannot read (a LanceDB folder gave
            # "TypeError: 'NoneType' object is not subscriptable"): say what the folder needs instead
            return (f"'{self.dataset_id}' is not a dataset folder `datasets` can read: it needs data files (CSV, "
                    "JSON Lines, Parquet, text or images), in split folders or named by its README's configs")
        return f"could not load '{self.dataset_id}': {name}: {text}"

    def _features(self) -> Any:
        """The first split's features; streamed sources without metadata are resolved by peeking."""
        split, ds = next(iter(self._datasets.items()))
        if ds.features is None and hasattr(ds, "_resolve_features"):
            try:
                ds = ds._resolve_features()
            except Exception as exc:  # noqa: BLE001
                raise SourceError(self._explain(exc)) from exc
            self._datasets[split] = ds
        return ds.features

    # -- columns -----------------------------------------------------------------------------

    def _pick_content(self, image_column: str | None, text_column: str | None) -> tuple[str | None, str | None]:
        from datasets import Image, Value

        for given in (image_column, text_column):
            if given is not None and given not in self.columns:
                raise SourceError(
                    f"column {given!r} is not in '{self.dataset_id}'; available columns: {columns_hint(self.columns)}"
                )
        if image_column is not None:
            return image_column, None
        if text_column is not None:
            return None, text_column
        for name, feature in self.features.items():
            if isinstance(feature, Image):
                return name, None
        by_lower = {c.lower(): c for c in self.columns}
        for candidate in TEXT_COLUMNS:
            name = by_lower.get(candidate)
            if name is not None and isinstance(self.features[name], Value) and "string" in self.features[name].dtype:
                return None, name
        raise SourceError(
            f"'{self.dataset_id}' has no image column and no text column named {', '.join(TEXT_COLUMNS)}; "
            f"pass image_column or text_column, one of: {columns_hint(self.columns)}"
        )

    def _pick_label(self, label_column: str | None) -> str | None:
        if label_column is not None:
            if label_column not in self.columns:
                raise SourceError(
                    f"label column {label_column!r} is not in '{self.dataset_id}'; available columns: "
                    f"{columns_hint(self.columns)}"
                )
            return label_column
        by_lower = {c.lower(): c for c in self.columns}
        return next((by_lower[n] for n in LABEL_COLUMNS if n in by_lower), None)

    # -- iteration ---------------------------------------------------------------------------

    def __iter__(self) -> Iterator[Record]:
        decoders = [(c, _label_decoder(self.features.get(c))) for c in self.label_columns]
        for split, ds in self._datasets.items():
            ds = self._prepare(ds)
            ours = map_split_name(split) or "train"
            config = self.config or "default"
            rows = iter(ds)
            row_index = 0
            while True:
                try:
                    row = next(rows)
                except StopIteration:
                    break
                except Exception as exc:  # noqa: BLE001 - a dropped connection mid-stream
                    raise SourceError(self._explain(exc)) from exc
                labels = tuple(decode(row.get(c)) for c, decode in decoders)
                record = Record(
                    id=f"{split}/{row_index}",
                    split=ours,
                    uri=f"hf://{self.dataset_id}/{config}/{split}/{row_index}",
                    label=labels[0] if labels else None,
                    labels=labels if len(labels) > 1 else None,
                )
                if self.image_column:
                    record.load_image = partial(_decode_image, row.get(self.image_column), confine=self.confine)
                else:
                    value = row.get(self.text_column)
                    record.text = "" if value is None else str(value)
                yield record
                row_index += 1

    def _prepare(self, ds: Any) -> Any:
        """Only the needed columns, with images left as bytes/paths for lazy decoding."""
        from datasets import Image

        keep = list(dict.fromkeys(c for c in (self.image_column, self.text_column, *self.label_columns) if c))
        ds = ds.select_columns(keep)
        if self.image_column and isinstance(self.features[self.image_column], Image):
            ds = ds.cast_column(self.image_column, Image(decode=False))
        return ds

    def count(self) -> int | None:
        """Rows over the requested splits, from the dataset's metadata; None when it has none."""
        total = 0
        for split, ds in self._datasets.items():
            if not self.streaming:
                total += len(ds)
                continue
            info = getattr(ds, "info", None)
            split_info = (info.splits or {}).get(split) if info is not None else None
            if split_info is None or not split_info.num_examples:
                return None
            total += int(split_info.num_examples)
        return total

    def describe(self) -> dict[str, Any]:
        return {
            "spec": self.spec,
            "kind": "hf",
            "dataset_id": self.dataset_id,
            "config": self.config,
            "splits": list(self.splits),
            "revision": self.revision,
            "image_column": self.image_column,
            "text_column": self.text_column,
            "label_column": self.label_column,
            "label_columns": list(self.label_columns),
            "streaming": self.streaming,
        }


def _hub_reachable(dataset_id: str, probe_only: bool = False) -> bool:
    """A 3-second TCP probe of the hub before a hub load (``core.hub_probe``).

    Skipped (assumed reachable) for local folders, packaged builders and offline mode (datasets then fails
    at once by itself).
    """
    import os

    import datasets
    from datasets.packaged_modules import _PACKAGED_DATASETS_MODULES

    from core.hub_probe import hub_reachable

    if not probe_only and (os.path.exists(os.path.expanduser(dataset_id)) or dataset_id in _PACKAGED_DATASETS_MODULES):
        return True
    if datasets.config.HF_HUB_OFFLINE:
        return True
    return hub_reachable(datasets.config.HF_ENDPOINT)


def _label_decoder(feature: Any) -> Any:
    """Label value -> text; ClassLabel ids become names (-1, the 'no label' id, becomes None)."""
    from datasets import ClassLabel

    inner = getattr(feature, "feature", None)  # Sequence/List of ClassLabel
    names_of = feature if isinstance(feature, ClassLabel) else inner if isinstance(inner, ClassLabel) else None

    def decode(value: Any) -> str | None:
        if names_of is not None:
            if isinstance(value, list | tuple):
                return label_str([_class_name(names_of, v) for v in value])
            return _class_name(names_of, value)
        return label_str(value)

    return decode


def _class_name(feature: Any, value: Any) -> str | None:
    if value is None or not isinstance(value, int) or value < 0:
        return label_str(value) if isinstance(value, str) else None
    try:
        return feature.int2str(value)
    except (ValueError, IndexError):
        return str(value)


def _not_on_hub(dataset_id: str) -> str:
    return (
        f"dataset '{dataset_id}' was not found on the Hugging Face hub or cannot be accessed; check the id "
        "(owner/name), and log in (`hf auth login`) for private or gated datasets. " + ALTERNATIVES
    )


def _unreachable(dataset_id: str) -> str:
    return f"could not reach the Hugging Face hub to load '{dataset_id}' (offline?). " + ALTERNATIVES


def hub_unavailable(dataset_id: str) -> str:
    """The message for a hub id the app will not load, worded exactly as the hub's own refusal would be
    on this server (offline or not), so it tells nothing about the server's disk."""
    import datasets

    if datasets.config.HF_HUB_OFFLINE or not _hub_reachable(dataset_id, probe_only=True):
        return _unreachable(dataset_id)
    return _not_on_hub(dataset_id)


def _decode_image(value: Any, draft_size: int | None = None, confine: bool = False) -> Any:
    """An image cell (bytes/path dict, path string or PIL image) -> RGB image via ``open_image``.

    ``confine`` (the app): a path in a row is read only from inside the data folders or from the hub
    (``hf://``); see ``_confined_image_path``.
    """
    from core.errors import UnreadableItem

    if value is None:
        raise UnreadableItem("no image in this row")
    if isinstance(value, dict) and value.get("bytes"):
        return open_image(value["bytes"], draft_size=draft_size)
    if isinstance(value, bytes | bytearray):
        return open_image(value, draft_size=draft_size)
    if isinstance(value, dict | str):
        path = value.get("path") if isinstance(value, dict) else value
        if not path:
            raise UnreadableItem("no image in this row")
        import os

        path = str(path)
        if confine:
            path = _confined_image_path(path)
        if "://" not in path and "::" not in path and os.path.isfile(path):
            return open_image(path, draft_size=draft_size)
        if confine and "://" not in path and "::" not in path:
            raise UnreadableItem("no image file at this path in the data folders")
        from datasets import Image

        try:  # remote or archived path: let datasets fetch it, then normalise
            return open_image(Image().decode_example({"path": path, "bytes": None}))
        except UnreadableItem:
            raise
        except Exception as exc:  # noqa: BLE001
            raise UnreadableItem(f"could not fetch image {path}: {_first_line(exc)}") from exc
    return open_image(value)


_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _confined_image_path(path: str) -> str:
    """The path a row names, if the app may read it: a file inside the data folders (taken relative to
    them, never to the server's working directory), an archive there (``zip://inner::archive``), or a
    file on the hub (``hf://``). Anything else (``file://``, ``http(s)://``, other schemes, a path
    outside the folders) is refused with one message that says nothing about what exists there, so a
    dataset's rows can neither show the server's pictures nor probe its disk nor make it fetch URLs.
    """
    from core.config import check_data_path
    from core.errors import UnreadableItem

    refused = UnreadableItem("image path outside the allowed data folders (the app reads a row's image only "
                             "from the data folders or the Hugging Face hub)")
    *inner, outer = path.split("::")
    if any((_SCHEME.match(part) or [None, ""])[1].lower() not in ("zip", "tar") for part in inner):
        raise refused  # only a member of an archive may stand left of '::'
    scheme = _SCHEME.match(outer)
    if scheme:
        if scheme.group(1).lower() != "hf":
            raise refused
        return path
    try:
        local = str(check_data_path(outer))
    except SourceError:
        raise refused from None
    return "::".join([*inner, local])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
