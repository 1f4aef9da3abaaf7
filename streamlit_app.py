"""Router: st.navigation over the pages, and the sidebar shared by all of them."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Few-shot classifier trainer", layout="wide")

pages = [
    st.Page("pages/indexes.py", title="Index", icon=":material/database:", default=True),
]
st.navigation(pages).run()
