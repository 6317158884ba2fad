import streamlit as st

from app import auth
from auth import escape_markdown

user = auth.require_login()
# Names come from the provider: escape_markdown shows them as plain text, never as markdown.
st.title(f"Hello {escape_markdown(user.name)}")
st.write("You are signed in. Interact with the widgets below; every rerun re-checks your session.")

clicks = st.button("Click me")
st.write("Button clicked." if clicks else "Button not clicked yet.")
st.slider("A slider", 0, 100, 25)
