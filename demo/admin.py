import streamlit as st

from app import auth
from auth import escape_markdown

user = auth.require_role("admin")
st.title("Admin")
st.write(f"Only administrators see this page. Welcome, {escape_markdown(user.name)}.")
