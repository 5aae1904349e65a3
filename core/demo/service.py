"""Service: tickets (and the onboarding ticket of each hand-off) with their conversation, and feedback.

Tickets follow the service desk's flow (core.tickets): new (nobody has answered) -> open (the first reply
by an agent, first_response_at) -> pending (waiting on the customer: the SLA clock pauses) -> open again ->
resolved -> closed. The SLA is counted in business minutes on the working calendar (core.sla): targets
from sla_targets / sla_level_targets (the customer's level first), and every instant a ticket reaches is
placed on the calendar set-based in SQL (`work_clock` for instant -> working minutes, an ASOF JOIN on
work_calendar.before_minutes for the way back), so agents answer in working hours, dues skip nights,
weekends and public holidays (with the make-up working days), and a pause moves the resolution due later
by the working minutes it lasted. Each ticket's events (created, assign, reply, note, status, csat) are
consistent with its timestamps: the first reply by an agent is exactly first_response_at.

Feedback: CSAT of rated tickets, NPS surveys per customer (a rolling survey every half year of being a
customer), complaints (owner, due date; some overdue, some closed with a resolution) and suggestions.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from core.demo.common import DAY, HOUR, PRODUCTS, US, Base, _by_time, _date, _float, _int, _pick, _ts, _where

TICKET_CATEGORIES = [("technical", 0.35), ("product", 0.25), ("billing", 0.20), ("refund", 0.10), ("cancellation", 0.10)]
TICKET_SUBJECTS = {
    "technical": ["Cannot log in", "Sync error with mobile app", "Report export fails", "系统登录异常", "数据同步失败"],
    "product": ["How to configure pool rules", "Feature request: bulk edit", "Scanner not pairing", "扫描枪无法连接"],
    "billing": ["Invoice amount incorrect", "Need VAT invoice", "发票抬头修改", "Payment not reflected"],
    "refund": ["Refund request", "申请退款", "Duplicate charge"],
    "cancellation": ["Cancel subscription", "合同到期不续约", "Downgrade plan"],
}
PRIORITIES = ["low", "medium", "high", "critical"]
CHANNELS = ["phone", "email", "chat", "web", "visit"]          # core.tickets.CHANNELS
REPLY_CHANNEL = np.array([0, 1, 2, 1, 0])                     # an agent answers a web form by e-mail
RESOLUTIONS = ["Reset password and verified login", "Corrected configuration remotely", "Issued corrected invoice",
               "Refund processed", "Explained the feature with a guide", "Replaced the device",
               "Fixed in release, customer confirmed", "已远程协助解决", "已重新开具发票"]
FIRST_REPLIES = ["Thanks for reaching out, we are looking into it.", "We received your request and are checking the logs.",
                 "您好，已收到您的问题，正在处理中。", "Could you tell us which version you are using?",
                 "您好，我们已经联系技术同事排查。"]
WAIT_REPLIES = ["Could you send us a screenshot of the error?", "Please confirm the invoice details so we can reissue it.",
                "请提供订单号，方便我们核实。", "We need the device serial number to continue."]
MORE_REPLIES = ["We have found the cause and are preparing a fix.", "Update: the fix is being tested.",
                "已经安排工程师处理，请耐心等待。", "Please try again now and let us know."]
NOTES = ["Checked with R&D, known issue", "Customer is a key account, handle with care", "Asked finance to verify",
         "内部备注：已升级给二线支持", "Similar ticket last month", "内部备注：客户情绪较大"]
FEEDBACK_COMMENTS = {
    "low": ["Response was too slow", "Problem came back", "客服响应太慢", "Not solved on first contact"],
    "mid": ["OK", "Solved, but took a while", "还可以"],
    "high": ["Very helpful, thanks!", "Quick fix", "服务很好", "Great support team"],
}
COMPLAINTS = ["Engineer missed the appointment", "Invoice sent three times with errors", "服务态度差",
              "Problem reported twice, still not fixed", "退款迟迟未到账", "Nobody called back as promised"]
SUGGESTIONS = ["Add a WeChat mini program", "希望增加批量导出功能", "Offer training videos", "Weekend support hours"]
COMPLAINT_RESOLUTIONS = ["Apologised and offered a free month", "已致电客户道歉并解决", "Escalated to the team lead, fixed",
                         "Refund completed and confirmed with the customer"]
WORK_DAY_MINUTES = 540                 # used only to size the generated delays; the calendar decides the dues


class Service(Base):
    # ------------------------------------------------------------------ the working calendar, set-based
    def _work_clock(self, us: np.ndarray) -> np.ndarray:
        """Working minutes of the calendar at each instant (epoch us): the SQL macro work_clock."""
        frame = pl.DataFrame({"i": np.arange(us.size), "ts": _ts(us)})     # read by the SQL below
        out = self.con.execute("SELECT work_clock(ts, ?) AS x FROM frame ORDER BY i", [self.tz]).fetchnumpy()["x"]
        del frame
        return np.asarray(out, float)

    def _work_instant(self, x: np.ndarray) -> np.ndarray:
        """The instant (epoch us) the working clock reaches x minutes: an ASOF JOIN on before_minutes."""
        frame = pl.DataFrame({"i": np.arange(x.size), "x": np.asarray(x, float)})
        out = self.con.execute(
            "SELECT epoch_us(c.work_start_utc + to_microseconds(CAST(round((f.x - c.before_minutes) * 60000000) "
            "AS BIGINT))) AS at FROM frame f ASOF LEFT JOIN (SELECT before_minutes, work_start_utc FROM work_calendar "
            "WHERE workday) c ON f.x > c.before_minutes ORDER BY f.i").fetchnumpy()["at"]
        del frame
        return np.asarray(out, np.int64)

    def _targets(self, prio: np.ndarray, level: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """SLA targets in business minutes per ticket: the customer level's own first, else the priority's."""
        base = {p: (f, r) for p, f, r in self.con.execute(
            "SELECT priority, first_response_hours, resolution_hours FROM sla_targets").fetchall()}
        own = {(p, lv): (f, r) for p, lv, f, r in self.con.execute(
            "SELECT priority, level, first_response_hours, resolution_hours FROM sla_level_targets").fetchall()}
        table = np.zeros((len(PRIORITIES), 3, 2))
        for i, p in enumerate(PRIORITIES):
            for j, lv in enumerate("ABC"):
                table[i, j] = own.get((p, lv), base.get(p, (8.0, 48.0)))
        minutes = np.round(table[prio, level] * 60).astype(np.int64)
        return minutes[:, 0], minutes[:, 1]

    # ------------------------------------------------------------------ tickets and feedback
    def tickets(self) -> None:
        from core import clock, sla

        n, rng, c = self.n, self.rng, self.clock
        sla.ensure_calendar(self.con)
        self.tz = clock.zone(self.con).key
        k = 3 * n // 10
        buyers = np.nonzero(self.is_won)[0]
        others = np.nonzero(~self.is_won & (self.cust_stage > 0))[0]
        if others.size == 0:
            others = np.arange(n)
        from_buyer = rng.random(k) < (0.8 if buyers.size else 0.0)
        won_day = np.where(self.is_won, c.day_of(self.won_at), c.T + 1)
        day = c.workday(c.days(0, c.T, k), 0.5)
        by_buyer = self.pick_by_day(day, won_day, np.where(self.is_won, self.order_count + 1.0, 0.0))
        other_w = np.zeros(n)
        other_w[others] = 1.0
        by_other = self.pick_by_day(day, self.cust_created_day, other_w)
        cust = np.where(from_buyer, by_buyer, by_other)
        from_buyer &= self.is_won[cust]
        lo = np.where(from_buyer, won_day[cust], self.cust_created_day[cust])
        opened = c.at(np.maximum(day, lo))
        opened = c.past(np.maximum(opened, np.where(from_buyer, self.won_at[cust], self.cust_created[cust]) + HOUR))
        prio = rng.choice(4, k, p=[0.3, 0.42, 0.2, 0.08])
        cat = self.choose(TICKET_CATEGORIES, k)
        channel = rng.choice(5, k, p=[0.3, 0.3, 0.22, 0.12, 0.06])
        prod = rng.integers(0, len(PRODUCTS), k)
        first_order_day = np.where(self.first_order < np.iinfo(np.int64).max, self.first_order // DAY, 0)

        # the onboarding tickets of the hand-offs join them: one flow for every ticket
        h, d = self.ho, self.d
        ko = h["cust"].size
        h["bought"] = self.bought_text(h["deal"])
        kt = k + ko
        onb = np.arange(kt) >= k
        cust = np.concatenate([cust, h["cust"]])
        opened = np.concatenate([opened, h["created"]])
        prio = np.concatenate([prio, np.ones(ko, np.int64)])                  # medium
        channel = np.concatenate([channel, np.full(ko, 3)])                    # the hand-off form (web)
        prod = np.concatenate([prod, d["prod"][h["deal"]]])
        fr_m, res_m = self._targets(prio, self.cust_level[cust])

        # how long each step takes, in business minutes: most within the targets, some not; a share waits
        # on the customer (a fix, a part) for days to weeks after the first answer: the clock pauses
        fr_ok = rng.random(kt) < 0.9
        fr_biz = np.maximum(fr_m * np.where(fr_ok, rng.beta(2, 3, kt), rng.uniform(1.05, 3, kt)), 1.0)
        res_ok = rng.random(kt) < 0.85
        res_biz = res_m * np.where(res_ok, rng.beta(2, 2.5, kt), rng.uniform(1.05, 2.5, kt))
        res_biz = np.where(onb, rng.uniform(1.5, 18, kt) * WORK_DAY_MINUTES, res_biz)
        fr_biz = np.where(onb, fr_m * rng.uniform(0.2, 0.9, kt), fr_biz)
        res_biz = np.maximum(res_biz, fr_biz + 10)
        wait = rng.random(kt) < np.where(onb, 0.25, 0.12)
        pause_biz = fr_biz + rng.uniform(0.1, 0.8, kt) * (res_biz - fr_biz)
        pause_len = ((np.where(onb, 1 + rng.exponential(4, kt), 2 + rng.exponential(12, kt))) * DAY).astype(np.int64)

        # on the calendar (set-based SQL): opening -> working minutes; minutes -> instants
        w_open = self._work_clock(opened)
        at = self._work_instant(np.concatenate([w_open + fr_biz, w_open + fr_m, w_open + pause_biz, w_open + res_m]))
        fr_at, fr_due, pause_at, res_due_unpaused = (at[i * kt:(i + 1) * kt] for i in range(4))
        fr_at = np.maximum(fr_at, opened + 60 * US)
        back_at = pause_at + pause_len
        paused = np.where(wait, np.round(np.maximum(self._work_clock(back_at) - (w_open + pause_biz), 0.0)), 0.0)
        at = self._work_instant(np.concatenate([w_open + res_biz + paused, w_open + res_m + paused]))
        res_at, res_due_paused = at[:kt], at[kt:]
        res_at = np.maximum(res_at, np.where(wait, back_at, fr_at) + 10 * 60 * US)
        close_at = res_at + (rng.uniform(1, 7, kt) * DAY).astype(np.int64)

        # where each ticket stands at "now"
        now = c.now_us
        responded = fr_at <= now
        resolved = res_at <= now
        closed = close_at <= now
        pausing = wait & responded & (pause_at <= now)
        pending = pausing & (back_at > now) & ~resolved
        resumed = pausing & (back_at <= now)
        status = np.select([closed, resolved, pending, responded], [4, 3, 2, 1], 0)   # STATUSES index
        paused_minutes = np.where(resumed, paused, 0).astype(np.int64)
        res_due = np.where(resumed, res_due_paused, res_due_unpaused)
        # who works it: the service queue; a new ticket nobody has touched is often not assigned yet
        svc_w = np.linspace(1.5, 0.7, self.service_ids.size)
        assignee = self.service_ids[rng.choice(self.service_ids.size, kt, p=svc_w / svc_w.sum())]
        assigned = responded | (rng.random(kt) < 0.4)
        assign_at = np.where(responded, opened + (rng.uniform(0, 0.9, kt) * (fr_at - opened)).astype(np.int64),
                             opened + (rng.uniform(0, 1, kt) * (now - opened)).astype(np.int64))
        assign_at = np.minimum(assign_at, now - 60 * US)
        status_at = np.select([closed, resolved, pending, resumed, responded],
                              [close_at, res_at, pause_at, back_at, fr_at], opened)
        rated = resolved & ~onb & (rng.random(kt) < 0.6)
        breached = (fr_at > fr_due) | (res_at > res_due)
        p_good = np.where(breached[:, None], [0.15, 0.2, 0.3, 0.2, 0.15], [0.03, 0.05, 0.15, 0.37, 0.4])
        score = np.minimum(1 + (rng.random(kt)[:, None] > np.cumsum(p_good, axis=1)).sum(axis=1), 5)
        csat_at = np.maximum(c.past(res_at + (rng.uniform(0.1, 48, kt) * HOUR).astype(np.int64)), res_at)
        csat_comment = rng.random(kt) < 0.4
        updated = np.maximum.reduce([opened, np.where(assigned, assign_at, 0), status_at,
                                     np.where(rated, csat_at, 0)])

        # what the tickets say
        subj_all = [s for cat_name, _ in TICKET_CATEGORIES for s in TICKET_SUBJECTS[cat_name]]
        subj_start = np.cumsum([0] + [len(TICKET_SUBJECTS[x]) for x, _ in TICKET_CATEGORIES])[:-1]
        subj_count = np.array([len(TICKET_SUBJECTS[x]) for x, _ in TICKET_CATEGORIES])
        subj = subj_start[cat] + rng.integers(0, 1 << 30, k) % subj_count[cat]
        names = self.cust_name.gather(_int(h["cust"]))
        subject = pl.concat([_pick(subj_all, subj),
                             _where(self.cust_zh[h["cust"]], "新客户交付：" + names, "Onboarding: " + names)])
        cat_codes = [x for x, _ in TICKET_CATEGORIES] + ["onboarding"]
        cat = np.concatenate([cat, np.full(ko, len(TICKET_CATEGORIES))])
        sub = self._sub_categories(cat_codes, cat)
        description = pl.concat([_pick(["Customer reported by " + x for x in ["phone", "email", "chat", "web form", "a visit"]],
                                       channel[:k]), h["bought"]])
        resolution = _where(onb, _pick(["Onboarding completed, customer live", "已完成上线交付"],
                                       self.cust_zh[cust].astype(np.int64)),
                            _pick(RESOLUTIONS, rng.integers(0, len(RESOLUTIONS), kt)))
        resolution = _where(resolved, resolution, pl.Series([None] * kt, dtype=pl.String))
        deal_id = np.concatenate([np.zeros(k, np.int64), h["deal"] + 1])
        purchased = np.concatenate([first_order_day[cust[:k]], d["closed_us"][h["deal"]] // DAY])
        has_purchase = np.concatenate([from_buyer & (first_order_day[cust[:k]] > 0), np.ones(ko, bool)])
        created_by = np.concatenate([np.where(channel[:k] != 3, assignee[:k], 0), d["owner"][h["deal"]]])

        # ticket ids follow the opening time
        new_id = np.empty(kt, np.int64)
        new_id[np.argsort(opened - opened % US, kind="stable")] = np.arange(1, kt + 1)
        self.ho["ticket"] = new_id[k:]
        self.load("tickets", pl.DataFrame({
            "id": _int(new_id),
            "customer_id": _int(cust + 1),
            "deal_id": _int(deal_id, deal_id > 0),
            "contact_id": _int(self.primary_contact[cust], self.primary_contact[cust] > 0),
            "subject": subject,
            "description": description,
            "category": _pick(cat_codes, cat),
            "sub_category": sub,
            "product": _pick([p[1] for p in PRODUCTS], prod),
            "product_id": _int(prod + 1),
            "purchased_on": _date(purchased, has_purchase),
            "priority": _pick(PRIORITIES, prio),
            "channel": _pick(CHANNELS, channel),
            "status": _pick(["new", "open", "pending", "resolved", "closed"], status),
            "assignee_id": _int(assignee, assigned),
            "team_id": _int(np.full(kt, self.team_id["Service"])),
            "opened_at": _ts(opened),
            "first_response_minutes": _int(fr_m),
            "resolution_minutes": _int(res_m),
            "first_response_due": _ts(fr_due),
            "resolution_due": _ts(res_due),
            "pending_since": _ts(pause_at, pending),
            "paused_minutes": _int(paused_minutes),
            "first_response_at": _ts(fr_at, responded),
            "resolved_at": _ts(res_at, resolved),
            "closed_at": _ts(close_at, closed),
            "status_changed_at": _ts(status_at),
            "resolution": resolution,
            "satisfaction": _float(score, rated),
            "reopen_count": _int(np.zeros(kt)),
            "created_by": _int(created_by, created_by > 0),
            "created_at": _ts(opened),
            "updated_at": _ts(updated),
        }).sort("id").with_columns(ticket_no="TK" + pl.col("id").cast(pl.String).str.zfill(7)))

        t = dict(id=new_id, cust=cust, opened=opened, channel=channel, assignee=assignee, assigned=assigned,
                 assign_at=assign_at, responded=responded, fr_at=fr_at, wait=wait, pausing=pausing,
                 pause_at=pause_at, resumed=resumed, back_at=back_at, resolved=resolved, res_at=res_at,
                 closed=closed, close_at=close_at, rated=rated, score=score, csat_at=csat_at,
                 csat_comment=csat_comment, created_by=created_by, resolution=resolution, onb=onb)
        comment = self._ticket_events(t)
        self._feedback(t, comment)

    def _sub_categories(self, cat_codes: list[str], cat: np.ndarray) -> pl.Series:
        """A sub-category of the admin's list (option list ticket_subcategory, parent = the category)."""
        rows = self.con.execute("SELECT parent, code FROM option_lists WHERE list = 'ticket_subcategory' AND active "
                                "ORDER BY parent, position, code").fetchall()
        codes = [code for _, code in rows]
        start = np.array([next((i for i, r in enumerate(rows) if r[0] == p), 0) for p in cat_codes])
        count = np.array([sum(1 for r in rows if r[0] == p) for p in cat_codes])
        pick = start[cat] + self.rng.integers(0, 1 << 30, cat.size) % np.maximum(count[cat], 1)
        return _pick(codes or [""], pick, count[cat] > 0)

    # ------------------------------------------------------------------ the conversation
    def _ticket_events(self, t: dict) -> np.ndarray:
        """ticket_events consistent with each ticket's timestamps: created at opening, assign, the first
        reply by the agent exactly at first_response_at with new -> open, internal notes (any time; they
        are no response), a request to the customer with open -> pending and pending -> open when the
        customer answers, more replies, -> resolved at resolved_at, -> closed at closed_at, the CSAT.
        Returns, per ticket, the CSAT comment (index into the comments; -1: none) for the feedback row."""
        rng, now = self.rng, self.clock.now_us
        kt = t["id"].size
        agent = t["assignee"]
        lead = self.service_lead
        end = np.select([t["closed"], t["resolved"]], [t["close_at"], t["res_at"]], now)
        parts: list[dict] = []

        def add(mask, kind, at, user, from_value=None, to_value=None, body=None, channel=None):
            rows = np.nonzero(mask)[0]
            parts.append(dict(rows=rows, kind=kind, at=np.asarray(at)[rows] if np.ndim(at) else np.full(rows.size, at),
                              user=np.asarray(user)[rows], from_value=from_value, to_value=to_value, body=body,
                              channel=channel))

        every = np.ones(kt, bool)
        add(every, "created", t["opened"], t["created_by"], to_value=("const", "new"),
            channel=("idx", CHANNELS, t["channel"]))
        claim = rng.random(kt) < 0.5
        add(t["assigned"], "assign", t["assign_at"], np.where(claim, agent, lead),
            to_value=("text", pl.Series(agent).cast(pl.String)))
        reply_ch = REPLY_CHANNEL[t["channel"]]
        first_body = rng.integers(0, len(FIRST_REPLIES), kt)
        add(t["responded"], "reply", t["fr_at"], agent, body=("idx", FIRST_REPLIES, first_body),
            channel=("idx", CHANNELS, reply_ch))
        add(t["responded"], "status", t["fr_at"], agent, from_value=("const", "new"), to_value=("const", "open"))
        # internal notes: anywhere in the ticket's life (before the first reply too)
        n_notes = np.where(rng.random(kt) < 0.4, 1 + (rng.random(kt) < 0.35), 0)
        for j in (0, 1):
            note_at = t["opened"] + (rng.uniform(0.05, 0.95, kt) * (end - t["opened"])).astype(np.int64)
            add((n_notes > j) & (t["assigned"]), "note", np.minimum(note_at, now - 60 * US), agent,
                body=("idx", NOTES, rng.integers(0, len(NOTES), kt)))
        # waiting on the customer: a question to them, the pause, their answer
        wait_body = rng.integers(0, len(WAIT_REPLIES), kt)
        add(t["pausing"], "reply", t["pause_at"], agent, body=("idx", WAIT_REPLIES, wait_body),
            channel=("idx", CHANNELS, reply_ch))
        add(t["pausing"], "status", t["pause_at"], agent, from_value=("const", "open"), to_value=("const", "pending"))
        add(t["resumed"], "status", t["back_at"], agent, from_value=("const", "pending"), to_value=("const", "open"))
        # more replies between the first answer and the resolution (or now)
        last = np.where(t["resolved"], t["res_at"], now)
        more = np.where(t["responded"], rng.choice(3, kt, p=[0.5, 0.35, 0.15]), 0)
        for j in (0, 1):
            at = t["fr_at"] + (rng.uniform(0.1, 0.95, kt) * (last - t["fr_at"])).astype(np.int64)
            in_pause = t["pausing"] & (at >= t["pause_at"]) & (at < np.where(t["resumed"], t["back_at"], now))
            add((more > j) & ~in_pause & (at > t["fr_at"] + US), "reply", at, agent,
                body=("idx", MORE_REPLIES, rng.integers(0, len(MORE_REPLIES), kt)), channel=("idx", CHANNELS, reply_ch))
        add(t["resolved"], "status", t["res_at"], agent, from_value=("const", "open"), to_value=("const", "resolved"),
            body=("text", t["resolution"]))
        add(t["closed"], "status", t["close_at"], agent, from_value=("const", "resolved"), to_value=("const", "closed"))
        comments = FEEDBACK_COMMENTS["low"] + FEEDBACK_COMMENTS["mid"] + FEEDBACK_COMMENTS["high"]
        band = np.select([t["score"] <= 2, t["score"] <= 3], [0, 1], 2)
        c_start = np.array([0, len(FEEDBACK_COMMENTS["low"]), len(FEEDBACK_COMMENTS["low"]) + len(FEEDBACK_COMMENTS["mid"])])
        c_count = np.array([len(FEEDBACK_COMMENTS[x]) for x in ("low", "mid", "high")])
        comment = np.where(t["csat_comment"], c_start[band] + rng.integers(0, 1 << 30, kt) % c_count[band], -1)
        add(t["rated"], "csat", t["csat_at"], agent, to_value=("text", pl.Series(t["score"]).cast(pl.String)),
            body=("idx", comments, np.maximum(comment, 0), comment >= 0), channel=("const", "callback"))

        frames = []
        for p in parts:
            rows = p["rows"]
            m = rows.size
            cols = {"ticket_id": _int(t["id"][rows]), "kind": pl.Series([p["kind"]] * m, dtype=pl.String)}
            for col in ("from_value", "to_value", "body", "channel"):
                spec = p[col]
                if spec is None:
                    cols[col] = pl.Series([None] * m, dtype=pl.String)
                elif spec[0] == "const":
                    cols[col] = pl.Series([spec[1]] * m, dtype=pl.String)
                elif spec[0] == "text":
                    cols[col] = spec[1].gather(_int(rows)).cast(pl.String)
                else:
                    valid = None if len(spec) < 4 else spec[3][rows]
                    cols[col] = _pick(spec[1], spec[2][rows], valid)
            cols["user_id"] = _int(p["user"], p["user"] > 0)
            cols["occurred_at"] = _ts(p["at"])
            frames.append(pl.DataFrame(cols))
        events = pl.concat(frames, how="vertical")
        # the conversation in time order; at one instant the reply comes before the status it caused
        order = {"created": 0, "assign": 1, "note": 2, "reply": 3, "status": 4, "csat": 5}
        events = (events.with_columns(pl.col("kind").replace_strict(order, return_dtype=pl.Int64).alias("_o"))
                  .sort(["occurred_at", "ticket_id", "_o"], maintain_order=True).drop("_o")
                  .with_columns(pl.Series("id", np.arange(1, events.height + 1), dtype=pl.Int64)))
        self.load("ticket_events", events)
        return comment

    # ------------------------------------------------------------------ feedback
    def _feedback(self, t: dict, csat_comment: np.ndarray) -> None:
        """CSAT of the rated tickets; NPS: a rolling survey of the customers who bought (about every half
        year, a third answer, 0-10); complaints with an owner and a due date (some overdue, the older ones
        closed with a resolution) and suggestions."""
        n, rng, c = self.n, self.rng, self.clock
        now = c.now_us
        comments = FEEDBACK_COMMENTS["low"] + FEEDBACK_COMMENTS["mid"] + FEEDBACK_COMMENTS["high"]
        # CSAT: the ticket's satisfaction, as the agent recorded it from the call-back
        r = np.nonzero(t["rated"])[0]
        csat = dict(cust=t["cust"][r], ticket=t["id"][r], kind=np.zeros(r.size, np.int64), score=t["score"][r].astype(float),
                    at=t["csat_at"][r], owner=t["assignee"][r], channel=np.zeros(r.size, np.int64),
                    comment=csat_comment[r])
        # NPS: customers who bought are asked 90 days after the first purchase, then every half year
        buyers = np.nonzero(self.is_won)[0]
        waves = 5
        cust = np.repeat(buyers, waves)
        wave = np.tile(np.arange(waves), buyers.size)
        asked = self.won_at[cust] + ((90 + 182 * wave + rng.uniform(-20, 20, cust.size)) * DAY).astype(np.int64)
        answer = (asked <= now - HOUR) & (rng.random(cust.size) < 0.33)
        cust, asked = cust[answer], asked[answer]
        mood = rng.random(cust.size)
        nps = np.clip(np.round(np.select([mood < 0.45, mood < 0.8], [rng.normal(9.4, 0.6, cust.size),
                                                                     rng.normal(7.5, 0.5, cust.size)],
                                         rng.normal(4.5, 1.8, cust.size))), 0, 10)
        nps_comment = np.where(rng.random(cust.size) < 0.3,
                               np.select([nps <= 6, nps <= 8], [0, len(FEEDBACK_COMMENTS["low"])],
                                         len(FEEDBACK_COMMENTS["low"]) + len(FEEDBACK_COMMENTS["mid"]))
                               + rng.integers(0, 3, cust.size), -1)
        survey = dict(cust=cust, ticket=np.zeros(cust.size, np.int64), kind=np.ones(cust.size, np.int64), score=nps,
                      at=asked, owner=self.service_ids[rng.integers(0, self.service_ids.size, cust.size)],
                      channel=np.full(cust.size, 6), comment=nps_comment)
        # complaints and suggestions: a complaint often follows a ticket rated low
        m = max(n // 200, 4)
        low = np.nonzero(t["rated"] & (t["score"] <= 2))[0]
        from_ticket = rng.random(m) < 0.5
        pick = low[rng.integers(0, max(low.size, 1), m)] if low.size else np.zeros(m, np.int64)
        from_ticket &= low.size > 0
        comp_cust = np.where(from_ticket, t["cust"][pick], rng.integers(0, n, m))
        comp_ticket = np.where(from_ticket, t["id"][pick], 0)
        base = np.where(from_ticket, t["csat_at"][pick], c.past(c.at(c.days(self.cust_created_day[comp_cust], c.T))))
        comp_at = np.maximum(c.past(base + (rng.uniform(0.1, 72, m) * HOUR).astype(np.int64)), base)
        kind = np.where(rng.random(m) < 0.7, 2, 3)
        # the newest ones: a complaint overdue, one due in a few days, one closed last month
        recent = np.array([10.0, 2.0, 30.0]) * DAY
        comp_at[-3:] = c.past(now - recent.astype(np.int64))
        kind[-3:] = 2
        from_ticket[-3:] = False
        comp_ticket[-3:] = 0
        comp_cust[-3:] = np.argsort(self.cust_created, kind="stable")[:3]
        work = dict(cust=comp_cust, ticket=comp_ticket, kind=kind, score=np.zeros(m), at=comp_at,
                    owner=self.service_ids[rng.integers(0, self.service_ids.size, m)],
                    channel=rng.integers(1, 6, m), comment=np.full(m, -1))
        f = {x: np.concatenate([csat[x], survey[x], work[x]]) for x in csat}
        nf = f["cust"].size
        worked = f["kind"] >= 2
        # a complaint is due within days; the older ones are closed (most in time, some late), the
        # recent ones are open: some due today or later, some overdue
        due_day = f["at"] // DAY + rng.integers(2, 8, nf)
        close_at = f["at"] + (rng.uniform(0.5, 1.15, nf) * (due_day * DAY + 10 * HOUR - f["at"])).astype(np.int64)
        closed = ~worked | (close_at <= now - HOUR)
        closed &= ~(worked & (f["at"] > now - 20 * DAY) & (rng.random(nf) < 0.4))   # a few still worked on
        closed[-3:] = [False, False, True]
        due_day[-3:] = (now // DAY) + np.array([-3, 4, -25])
        closed_at = np.where(worked, np.minimum(close_at, now - HOUR), f["at"])
        closed_at = np.maximum(closed_at, f["at"])
        text = (COMPLAINTS, SUGGESTIONS)
        subject = _where(f["kind"] == 2, _pick(text[0], rng.integers(0, len(text[0]), nf), worked),
                         _pick(text[1], rng.integers(0, len(text[1]), nf), worked))
        comment_text = _where(worked, subject, _pick(comments, np.maximum(f["comment"], 0), f["comment"] >= 0))
        resolution = _pick(COMPLAINT_RESOLUTIONS, rng.integers(0, len(COMPLAINT_RESOLUTIONS), nf), worked & closed)
        updated = np.where(closed, closed_at, f["at"])
        self.load("feedback", _by_time(pl.DataFrame({
            "id": _int(np.arange(1, nf + 1)),
            "customer_id": _int(f["cust"] + 1),
            "ticket_id": _int(f["ticket"], f["ticket"] > 0),
            "kind": _pick(["csat", "nps", "complaint", "suggestion"], f["kind"]),
            "score": _float(f["score"], ~worked),
            "subject": subject,
            "comment": comment_text,
            "channel": _pick(["callback", "phone", "email", "chat", "web", "visit", "survey"], f["channel"]),
            "status": _pick(["open", "closed"], closed.astype(np.int64)),
            "owner_id": _int(f["owner"]),
            "team_id": _int(np.full(nf, self.team_id["Service"])),
            "due_on": _date(due_day, f["kind"] == 2),
            "resolution": resolution,
            "closed_at": _ts(closed_at, closed),
            "created_by": _int(f["owner"]),
            "created_at": _ts(f["at"]),
            "updated_at": _ts(updated),
        }), "created_at"))

    def bought_text(self, deal: np.ndarray) -> pl.Series:
        """What was bought, from the deal's lines: "2 x Cloud CRM Professional; 1 x Onboarding Service"."""
        dl = self.deal_line_rows
        pos = np.full(self.nd, -1)
        pos[deal] = np.arange(deal.size)
        keep = pos[dl["row"]] >= 0
        return (pl.DataFrame({"h": pos[dl["row"][keep]], "pos": dl["pos"][keep],
                              "text": pl.Series(dl["qty"][keep]).cast(pl.String) + " x "
                              + _pick([p[1] for p in PRODUCTS], dl["prod"][keep])})
                .sort(["h", "pos"]).group_by("h", maintain_order=True).agg(pl.col("text").str.join("; "))
                .join(pl.DataFrame({"h": np.arange(deal.size)}), on="h", how="right")
                .sort("h")["text"])
