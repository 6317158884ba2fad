import streamlit as st

st.title("Open data")
st.write("This page forgot its guard.")
