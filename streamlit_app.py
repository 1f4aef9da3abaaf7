"""Router: st.navigation over the pages, and the sidebar shared by all of them."""

from __future__ import annotations

import streamlit as st

from app.sidebar import render_sidebar

st.set_page_config(page_title="Few-shot classifier trainer", layout="wide")

pages = [
    st.Page("pages/indexes.py", title="Index", icon=":material/database:", default=True, url_path="index"),
    st.Page("pages/teach.py", title="Teach", icon=":material/school:", url_path="teach"),
    st.Page("pages/validate.py", title="Validate", icon=":material/fact_check:", url_path="validate"),
]
navigation = st.navigation(pages)
render_sidebar()
navigation.run()
