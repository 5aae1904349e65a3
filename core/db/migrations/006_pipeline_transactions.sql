-- 006: the sales pipeline and transactions (issue 7): several pipelines each with its own stages,
-- deal lines from the product catalogue, lost reasons as an option list, payment plans (回款计划),
-- the won hand-off (流转单) and its upgrade review (待升级).
CREATE SEQUENCE IF NOT EXISTS seq_pipelines;
CREATE SEQUENCE IF NOT EXISTS seq_deal_lines;
CREATE SEQUENCE IF NOT EXISTS seq_payment_plans;
CREATE SEQUENCE IF NOT EXISTS seq_handoffs;

-- pipelines (商机组): each has its own stages; stage codes stay unique across pipelines so a deal's
-- stage code alone names its stage
CREATE TABLE pipelines (
    id            BIGINT PRIMARY KEY,
    code          VARCHAR NOT NULL,
    name_en       VARCHAR NOT NULL,
    name_zh       VARCHAR NOT NULL,
    position      INTEGER NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP
);
INSERT INTO pipelines VALUES
    (1, 'new_business', 'New business', '新业务', 1, TRUE, TIMESTAMP '2020-01-01 00:00:00', NULL),
    (2, 'renewals',     'Renewals',     '续约',   2, TRUE, TIMESTAMP '2020-01-01 00:00:00', NULL);
-- ids 1 and 2 are taken above
SELECT nextval('seq_pipelines') FROM range(2);

ALTER TABLE pipeline_stages ADD COLUMN pipeline_id BIGINT NOT NULL DEFAULT 1;   -- position is per pipeline
INSERT INTO pipeline_stages (code, name_en, name_zh, position, probability, is_won, is_lost, active, pipeline_id) VALUES
    ('renew_review', 'Renewal review', '续约评估', 1, 40,  FALSE, FALSE, TRUE, 2),
    ('renew_quote',  'Quote sent',     '续约报价', 2, 60,  FALSE, FALSE, TRUE, 2),
    ('renew_commit', 'Verbal commit',  '口头确认', 3, 85,  FALSE, FALSE, TRUE, 2),
    ('renew_won',    'Renewed',        '已续约',   4, 100, TRUE,  FALSE, TRUE, 2),
    ('renew_lost',   'Churned',        '未续约',   5, 0,   FALSE, TRUE,  TRUE, 2);

-- products: `series` is the catalogue's category; names in both languages
ALTER TABLE products ADD COLUMN name_zh VARCHAR;
ALTER TABLE products ADD COLUMN active BOOLEAN NOT NULL DEFAULT TRUE;
ALTER TABLE products ADD COLUMN updated_at TIMESTAMP;

-- deals
ALTER TABLE deals ADD COLUMN pipeline_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE deals ADD COLUMN competitor VARCHAR;
ALTER TABLE deals ADD COLUMN next_step VARCHAR;
ALTER TABLE deals ADD COLUMN forecast_category VARCHAR;     -- owner's override; NULL follows the probability bands
ALTER TABLE deals ADD COLUMN probability_set BOOLEAN NOT NULL DEFAULT FALSE;  -- owner overrode the stage default
ALTER TABLE deals ADD COLUMN stage_changed_at TIMESTAMP;    -- when the deal entered its current stage
ALTER TABLE deals ADD COLUMN last_activity_at TIMESTAMP;    -- last follow-up logged on the deal
UPDATE deals SET stage_changed_at = h.t FROM (SELECT deal_id, max(changed_at) AS t FROM deal_stage_history GROUP BY deal_id) h
    WHERE h.deal_id = deals.id;
UPDATE deals SET stage_changed_at = created_at WHERE stage_changed_at IS NULL;
UPDATE deals SET last_activity_at = a.t FROM (SELECT deal_id, max(occurred_at) AS t FROM activities
    WHERE deal_id IS NOT NULL AND deleted_at IS NULL GROUP BY deal_id) a WHERE a.deal_id = deals.id;

