import streamlit as st

from app import auth

user = auth.require_login()
st.title("Admin console")
st.write(f"This is the Admin console page, for {user.preferred_username or user.sub}.")
