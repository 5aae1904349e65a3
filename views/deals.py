"""Pipeline (销售漏斗): the board and the list of deals; `?id=N` opens one deal, `?new=1[&customer=N]`
starts a new one. The page only dispatches; the deal page and the board live in ui/."""
import streamlit as st

from ui import deal_board, deal_page

if st.query_params.get("id") or st.query_params.get("new"):
    deal_page.render()
else:
    deal_board.render()