CREATE TABLE deal_lines (
    id            BIGINT PRIMARY KEY,
    deal_id       BIGINT NOT NULL,
    position      INTEGER NOT NULL,
    product_id    BIGINT,
    description   VARCHAR,
    quantity      DECIMAL(18,3) NOT NULL,
    unit_price    DECIMAL(18,4) NOT NULL,
    discount      DECIMAL(5,2) NOT NULL DEFAULT 0,   -- percent 0-100
    amount        DECIMAL(18,2) NOT NULL             -- quantity x unit price x (1 - discount / 100)
);

-- lost reasons are codes of an admin-editable list; the foundation's free text becomes codes
INSERT INTO option_lists VALUES
    ('lost_reason', 'price',       'Price too high',     '价格太高',     1, TRUE),
    ('lost_reason', 'competitor',  'Chose a competitor', '选择了竞争对手', 2, TRUE),
    ('lost_reason', 'no_decision', 'No decision',        '迟迟未决策',   3, TRUE),
    ('lost_reason', 'no_budget',   'No budget',          '没有预算',     4, TRUE),
    ('lost_reason', 'timing',      'Bad timing',         '时机不对',     5, TRUE),
    ('lost_reason', 'features',    'Missing features',   '功能不满足',   6, TRUE),
    ('lost_reason', 'other',       'Other',              '其他',         7, TRUE);
UPDATE deals SET lost_reason = CASE lost_reason
        WHEN 'Price too high' THEN 'price' WHEN 'Chose a competitor' THEN 'competitor'
        WHEN 'No decision' THEN 'no_decision' WHEN 'No budget' THEN 'no_budget'
        WHEN 'Bad timing' THEN 'timing' WHEN 'Missing features' THEN 'features' ELSE 'other' END
    WHERE lost_reason IS NOT NULL;

-- orders: draft | confirmed | cancelled | refunded (what was paid comes from payments)
UPDATE orders SET status = 'confirmed' WHERE status IN ('paid', 'open');
ALTER TABLE orders ADD COLUMN notes VARCHAR;
ALTER TABLE orders ADD COLUMN created_by BIGINT;
ALTER TABLE orders ADD COLUMN updated_at TIMESTAMP;
UPDATE orders SET updated_at = created_at;
ALTER TABLE order_lines ADD COLUMN discount DECIMAL(5,2) NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN note VARCHAR;
ALTER TABLE payments ADD COLUMN created_by BIGINT;

-- payment plans (回款计划): amounts due by date per order
CREATE TABLE payment_plans (
    id            BIGINT PRIMARY KEY,
    order_id      BIGINT NOT NULL,
    customer_id   BIGINT,
    due_on        DATE NOT NULL,
    amount        DECIMAL(18,2) NOT NULL,
    note          VARCHAR,
    created_by    BIGINT,
    created_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

-- targets: who set them and when they last changed
ALTER TABLE targets ADD COLUMN set_by BIGINT;
ALTER TABLE targets ADD COLUMN updated_at TIMESTAMP;

-- the won hand-off (流转单): pending (waiting for the manager) -> submitted (to the admin) ->
-- approved (level chosen) | returned (back to the manager, who may submit again)
CREATE TABLE handoffs (
    id              BIGINT PRIMARY KEY,
    customer_id     BIGINT NOT NULL,
    deal_id         BIGINT,
    ticket_id       BIGINT,
    status          VARCHAR NOT NULL DEFAULT 'pending',
    bought          VARCHAR,
    key_contacts    VARCHAR,
    promises        VARCHAR,
    notes           VARCHAR,
    owner_id        BIGINT,                  -- the rep who filled it in
    team_id         BIGINT,
    manager_id      BIGINT,
    manager_comment VARCHAR,
    submitted_at    TIMESTAMP,
    admin_id        BIGINT,
    admin_comment   VARCHAR,
    decided_at      TIMESTAMP,
    level           VARCHAR,
    created_at      TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);
