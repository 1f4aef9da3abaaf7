"""Indexing jobs on the Index page: start one, its progress while it runs, one result banner when it ends.

Jobs belong to the server process (they survive page changes and reloads); which job's result this
browser session sees is kept in its session state, so a new build's banner replaces the last one
instead of stacking up. After a build, "Teach this index" goes straight to the Teach page with the
index selected and the new-concept form open.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from app.index_form import SourceChoice
from app.items import plain
from app.state import get_store, select
from app.tables import skipped_csv, skipped_rows
from core.errors import FewshotError
from core.jobs import CANCELLED, DONE, FAILED, Job

MINE = "index_my_job"  # session key: the name of the job this session started last


@st.cache_resource
def jobs() -> dict[str, Job]:
    """Indexing jobs of this server process, so a job survives page changes and reruns."""
    return {}


def my_job() -> Job | None:
    name = st.session_state.get(MINE)
    return jobs().get(name) if name else None


def resolve_source(choice: SourceChoice, name: str):
    """The Source for a choice; uploads are first saved (tables) or safely extracted (zips) under the workspace.

    A refused upload is removed again: nothing partial is kept."""
    from core.sources import parse_source
    from core.uploads import folder_source_from_upload, table_source_from_upload

    options = {k: v for k, v in choice.options.items() if v is not None and v != []}
    upload = choice.upload
    if upload is not None:
        if upload.name.lower().endswith(".zip"):
            with tempfile.NamedTemporaryFile(suffix=".zip") as tmp:
                tmp.write(upload.getbuffer())
                tmp.flush()
                return folder_source_from_upload(name, upload.name, Path(tmp.name))
        return table_source_from_upload(name, upload.name, bytes(upload.getbuffer()), **options)
    return parse_source(choice.spec, confine=True, **options)  # typed paths stay inside the data folders


def start(name: str, choice: SourceChoice, embedder_spec: str) -> None:
    """Check the inputs here (errors show next to the button), then load the model and index in a job."""
    from core.build_lock import refuse_if_building
    from core.embedders import confine_embedder_spec
    from core.errors import FewshotError
    from core.index_job import build_index_from_spec
    from core.store import validate_index_name

    validate_index_name(name)
    refuse_if_building(get_store().root, name)  # another tab or the CLI is building it: say so at the button
    embedder_spec = confine_embedder_spec(embedder_spec)  # a model folder inside the data folders, or a hub id
    source = resolve_source(choice, name)
    store = get_store()
    is_upload = choice.upload is not None

    def work(progress, should_cancel):
        try:
            return build_index_from_spec(name, source, embedder_spec, store=store, progress=progress,
                                         should_cancel=should_cancel)
        except FewshotError:
            if is_upload and not _upload_in_use(store, name, source):  # a refused upload leaves nothing behind
                from core.uploads import discard_upload

                discard_upload(getattr(source, "path", None) or getattr(source, "root", ""))
            raise

    jobs()[name] = Job(name, work).start()
    st.session_state[MINE] = name


def _upload_in_use(store, name: str, source) -> bool:
    """Whether the index already reads this upload (a resume that failed keeps it). An upload refused for an
    existing index built from another file was kept before, though nothing used it (an outside tester)."""
    if not store.has_index(name):
        return False
    path = str(getattr(source, "path", None) or getattr(source, "root", ""))
    return (store.get_index(name).source or {}).get("path") == path


@st.fragment(run_every=0.5)
def running_panel(name: str) -> None:
    """Progress of a running job (items, percent, rate, time left), redrawn alone; the page reruns at the end."""
    job = jobs().get(name)
    if job is None or not job.running:
        if job is not None and job.status == DONE and job.result is not None:
            select(index=name)
        st.rerun()
    p = job.progress
    text = f"Indexing {name}: " + (p.describe() if p is not None else "starting…")
    st.progress(p.fraction if p is not None else 0.0, text=plain(text))
    if st.button("Cancel", key=f"index_cancel_{name}"):
        job.cancel()


def result_banner(job: Job) -> None:
    """The one banner for this session's last job: what happened, skipped items, and what to do next."""
    name = job.name
    if job.status == FAILED:
        st.error(plain(f"Indexing {name} failed: {job.error}"))  # messages quote file and column names
    elif job.result is None:  # cancelled while the model was loading
        st.warning(plain(f"Cancelled {name} before any item was indexed."))
    else:
        report = job.result
        cancelled = job.status == CANCELLED
        verb = "Cancelled" if cancelled else "Done"
        n_items = report.info.n_items if report.info else 0
        st.success(plain(
            f"{verb}: {name} holds {n_items:,} items; added {report.added:,} in {report.elapsed_s:.1f}s "
            f"({report.rate:,.0f}/s), {report.already_present:,} already present, {len(report.skipped):,} skipped."
            + (f" Items {note}." if (note := _split_note(report)) else "")
            + (" Run it again to resume." if cancelled else "")
        ))
        if not cancelled and report.info and (warning := _no_validation(report)):
            st.warning(plain(warning))
        if report.skipped:
            n_skipped = len(report.skipped)
            with st.expander(f"{n_skipped:,} skipped item{'s' * (n_skipped != 1)}"):
                st.dataframe(skipped_rows(report.skipped[:200]), hide_index=True)
                st.download_button("Download skipped items (CSV)", skipped_csv(report.skipped),
                                   file_name=f"{name}-skipped.csv", key=f"index_skipped_{name}")
    c1, c2, _ = st.columns([1.3, 1, 4])
    if job.status in (DONE, CANCELLED) and job.result is not None and job.result.info and job.result.info.n_items:
        if c1.button("Teach this index", type="primary", key="index_teach", icon=":material/school:"):
            teach(name)
    if c2.button("Dismiss", key="index_dismiss"):
        st.session_state.pop(MINE, None)
        if not job.running:
            jobs().pop(name, None)
        st.rerun()


