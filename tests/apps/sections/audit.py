import streamlit as st

from app import auth

user = auth.require_login()
st.title("Audit log")
st.write(f"This is the Audit log page, for {user.preferred_username or user.sub}.")
