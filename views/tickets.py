"""Service desk (客服): the queues (ui.ticket_queue); `?id=N` opens one ticket, `?new=1[&customer=N]`
starts a new one. The page only dispatches; the ticket page and the queues live in ui/."""
import streamlit as st

from ui import ticket_page

if st.query_params.get("id") or st.query_params.get("new"):
    ticket_page.render()
else:
    try:
        from ui import ticket_queue
    except ImportError:  # the queue screen is not there yet: a plain list of the open tickets
        ticket_queue = None
    if ticket_queue is not None:
        ticket_queue.render()
    else:
        ticket_page.fallback_list()
