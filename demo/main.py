"""Entry script: sign-in first, then the pages this user may open."""

import streamlit as st

from app import auth

st.set_page_config(page_title="Streamlit OIDC demo", page_icon=":material/lock:")

pages = [
    st.Page("home.py", title="Home", icon=":material/home:", default=True),
    st.Page("profile.py", title="Your profile", icon=":material/badge:"),
    st.Page("api.py", title="API call", icon=":material/api:", url_path="api"),
    auth.restrict(st.Page("admin.py", title="Admin", icon=":material/shield_person:"), roles=["admin"]),
]
auth.navigation(pages).run()