def teach(name: str) -> None:
    """Go to the Teach page with this index selected and the new-concept form open."""
    select(index=name, concept=None)
    st.session_state["teach_creating"] = True
    st.session_state.pop(MINE, None)
    st.switch_page("views/teach.py")


def others_running() -> list[str]:
    """Jobs other sessions (or this one, earlier) started that are still running."""
    mine = st.session_state.get(MINE)
    return [n for n, j in jobs().items() if j.running and n != mine]


def _source_given() -> bool:
    """Something was typed or uploaded for the chosen kind of source (so a missing choice means it was refused)."""
    kind = st.session_state.get("index_source_kind")
    typed = {"table": "index_table_path", "folder": "index_folder", "upload": "index_upload",
             "hf": "index_hf_id"}.get(kind)
    return bool(typed and st.session_state.get(typed))


def start_or_explain(name: str, choice: SourceChoice | None, embedder_spec: str, where) -> None:
    """Start a build, or put the reason it cannot start into ``where`` (next to the button)."""
    if not name:
        where.error("Give the index a name.")
    elif choice is None and _source_given():
        where.error("The source above cannot be used as it is: its message says why. Fix it, then build.")
    elif choice is None:
        where.error("Choose a source: a file, a folder path, an upload or a dataset id.")
    elif name in jobs() and jobs()[name].running:
        where.warning(plain(f"{name} is already being indexed."))
    else:
        try:
            start(name, choice, embedder_spec)
        except FewshotError as exc:
            where.error(plain(str(exc)))  # shown as typed: a column or file name must not render as Markdown
            return
        except OSError as exc:  # saving an upload: a full disk, a name too long, no permission; not a traceback
            from core.os_errors import explain_storage

            explained = explain_storage(exc, "saving the upload")
            if explained is None:
                raise
            where.error(plain(str(explained)))
            return
        st.rerun()


def _no_validation(report) -> str:
    from core.source_base import no_validation_warning

    return no_validation_warning(report.info.counts, report.info.source or {}, no_column="pick no split column")


def _split_note(report) -> str:
    from core.source_base import split_note

    return split_note(report.info.source) if report.info else ""
