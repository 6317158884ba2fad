import streamlit as st

from app import auth

user = auth.require_role("admin")
st.title("Admin")
st.write(f"Only administrators see this page. Welcome, {user.name}.")
