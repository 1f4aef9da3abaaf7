"""The Index page's form: source (with a preview and column pickers for tables), embedder, and a name.

Every field holds a real value from the start (the digits demo, the bundled models, a name that fits
the source), so Build index works without typing; a table shows its first rows and lists its columns
with the detected roles already picked.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from app import safe_text
from app.index_defaults import index_name_for
from app.items import plain
from core.config import DEFAULT_CLIP, data_roots
from core.errors import FewshotError
from core.table_preview import TablePreview, preview_table
from core.uploads import max_upload_mb

SOURCE_KINDS = {
    "demo": "Built-in demo: handwritten digits (offline)",
    "upload": "Upload: a table of texts or a zip of images",
    "table": "Table file on the server",
    "folder": "Image folder on the server",
    "hf": "Hugging Face dataset",
}
EMBEDDER_KINDS = {
    "pixels": "Raw pixels (tiny images, no text side)",
    "clip": "CLIP (images and text prompts)",
    "st": "Sentence-transformer (texts)",
}
ST_BACKENDS = {
    "onnx-int8": "Fast on CPU (int8 ONNX, about 2x)",
    "torch": "PyTorch (exact; uses a GPU when there is one)",
}
# How the "no such column" choices are shown; their option value is None, so a column named like them is
# still a column of its own.
NO_ID, NO_SPLIT = "(row number)", "(hash of the id: 20% validation)"
PREVIEW_SHOWN = 8


@dataclass
class SourceChoice:
    """What the form picked: the source spec and its options, the upload (if any) and a name suggestion."""

    kind: str
    spec: str
    options: dict = field(default_factory=dict)
    upload: object | None = None
    argument: str | None = None  # file or folder name the suggested index name comes from


def _gpu_present() -> bool:
    """Without importing torch (seconds): NVIDIA's device nodes tell whether the GPU path is worth offering."""
    return Path("/dev/nvidia0").exists()


def _source_changed() -> None:
    """Suggest the embedder that fits the source: pixels for the demo, MiniLM for tables, CLIP for images."""
    kind = st.session_state.get("index_source_kind")
    st.session_state["index_embedder_kind"] = {"demo": "pixels", "upload": "st", "table": "st"}.get(kind, "clip")


def source_form() -> SourceChoice | None:
    """The source radio and its fields; None while the source is incomplete (no file, no path)."""
    kind = st.radio("Source", list(SOURCE_KINDS), format_func=SOURCE_KINDS.get, key="index_source_kind",
                    on_change=_source_changed)
    if kind == "demo":
        return SourceChoice("demo", "demo:digits")
    if kind == "folder":
        allowed = ", ".join(str(r) for r in data_roots())
        path = st.text_input("Folder path", key="index_folder", placeholder="/data/photos (class subfolders = labels)",
                             help=f"A folder inside the allowed data folders: {allowed} (set FEWSHOT_DATA_ROOTS "
                                  "to change them).")
        return SourceChoice("folder", f"folder:{path}", argument=path) if path else None
    if kind == "upload":
        return _upload_form()
    if kind == "table":
        return _table_path_form()
    return _hf_form()


def _upload_form() -> SourceChoice | None:
    upload = st.file_uploader(
        f"CSV, TSV, Parquet or JSONL of texts, or a zip of images (up to {max_upload_mb()} MB)",
        type=["csv", "tsv", "parquet", "jsonl", "ndjson", "zip", "gz"],
        key="index_upload",
    )
    if upload is None:
        return None
    if upload.name.lower().endswith(".zip"):
        if st.session_state.get("index_upload_kind_for") != upload.file_id:  # a zip holds images: CLIP fits
            st.session_state["index_upload_kind_for"] = upload.file_id
            st.session_state["index_embedder_kind"] = "clip"
        return SourceChoice("upload", upload.name, upload=upload, argument=upload.name)
    if st.session_state.get("index_upload_kind_for") != upload.file_id:
        st.session_state["index_upload_kind_for"] = upload.file_id
        st.session_state["index_embedder_kind"] = "st"
    preview = _cached_preview(f"upload:{upload.file_id}", upload.name, lambda: bytes(upload.getbuffer()))
    if preview is None:
        return None
    options = column_pickers(preview, f"upload:{upload.file_id}")
    return SourceChoice("upload", upload.name, options, upload=upload, argument=upload.name)


