import streamlit as st

from app import auth

user = auth.require_login()
st.title(f"Hello {user.name}")
st.write("You are signed in. Interact with the widgets below; every rerun re-checks your session.")

clicks = st.button("Click me")
st.write("Button clicked." if clicks else "Button not clicked yet.")
st.slider("A slider", 0, 100, 25)
