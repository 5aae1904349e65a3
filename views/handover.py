"""Handover (离职交接): pick the user who leaves, see how many records of each kind they hold, and say
where each kind goes: the user who takes over everything, or per kind another person or the pool
(customers and leads to their team's shared pool, open tickets back to their queue unassigned); confirm,
and everything moves in one step (core.handover), each record with its history."""
import streamlit as st

from core import handover
from core.i18n import translate
from ui import destinations, errors, forms
from ui.i18n import lang, t
from ui.session import actor, con

me, c = actor(), con()
st.title(t("page.handover"))
forms.show_flash()
st.caption(t("handover.intro"))
state = st.session_state
nonce = state.get("handover_nonce", 0)


def plain(key: str, **params) -> str:
    """Text for a select box's options (plain text, not Markdown: nothing to escape)."""
    return translate(lang(), key, **params)


def user_label(u: dict, active: bool = True) -> str:
    text = plain("handover.user" if active else "handover.user_inactive", name=u["name"], team=u["team"] or "—")
    return text + " · " + plain("handover.held", n=u["held"]) if u.get("held") else text


with errors.handled():
    people = {u["id"]: u for u in handover.leavers(c, me)}
    takers = {u["id"]: u for u in handover.receivers(c, me)}
    c1, c2 = st.columns(2)
    leaver = c1.selectbox(t("handover.from"), list(people), index=None, placeholder=plain("handover.pick"),
                          format_func=lambda i: user_label(people[i], people[i]["active"]), key=f"ho_from_{nonce}")
    choices = [i for i in takers if i != leaver]
    receiver = c2.selectbox(t("handover.to_all"), choices, index=None, placeholder=plain("handover.pick_or_per_kind"),
                            format_func=lambda i: user_label(takers[i]), key=f"ho_to_{nonce}_{leaver}")
    if not choices:
        st.info(t("handover.no_receivers"))
    if leaver is not None:
        counts = handover.preview(c, me, leaver, receiver)
        total = sum(counts.values())
        st.subheader(t("handover.moves"))
        destinations.counts_table(counts, "ho_counts")
        if total == 0:
            st.info(t("handover.nothing", name=people[leaver]["name"]))
        else:
            takers_names = {i: plain("handover.user", name=u["name"], team=u["team"] or "—") for i, u in takers.items()}
            where = destinations.picker(counts, takers_names, leaver, f"ho_dest_{nonce}_{leaver}_{receiver}", receiver)
            if where is not None and st.button(t("handover.confirm", n=total), type="primary",
                                               key=f"ho_go_{nonce}", icon=":material/move_up:"):
                values = {"from": leaver, "to": receiver, "where": where, "counts": counts}
                if not forms.first_submit("handover", values):
                    st.info(t("action.already_done"))
                else:
                    done = handover.handover(c, me, leaver, receiver, destinations=where)
                    forms.remember_submit("handover", values)
                    n = sum(done.values())
                    if receiver is not None and all(v == receiver for v in where.values() if v is not None):
                        forms.flash(t("handover.done", n=n, leaver=people[leaver]["name"],
                                      receiver=takers[receiver]["name"]))
                    else:
                        forms.flash(t("handover.done_split", n=n, leaver=people[leaver]["name"]))
                    state["handover_nonce"] = nonce + 1
                    st.rerun()
