"""Router: st.navigation over the pages.

Each page draws the shared sidebar itself (``app.sidebar.render_sidebar``) as its first step, so a
page behaves the same whether the router ran it or a test runs it directly.
"""

from __future__ import annotations

import streamlit as st

from core.os_errors import StorageError

st.set_page_config(page_title="Few-shot classifier trainer", layout="wide")
# A table's own "Download as CSV" writes cells raw (a file named =HYPERLINK(...) came back as a live formula); the
# app's own downloads escape them. Set here too, not only in .streamlit/config.toml, which is read from the folder
# the server starts in.
st.set_option("client.disableDataExport", True)

pages = [
    st.Page("views/indexes.py", title="Index", icon=":material/database:", default=True, url_path="index"),
    st.Page("views/teach.py", title="Teach", icon=":material/school:", url_path="teach"),
    st.Page("views/validate.py", title="Validate", icon=":material/fact_check:", url_path="validate"),
    st.Page("views/map.py", title="Map", icon=":material/scatter_plot:", url_path="map"),
]
try:
    st.navigation(pages).run()
except StorageError as exc:  # a bucket that does not answer, a full disk: its one line, not an exception box
    from app.items import plain

    st.error(plain(str(exc)), icon=":material/cloud_off:")
