import streamlit as st

from app import auth

auth.require_login()
st.title("Guarded")
st.write("Only signed-in users see this.")
