"""Index page: build an index from a source with an embedder; see and delete what the workspace holds."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from app.items import plain
from app.sidebar import render_sidebar
from app.state import get_embedder, get_store, select
from app.tables import index_rows, skipped_csv
from core.config import DEFAULT_CLIP, check_data_path, data_roots, workspace_uri
from core.errors import FewshotError
from core.jobs import CANCELLED, DONE, FAILED, Job
from core.uploads import max_upload_mb

SOURCE_KINDS = {
    "demo": "Built-in demo: handwritten digits (offline)",
    "folder": "Image folder on the server",
    "upload": "Upload: a table of texts or a zip of images",
    "hf": "Hugging Face dataset",
}
EMBEDDER_KINDS = {
    "pixels": "Raw pixels (tiny images, no text side)",
    "clip": "CLIP (images and text prompts)",
    "st": "Sentence-transformer (texts)",
}


@st.cache_resource
def _jobs() -> dict[str, Job]:
    """Indexing jobs of this server process, so a job survives page changes and reruns."""
    return {}


def _source_changed() -> None:
    """Suggest the embedder that fits the source: pixels for the demo, CLIP for images, MiniLM for tables."""
    kind = st.session_state.get("index_source_kind")
    st.session_state["index_embedder_kind"] = {"demo": "pixels", "upload": "st"}.get(kind, "clip")


def _source_form() -> tuple[str, str, dict] | None:
    kind = st.radio("Source", list(SOURCE_KINDS), format_func=SOURCE_KINDS.get, key="index_source_kind",
                    on_change=_source_changed)
    options: dict = {}
    if kind == "demo":
        return "demo", "demo:digits", options
    if kind == "folder":
        allowed = ", ".join(str(r) for r in data_roots())
        path = st.text_input("Folder path", key="index_folder", placeholder="/data/photos (class subfolders = labels)",
                             help=f"A folder inside the allowed data folders: {allowed} (set FEWSHOT_DATA_ROOTS "
                                  "to change them).")
        return ("folder", f"folder:{path}", options) if path else None
    if kind == "upload":
        upload = st.file_uploader(
            f"CSV, TSV, Parquet or JSONL of texts, or a zip of images (up to {max_upload_mb()} MB)",
            type=["csv", "tsv", "parquet", "jsonl", "ndjson", "zip"],
            key="index_upload",
        )
        text_column = st.text_input("Text column (tables; empty = auto)", key="index_upload_text")
        label_column = st.text_input("Label column (optional)", key="index_upload_label")
        if upload is None:
            return None
        options = {"text_column": text_column or None, "label_column": label_column or None}
        return "upload", upload.name, {**options, "_upload": upload}
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
    return ("hf", f"hf:{dataset}", options) if dataset else None


def _embedder_form() -> str:
    kinds = list(EMBEDDER_KINDS)
    st.session_state.setdefault("index_embedder_kind", "pixels")
    kind = st.radio("Embedder", kinds, format_func=EMBEDDER_KINDS.get,
                    key="index_embedder_kind", horizontal=True)
    if kind == "clip":
        checkpoint = st.text_input("CLIP checkpoint (hub id or local folder)", value=DEFAULT_CLIP, key="index_clip")
        return f"clip:{checkpoint}"
    if kind == "st":
        model = st.text_input("Model (minilm = bundled, offline)", value="minilm", key="index_st")
        return f"st:{model}"
    size = st.number_input("Side in pixels", 4, 64, 16, key="index_pixels")
    return f"pixels:{int(size)}"


def _resolve_source(kind: str, spec: str, options: dict):
    from core.sources import parse_source
    from core.uploads import extract_zip_upload, save_table_upload

    upload = options.pop("_upload", None)
    options = {k: v for k, v in options.items() if v is not None}
    if upload is not None:
        name = st.session_state.get("index_name") or "upload"
        if upload.name.lower().endswith(".zip"):
            with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
                tmp.write(upload.getbuffer())
                tmp.flush()
                folder = extract_zip_upload(name, upload.name, Path(tmp.name))
            return parse_source(f"folder:{folder}")
        path = save_table_upload(name, upload.name, bytes(upload.getbuffer()))
        return parse_source(f"file:{path}", **options)
    return parse_source(spec, confine=True, **options)  # typed paths stay inside the data folders


def _confine_embedder(spec: str) -> None:
    """A model given as a local folder (clip:/path, st:/path) must lie inside the data folders too."""
    from core.sources import looks_local

    kind, _, argument = spec.partition(":")
    if kind in ("clip", "st") and argument and looks_local(argument.strip()):
        check_data_path(argument.strip())


def _start(name: str, kind: str, spec: str, options: dict, embedder_spec: str) -> None:
    from core.indexing import build_index

    _confine_embedder(embedder_spec)
    source = _resolve_source(kind, spec, dict(options))
    embedder = get_embedder(embedder_spec)
    store = get_store()

    def work(progress, should_cancel):
        return build_index(name, source, embedder, store=store, progress=progress, should_cancel=should_cancel)

    _jobs()[name] = Job(name, work).start()


@st.fragment(run_every=0.5)
def _running_panel(name: str) -> None:
    """Progress of a running job, redrawn alone; when the job ends the whole page reruns."""
    job = _jobs().get(name)
    if job is None or not job.running:
        if job is not None and job.status == DONE:
            select(index=name)
        st.rerun()
    p = job.progress
    fraction = min(p.done / p.total, 1.0) if p is not None and p.total else 0.0
    st.progress(fraction, text=f"Indexing {name}: " + (p.describe() if p else "starting…"))
    if st.button("Cancel", key=f"index_cancel_{name}"):
        job.cancel()


def _job_panel(name: str) -> None:
    job = _jobs().get(name)
    if job is None:
        return
    if job.running:
        _running_panel(name)
        return
    if job.status == FAILED:
        st.error(plain(f"Indexing {name} failed: {job.error}"))  # messages quote file and column names
    elif job.status in (DONE, CANCELLED):
        report = job.result
        verb = "Cancelled" if job.status == CANCELLED else "Done"
        st.success(
            f"{verb}: {name} holds {report.info.n_items if report.info else 0} items; added {report.added} "
            f"in {report.elapsed_s:.1f}s ({report.rate:.0f}/s), {report.already_present} already present, "
            f"{len(report.skipped)} skipped." + (" Run it again to resume." if job.status == CANCELLED else "")
        )
        if report.skipped:
            st.dataframe([s.__dict__ for s in report.skipped[:200]], hide_index=True)
            st.download_button("Download skipped items (CSV)", skipped_csv(report.skipped),
                               file_name=f"{name}-skipped.csv", key=f"index_skipped_{name}")
    if st.button("Dismiss", key=f"index_dismiss_{name}"):
        _jobs().pop(name, None)
        st.rerun()


render_sidebar()
st.title("Index a dataset")
st.caption(f"Workspace: `{workspace_uri()}`")
with st.container(border=True):
    st.text_input("Index name", key="index_name", placeholder="digits")
    picked = _source_form()
    embedder_spec = _embedder_form()
    submitted = st.button("Build index", type="primary", key="index_build")

if submitted:
    name = (st.session_state.get("index_name") or "").strip()
    if not name:
        st.error("Give the index a name.")
    elif picked is None:
        st.error("Choose a source: a folder path, an upload or a dataset id.")
    elif name in _jobs() and _jobs()[name].running:
        st.warning(f"{name} is already being indexed.")
    else:
        try:
            _start(name, *picked, embedder_spec)
        except FewshotError as exc:
            st.error(plain(str(exc)))  # shown as typed: a column or file name must not render as Markdown

for job_name in list(_jobs()):
    _job_panel(job_name)

st.subheader("Indexes in this workspace")
infos = get_store().list_indexes()
if not infos:
    st.info("No indexes yet. The built-in digits demo works offline: pick it above and press Build index.")
else:
    st.dataframe(index_rows(infos), hide_index=True, width="stretch")
    with st.expander("Delete an index"):
        victim = st.selectbox("Index", [i.name for i in infos], key="index_delete_name")
        confirm = st.checkbox(f"Yes, delete '{victim}', its vectors and every concept taught on it",
                              key="index_delete_confirm")
        if st.button("Delete index", disabled=not confirm, key="index_delete"):
            from core.teach_store import TeachStore

            teach = TeachStore(get_store())
            for concept in teach.concepts(victim):
                teach.delete_concept(victim, concept.name)
            get_store().delete_index(victim)
            st.session_state.pop("index_delete_confirm", None)
            st.rerun()