def _table_path_form() -> SourceChoice | None:
    allowed = ", ".join(str(r) for r in data_roots())
    path = st.text_input("Table path", key="index_table_path", placeholder="/data/reviews.csv",
                         help=f"A CSV, TSV, Parquet or JSONL file (optionally .gz) inside the allowed data folders: "
                              f"{allowed} (set FEWSHOT_DATA_ROOTS to change them).")
    if not path:
        return None
    from core.config import check_data_path

    try:
        resolved = check_data_path(path)
        if not resolved.is_file():
            raise FewshotError(f"{path} is not a file")
    except FewshotError as exc:
        st.error(plain(str(exc)))
        return None
    stat = resolved.stat()
    preview = _cached_preview(f"path:{resolved}:{stat.st_mtime_ns}:{stat.st_size}", resolved.name, lambda: resolved)
    if preview is None:
        return None
    options = column_pickers(preview, f"path:{resolved}")
    return SourceChoice("table", f"file:{resolved}", options, argument=resolved.name)


def _cached_preview(identity: str, filename: str, data) -> TablePreview | None:
    """The table's preview, read once per file (kept in the session), or None after showing why it failed."""
    cache = st.session_state.setdefault("index_previews", {})
    if identity not in cache:
        try:
            cache.clear()  # one table at a time: an upload's preview holds up to PREVIEW_ROWS rows
            cache[identity] = preview_table(filename, data())
        except FewshotError as exc:
            cache[identity] = str(exc)
    preview = cache[identity]
    if isinstance(preview, str):
        st.error(plain(preview))
        return None
    return preview


def column_pickers(preview: TablePreview, identity: str) -> dict:
    """The first rows, then the role of each column: text, label columns (several), id, split.

    The pickers start at the detected guesses whenever a different table is shown, and keep the
    person's choice across reruns otherwise.
    """
    st.caption(f"First rows of the table ({len(preview.columns)} columns):")
    columns = preview.columns
    header = safe_text.choices(columns)  # names and cells from the file: neutral (one name per column)
    shown_rows = [{header(c): None if row.get(c) is None else safe_text.text(row[c]) for c in columns}
                  for row in preview.rows[:PREVIEW_SHOWN]]
    st.dataframe(shown_rows, hide_index=True, width="stretch", height=min(320, 38 + 35 * 8))
    if st.session_state.get("index_columns_for") != identity:
        st.session_state["index_columns_for"] = identity
        # "is not None": a column may be named "" (an empty header), and that is a choice like any other
        # no column looks like text: none is picked (an id column embedded as text would build without a word)
        st.session_state["index_col_text"] = preview.text_column
        st.session_state["index_col_labels"] = list(preview.label_columns)
        st.session_state["index_col_id"] = preview.id_column
        st.session_state["index_col_split"] = preview.split_column
    c1, c2 = st.columns([1, 2])
    text = c1.selectbox("Text column", columns, key="index_col_text", format_func=header, index=None,
                        placeholder="Choose the column to embed", help="The text that gets embedded.")
    if text is None:
        c1.warning("No column looks like text (a name such as text, sentence, content, review or document): "
                   "choose the column whose text gets embedded.")
    labels = c2.multiselect("Label columns (ground truth, optional)", columns, key="index_col_labels",
                            format_func=header,
                            help="Columns with known answers, to measure concepts against (AP by round). "
                                 "Pick several; each concept picks one.")
    c3, c4 = st.columns(2)
    identifier = c3.selectbox("Id column", [None, *columns], key="index_col_id",
                              format_func=safe_text.choices([None, *columns], none=NO_ID),
                              help="Stable ids let a rerun resume and ratings survive a rebuild.")
    split = c4.selectbox("Split column", [None, *columns], key="index_col_split",
                         format_func=safe_text.choices([None, *columns], none=NO_SPLIT),
                         help="train / validation per row; without one, 20% go to validation by a hash of the id.")
    if preview.whole_numbers_from_rows is not None:
        st.caption(safe_text.md(f"Whole-number labels (1.0 stored as 1) were judged from the first "
                                f"{preview.whole_numbers_from_rows:,} rows; indexing checks every row."))
    return {
        "text_column": text,
        "label_columns": [c for c in labels if c != text],
        "id_column": identifier,
        "split_column": split,
    }


