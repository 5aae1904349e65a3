-- 008: the service desk (issue 8): the ticket status flow new -> open -> pending (waiting on the
-- customer) -> resolved -> closed, sub-categories, related order / product, linked and merged tickets,
-- SLA in business minutes on a working calendar (holidays and make-up working days), escalations,
-- in-app notifications, complaints with an owner and a due date.
CREATE SEQUENCE IF NOT EXISTS seq_notifications;

-- tickets
ALTER TABLE tickets ADD COLUMN sub_category VARCHAR;
ALTER TABLE tickets ADD COLUMN order_id BIGINT;
ALTER TABLE tickets ADD COLUMN product_id BIGINT;
ALTER TABLE tickets ADD COLUMN parent_id BIGINT;           -- the earlier ticket this one follows up (reopened after the window)
ALTER TABLE tickets ADD COLUMN merged_into BIGINT;         -- a duplicate closed into this ticket
ALTER TABLE tickets ADD COLUMN pending_since TIMESTAMP;    -- waiting on the customer since: the SLA clock is paused
ALTER TABLE tickets ADD COLUMN paused_minutes INTEGER NOT NULL DEFAULT 0;  -- business minutes paused so far
ALTER TABLE tickets ADD COLUMN first_response_minutes INTEGER;  -- the SLA targets applied (business minutes)
ALTER TABLE tickets ADD COLUMN resolution_minutes INTEGER;
ALTER TABLE tickets ADD COLUMN reopened_at TIMESTAMP;
ALTER TABLE tickets ADD COLUMN status_changed_at TIMESTAMP;

-- a ticket's conversation: kind created | reply (to the customer) | note (internal) | status | assign |
-- priority | merge | reopen | csat | field; moved_from = the ticket an event came from in a merge
ALTER TABLE ticket_events ADD COLUMN moved_from BIGINT;
ALTER TABLE ticket_events ADD COLUMN channel VARCHAR;

-- SLA targets per priority and customer level (overrides sla_targets, which stays the per-priority default)
CREATE TABLE sla_level_targets (
    priority      VARCHAR NOT NULL,
    level         VARCHAR NOT NULL,
    first_response_hours DOUBLE NOT NULL,
    resolution_hours     DOUBLE NOT NULL,
    PRIMARY KEY (priority, level)
);

-- the working calendar: one row per company day, rebuilt from the working-hours settings and the
-- holiday calendar package (core.sla.build_calendar). Instants are naive UTC like every stored time:
-- the local day runs [day_start_utc, next_start_utc), its working hours [work_start_utc, work_end_utc)
-- (equal on days off); before_minutes = working minutes of every earlier day of the calendar.
CREATE TABLE work_calendar (
    day            DATE PRIMARY KEY,
    workday        BOOLEAN NOT NULL,
    day_start_utc  TIMESTAMP NOT NULL,
    next_start_utc TIMESTAMP NOT NULL,
    work_start_utc TIMESTAMP NOT NULL,
    work_end_utc   TIMESTAMP NOT NULL,
    minutes        DOUBLE NOT NULL,           -- working minutes of the day (0 on days off)
    before_minutes DOUBLE NOT NULL,
    holiday        VARCHAR                    -- the holiday's name, or 'makeup' for a make-up working day (调休)
);

-- the SLA clock: working minutes from the calendar's first day to instant ts (naive UTC), tz = the
-- company's time zone (setting company.timezone); NULL outside the calendar. Business time between a
-- and b = work_clock(b, tz) - work_clock(a, tz). An equi-join on the local day: ~50 ms over 300,000 rows.
CREATE MACRO work_clock(ts, tz) AS (
    SELECT c.before_minutes + CASE WHEN ts <= c.work_start_utc THEN 0.0
                                   WHEN ts >= c.work_end_utc THEN c.minutes
                                   ELSE epoch(ts - c.work_start_utc) / 60.0 END
    FROM work_calendar c WHERE c.day = CAST(ts AT TIME ZONE 'UTC' AT TIME ZONE tz AS DATE));

-- its inverse for ONE value: the instant the clock reaches x working minutes (a due time); NULL past the
-- calendar. A range lookup: over many rows use an ASOF JOIN on before_minutes instead (see core.sla).
CREATE MACRO work_instant(x) AS (
    SELECT c.work_start_utc + to_microseconds(CAST(round((x - c.before_minutes) * 60000000) AS BIGINT))
    FROM work_calendar c WHERE c.workday AND c.before_minutes < x AND x <= c.before_minutes + c.minutes);

