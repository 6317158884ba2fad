import streamlit as st

from app import auth

user = auth.require_login()
st.title("Reports")
st.write(f"This is the Reports page, for {user.preferred_username or user.sub}.")
