"""Entry point: page config, login gate, the acting user, navigation built from the role."""
import streamlit as st

from ui import auth as ui_auth
from ui import errors
from ui import nav
from ui import scheduler as ui_scheduler
from ui.db import con as get_con

st.set_page_config(page_title="CRM", page_icon=":material/hub:", layout="wide")

with errors.guarded():  # whatever fails, the user reads a message in their language, never a trace
    con = get_con()
    ui_scheduler.start()  # scheduled jobs (SLA escalation...) once per process, on their own thread
    actor = ui_auth.require_login(con)
    st.session_state["_crm_actor"] = actor
    ui_auth.sidebar(con, actor)
    page = nav.navigation(con, actor)
    page.run()
