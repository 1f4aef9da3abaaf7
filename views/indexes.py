"""Index page: build an index from a source with an embedder; see and delete what the workspace holds.

While this session's build runs, its progress sits at the top and the form folds away (in view on any
screen); when it ends, one banner says what happened and offers "Teach this index".
"""

from __future__ import annotations

from types import SimpleNamespace

import streamlit as st

from app.index_form import embedder_form, name_input, source_form
from app.index_jobs import jobs, my_job, others_running, result_banner, running_panel, start_or_explain
from app.items import plain
from app.safe_text import choices
from app.sidebar import render_sidebar
from app.state import get_store
from app.tables import index_rows, skipped_csv, skipped_rows
from core.config import workspace_uri

SKIPPED_SHOWN = 500

st.title("Index a dataset")
st.caption(f"Workspace: `{workspace_uri()}`")
# The sidebar and the index list need the database (importing LanceDB takes seconds on a cold start): they
# come after the form, so a freshly started app shows something to do at once. Streamlit sends each element
# as it is drawn.

for other in others_running():
    running_panel(other)
job = my_job()
running = job is not None and job.running
if running:
    running_panel(job.name)
elif job is not None:
    result_banner(job)
# While the build runs the form folds away (its fields, the upload included, keep their values), so the
# progress stays at the top of a short page: in view on any screen.
with st.expander("Index another dataset", expanded=False) if running else st.container(border=True):
    choice = source_form()
    embedder_spec = embedder_form()
    infos = get_store().list_indexes()
    name = name_input(choice, [i.name for i in infos]).strip()
    button, message = st.columns([1, 4], vertical_alignment="center")
    if button.button("Build index", type="primary", key="index_build"):
        start_or_explain(name, choice, embedder_spec, message)

render_sidebar()
st.subheader("Indexes in this workspace")
if not infos:
    st.info("No indexes yet. The built-in digits demo works offline: pick it above and press Build index.")
else:
    building = {n for n, j in jobs().items() if j.running}
    splits = {i.name: get_store().stored_counts(i) for i in infos}
    stored = {name: sum(counts.values()) for name, counts in splits.items()}
    st.dataframe(index_rows(infos, stored, building, splits), hide_index=True, width="stretch")
    cut_short = [i.name for i in infos if i.status in ("building", "cancelled") and i.name not in building]
    if cut_short:
        st.caption(plain(f"{', '.join(cut_short)}: a build that did not finish (stopped, or the server restarted), "
                         "unless another process is building it now. Build it again with the same name and source "
                         "to resume: the items stored so far are kept and only the rest is embedded."))
    with_skips = [i.name for i in infos if i.n_skipped]
    if with_skips:  # the build's banner lists them once; after a reload this was the only way back to the reasons
        with st.expander("Skipped items"):
            which = st.selectbox("Index", with_skips, key="index_skipped_name", format_func=choices(with_skips))
            skipped = get_store().skipped(which)
            st.caption(f"{len(skipped):,} item{'s' * (len(skipped) != 1)} of {plain(which)} could not be read and "
                       "were left out" + (f"; the first {SKIPPED_SHOWN:,} are shown" if len(skipped) > SKIPPED_SHOWN
                                          else "") + ".")
            st.dataframe(skipped_rows(skipped[:SKIPPED_SHOWN]), hide_index=True, width="stretch")
            st.download_button("Download skipped items (CSV)", skipped_csv([SimpleNamespace(**s) for s in skipped]),
                               file_name=f"{which}-skipped.csv", key="index_skipped_csv")
    with st.expander("Delete an index"):
        names = [i.name for i in infos]
        victim = st.selectbox("Index", names, key="index_delete_name", format_func=choices(names))
        confirm = st.checkbox(plain(f"Yes, delete '{victim}', its vectors and every concept taught on it"),
                              key="index_delete_confirm")
        if st.button("Delete index", disabled=not confirm, key="index_delete"):
            from core.errors import FewshotError
            from core.teach_store import TeachStore

            try:
                TeachStore(get_store()).delete_index(victim)
            except FewshotError as exc:  # being built right now (here or elsewhere): nothing was deleted
                st.error(plain(str(exc)))
            else:
                st.session_state.pop("index_delete_confirm", None)
                st.rerun()
