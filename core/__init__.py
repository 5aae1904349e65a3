"""The CRM's core: every rule, query and check. Never imports Streamlit."""
