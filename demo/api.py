"""Call an API as the signed-in user: the provider's userinfo endpoint, with their access token.

``auth.access_token()`` returns a token with at least a minute left, refreshed on the
server first when needed; the token itself is never shown.
"""

import requests
import streamlit as st

from app import auth
from auth import TokenError

user = auth.require_login()
st.title("API call")
st.write("This page calls the sign-in provider's userinfo endpoint with your access token.")
st.button("Call again", icon=":material/refresh:")  # any click reruns the page, and so the call

endpoint = auth.provider_metadata(user.provider).get("userinfo_endpoint")
if not isinstance(endpoint, str):
    st.info("This sign-in provider has no userinfo endpoint to call.")
    st.stop()

try:
    token = auth.access_token()
except TokenError as error:
    st.error(error.user_message, icon=":material/key_off:")
    st.stop()

left = token.seconds_left()
# Small print in the text colour: st.caption's grey is below WCAG's 4.5:1 for small text.
st.markdown(
    ":small[Access token valid for another "
    + (f"{left:.0f} s" if left is not None else "unknown time (the provider did not say)")
    + "]"
)
try:
    response = requests.get(endpoint, headers={"Authorization": token.authorization}, timeout=10)
except requests.RequestException as error:
    st.error(f"The provider could not be reached ({type(error).__name__}).", icon=":material/cloud_off:")
    st.stop()

st.write(f"`GET {endpoint}` answered **HTTP {response.status_code}**:")
try:
    st.json(response.json(), expanded=True)
except ValueError:
    st.code(response.text[:2000])
