import streamlit as st

from app import auth

user = auth.require_login()
st.title("Your profile")
st.json(
    {
        "sub": user.sub,
        "issuer": user.issuer,
        "provider": user.provider,
        "email": user.email,
        "email_verified": user.email_verified,
        "preferred_username": user.preferred_username,
        "roles": list(user.roles),
        "groups": list(user.groups),
    }
)