def _hf_form() -> SourceChoice | None:
    dataset = st.text_input("Dataset id", value="frgfm/imagenette", key="index_hf_id")
    c1, c2 = st.columns(2)
    config = c1.text_input("Config", value="320px", key="index_hf_config")
    split = c2.text_input("Splits (comma-separated)", value="train,validation", key="index_hf_split")
    c3, c4, c5 = st.columns(3)
    image_column = c3.text_input("Image column", value="image", key="index_hf_image")
    text_column = c4.text_input("Text column", key="index_hf_text")
    label_column = c5.text_input("Label column", value="label", key="index_hf_label")
    options = {
        "config": config or None, "split": split or None, "image_column": image_column or None,
        "text_column": text_column or None, "label_column": label_column or None,
    }
    return SourceChoice("hf", f"hf:{dataset}", options, argument=dataset) if dataset else None


def embedder_form() -> str:
    """The embedder spec: ``pixels:N``, ``clip:CHECKPOINT`` or ``st:MODEL[@onnx-int8]``."""
    st.session_state.setdefault("index_embedder_kind", "pixels")
    kind = st.radio("Embedder", list(EMBEDDER_KINDS), format_func=EMBEDDER_KINDS.get,
                    key="index_embedder_kind", horizontal=True)
    if kind == "clip":
        checkpoint = st.text_input("CLIP checkpoint (hub id or local folder)", value=DEFAULT_CLIP, key="index_clip")
        return f"clip:{checkpoint}"
    if kind == "st":
        c1, c2 = st.columns([1, 2])
        model = c1.text_input("Model (minilm = bundled, offline)", value="minilm", key="index_st")
        st.session_state.setdefault("index_st_backend", "torch" if _gpu_present() else "onnx-int8")
        backend = c2.radio("Runs on", list(ST_BACKENDS), format_func=ST_BACKENDS.get, key="index_st_backend",
                           horizontal=True)
        return f"st:{model.strip()}" + ("" if backend == "torch" else f"@{backend}")
    size = st.number_input("Side in pixels", 4, 64, 16, key="index_pixels")
    # an image-folder newcomer rated round after round for a colour concept this baseline cannot see
    st.caption("A baseline that runs offline: each image shrunk to grey pixels. It sees shapes and brightness, not "
               "colour or meaning: use CLIP for real photos.")
    return f"pixels:{int(size)}"


def name_input(choice: SourceChoice | None, taken: list[str]) -> str:
    """The index name: a suggestion that follows the source until the person types their own."""
    kind = choice.kind if choice is not None else st.session_state.get("index_source_kind", "demo")
    suggestion = index_name_for(kind, choice.argument if choice is not None else None, taken)
    current = st.session_state.get("index_name")
    if current is None or current == st.session_state.get("index_name_auto") or not str(current).strip():
        st.session_state["index_name"] = suggestion
    st.session_state["index_name_auto"] = suggestion
    return st.text_input("Index name", key="index_name",
                         help="Letters, digits, '-' and '_'. An existing name resumes that index.")
