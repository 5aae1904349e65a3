"""Streamlit-only glue shared by pages. Never talks to the database except through core/."""