-- an escalation fires once per ticket, target and due time
CREATE TABLE escalations (
    ticket_id     BIGINT NOT NULL,
    target        VARCHAR NOT NULL,           -- first_response | resolution
    due_at        TIMESTAMP NOT NULL,
    escalated_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (ticket_id, target, due_at)
);

-- in-app notifications (shown on "my day")
CREATE TABLE notifications (
    id            BIGINT PRIMARY KEY,
    user_id       BIGINT NOT NULL,
    kind          VARCHAR NOT NULL,           -- sla_breach | complaint_due | ...
    object        VARCHAR,
    object_id     BIGINT,
    params        JSON,
    created_at    TIMESTAMP NOT NULL,
    read_at       TIMESTAMP
);

-- a team's lead (the service lead who gets the escalations)
ALTER TABLE teams ADD COLUMN lead_id BIGINT;

-- feedback: complaints and suggestions are worked (owner, due date, resolution)
ALTER TABLE feedback ADD COLUMN subject VARCHAR;
ALTER TABLE feedback ADD COLUMN due_on DATE;
ALTER TABLE feedback ADD COLUMN resolution VARCHAR;
ALTER TABLE feedback ADD COLUMN closed_at TIMESTAMP;
ALTER TABLE feedback ADD COLUMN created_by BIGINT;
ALTER TABLE feedback ADD COLUMN updated_at TIMESTAMP;
ALTER TABLE feedback ADD COLUMN import_id BIGINT;
UPDATE feedback SET updated_at = created_at;

-- option lists may hang under a parent code (a ticket's sub-category under its category)
ALTER TABLE option_lists ADD COLUMN parent VARCHAR;
INSERT INTO option_lists (list, code, name_en, name_zh, position, active, parent) VALUES
    ('ticket_category', 'technical',    'Technical issue', '技术问题', 1, TRUE, NULL),
    ('ticket_category', 'product',      'Product inquiry', '产品咨询', 2, TRUE, NULL),
    ('ticket_category', 'billing',      'Billing',         '账单问题', 3, TRUE, NULL),
    ('ticket_category', 'refund',       'Refund request',  '退款申请', 4, TRUE, NULL),
    ('ticket_category', 'cancellation', 'Cancellation',    '取消服务', 5, TRUE, NULL),
    ('ticket_category', 'onboarding',   'Onboarding',      '新客户交付', 6, TRUE, NULL),
    ('ticket_subcategory', 'login',         'Cannot log in',        '无法登录',   1, TRUE, 'technical'),
    ('ticket_subcategory', 'bug',           'Something is broken',  '功能故障',   2, TRUE, 'technical'),
    ('ticket_subcategory', 'performance',   'Slow or unavailable',  '速度慢或不可用', 3, TRUE, 'technical'),
    ('ticket_subcategory', 'how_to',        'How do I…',            '使用咨询',   1, TRUE, 'product'),
    ('ticket_subcategory', 'feature',       'Feature request',      '功能建议',   2, TRUE, 'product'),
    ('ticket_subcategory', 'invoice',       'Invoice',              '发票',       1, TRUE, 'billing'),
    ('ticket_subcategory', 'charge',        'Wrong charge',         '扣费错误',   2, TRUE, 'billing'),
    ('ticket_subcategory', 'refund_full',   'Full refund',          '全额退款',   1, TRUE, 'refund'),
    ('ticket_subcategory', 'refund_part',   'Partial refund',       '部分退款',   2, TRUE, 'refund'),
    ('ticket_subcategory', 'cancel_plan',   'Cancel the plan',      '取消套餐',   1, TRUE, 'cancellation'),
    ('ticket_subcategory', 'setup',         'Setup and training',   '开通与培训', 1, TRUE, 'onboarding');

-- ticket statuses: open tickets nobody has touched yet are 'new'
UPDATE tickets SET status_changed_at = coalesce(closed_at, resolved_at, first_response_at, opened_at);
UPDATE tickets SET first_response_minutes = CAST(round(s.first_response_hours * 60) AS INTEGER),
                   resolution_minutes = CAST(round(s.resolution_hours * 60) AS INTEGER)
    FROM sla_targets s WHERE s.priority = tickets.priority;
