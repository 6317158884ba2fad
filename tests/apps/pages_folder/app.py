import streamlit as st

from auth import Auth

auth = Auth.from_environment_or_exit()
app = st.App("streamlit_app.py", routes=auth.routes)
