"""Money on the customer page (交易记录): invoiced, received, outstanding, revenue, order count and last
order, and the customer's orders with a link to each; shared bits of the orders page (status names,
money metrics, links to pages the user's menu has)."""
from __future__ import annotations

import polars as pl
import streamlit as st

from core import access, clock, orders
from ui import tables
from ui.i18n import t

ORDERS_PAGE = "views/orders.py"
_ORDER_COLUMNS = {"order_no": "order.order_no", "ordered_at": "order.ordered_at", "status": "order.status",
                  "amount": "order.amount", "received": "order.received", "outstanding": "order.outstanding",
                  "owner_name": "order.owner_id"}


def status_name(status: str | None) -> str:
    return t(f"order.status_{status}") if status in orders.STATUSES else (status or "")


def money(value: float | None, currency: str | None = None) -> str:
    text = f"{float(value or 0):,.2f}"
    return f"{text} {currency}" if currency else text


def has_page(con, actor, path: str) -> bool:
    from ui import nav

    return any(p.path == path for p in nav.allowed(con, actor))


def with_status_names(df: pl.DataFrame) -> pl.DataFrame:
    names = {s: status_name(s) for s in orders.STATUSES}
    return df.with_columns(pl.col("status").replace_strict(names, default=pl.col("status"))) if "status" in df.columns \
        else df


def customer_money(con, actor, customer_id: int) -> None:
    """The customer's money panel and orders; nothing for a user without the orders view."""
    if not access.can(con, actor, "orders", "view"):
        return
    figures = orders.customer_money(con, actor, customer_id)
    cur = figures["currency"]
    st.subheader(t("orders.money_title"))
    a, b, c = st.columns(3)
    d, e, f = st.columns(3)
    a.metric(t("order.invoiced"), money(figures["invoiced"]))
    b.metric(t("order.received"), money(figures["received"]))
    c.metric(t("order.outstanding"), money(figures["outstanding"]),
             delta=t("orders.overdue_part", amount=money(figures["overdue"])) if figures["overdue"] else None,
             delta_color="inverse" if figures["overdue"] else "off")
    d.metric(t("orders.revenue"), money(figures["revenue"]))
    e.metric(t("orders.order_count"), f"{figures['order_count']:,}")
    f.metric(t("orders.last_order"), clock.fmt(con, figures["last_order_at"])[:10] if figures["last_order_at"] else "—")
    st.caption(t("orders.money_hint", currency=cur))
    df = orders.customer_orders(con, actor, customer_id)
    linked = has_page(con, actor, ORDERS_PAGE)
    if df.is_empty():
        st.info(t("orders.customer_none"))
    elif linked:
        picked = tables.select_one(with_status_names(df), _ORDER_COLUMNS, key=f"cust_orders_{customer_id}")
        st.caption(t("orders.pick_hint"))
        if picked is not None:
            st.switch_page(ORDERS_PAGE, query_params={"id": str(picked)})
    else:
        tables.show(with_status_names(df), _ORDER_COLUMNS, key=f"cust_orders_{customer_id}")
    if linked:
        l1, l2 = st.columns(2)
        if orders.can_create_for(con, actor, customer_id):
            l1.page_link(ORDERS_PAGE, label=t("orders.new"), icon=":material/add_shopping_cart:",
                         query_params={"new": "1", "customer": str(customer_id)})
        if not df.is_empty():
            l2.page_link(ORDERS_PAGE, label=t("orders.all_of_customer"), icon=":material/receipt_long:",
                         query_params={"customer": str(customer_id)})
