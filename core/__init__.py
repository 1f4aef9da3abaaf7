"""Few-shot classifier trainer: the library behind the app. Never imports streamlit."""
