"""The demo app's launcher: ``streamlit run app.py``.

Streamlit finds ``app`` (an ``st.App``) here and serves our ``/auth/*``
routes beside the pages. Page scripts import ``auth`` from this module, so
the whole process shares one configured instance.
"""

from pathlib import Path

import streamlit as st

from auth import Auth

HERE = Path(__file__).parent

auth = Auth.from_environment_or_exit(dotenv_path=HERE / ".env")

app = st.App(HERE / "demo" / "main.py", routes=auth.routes)
