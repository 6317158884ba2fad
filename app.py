"""The demo app's launcher: ``streamlit run app.py``.

Streamlit finds ``app`` (an ``st.App``) here and serves our ``/auth/*``
routes beside the pages. Page scripts import ``auth`` from this module, so
the whole process shares one configured instance.
"""

import os
from pathlib import Path

import streamlit as st

from auth import Auth

HERE = Path(__file__).parent

# Settings: the environment over AUTH_ENV_FILE (set it empty to read none), else .env beside this file.
auth = Auth.from_environment_or_exit(dotenv_path=os.environ.get("AUTH_ENV_FILE", HERE / ".env") or None)

app = st.App(HERE / "demo" / "main.py", routes=auth.routes)
