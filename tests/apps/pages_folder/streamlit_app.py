"""The entry script of a pages/ folder app, with sign-in added to it alone."""

import streamlit as st

from app import auth

user = auth.require_login()
st.title("Home")
st.write(f"Home page of the pages-folder app, for {user.preferred_username or user.sub}.")
