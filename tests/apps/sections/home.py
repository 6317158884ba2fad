import streamlit as st

from app import auth

user = auth.require_login()
st.title("Overview")
st.write(f"This is the Overview page, for {user.preferred_username or user.sub}.")
