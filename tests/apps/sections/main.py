"""A sectioned menu, as Streamlit documents it for grouped pages, with one restricted page and
one section whose only page is restricted; pages given as st.Page objects, a file path and a
function. ``APP_NAVIGATION`` (sections | list) and ``APP_POSITION`` pick the shape."""

import os

import streamlit as st

from app import auth

st.set_page_config(page_title="Sectioned app", layout="wide")


def settings() -> None:
    st.title("Settings")
    st.write("Settings of the sectioned app.")


home = st.Page("home.py", title="Overview", default=True)
reports = st.Page("reports.py", title="Reports")
admin = auth.restrict(st.Page("admin.py", title="Admin console"), roles=["admin"])
audit = auth.restrict(st.Page("audit.py", title="Audit log"), roles=["auditor"])

if os.environ.get("APP_NAVIGATION", "sections") == "sections":
    pages = {"Core": [home, reports], "Operations": [admin, settings], "Compliance": [audit]}
else:
    pages = [home, reports, admin, "audit.py", settings]
position = os.environ.get("APP_POSITION", "sidebar")
auth.navigation(pages, position=position, expanded=True).run()  # type: ignore[arg-type]
