-- 001: the whole schema of the CRM.
-- Conventions:
--   * ids are BIGINT taken from one sequence per table (core.db.next_ids); bulk loads set them explicitly
--     and core.db.reset_sequences moves the sequences past the highest id.
--   * times are naive UTC TIMESTAMPs; dates are DATE.
--   * deleted_at / deleted_by mark a soft delete (recycle bin); nothing is hard-deleted except a purge
--     of recycle-bin rows older than the retention period.
--   * no FOREIGN KEY and no UNIQUE constraint on columns that services update (DuckDB rewrites such an
--     UPDATE as delete+insert); uniqueness of phones lives in the narrow phone_keys table.
--   * owner_id NULL with team_id set means the record sits in that team's shared pool (公海).
--   * custom JSON holds the values of custom fields (field_defs) and columns of imported files that
--     have no column of their own, so an import never drops data.

CREATE SEQUENCE IF NOT EXISTS seq_teams;
CREATE SEQUENCE IF NOT EXISTS seq_users;
CREATE SEQUENCE IF NOT EXISTS seq_field_defs;
CREATE SEQUENCE IF NOT EXISTS seq_leads;
CREATE SEQUENCE IF NOT EXISTS seq_customers;
CREATE SEQUENCE IF NOT EXISTS seq_contacts;
CREATE SEQUENCE IF NOT EXISTS seq_activities;
CREATE SEQUENCE IF NOT EXISTS seq_products;
CREATE SEQUENCE IF NOT EXISTS seq_deals;
CREATE SEQUENCE IF NOT EXISTS seq_deal_stage_history;
CREATE SEQUENCE IF NOT EXISTS seq_orders;
CREATE SEQUENCE IF NOT EXISTS seq_order_lines;
CREATE SEQUENCE IF NOT EXISTS seq_payments;
CREATE SEQUENCE IF NOT EXISTS seq_targets;
CREATE SEQUENCE IF NOT EXISTS seq_tasks;
CREATE SEQUENCE IF NOT EXISTS seq_tickets;
CREATE SEQUENCE IF NOT EXISTS seq_ticket_events;
CREATE SEQUENCE IF NOT EXISTS seq_feedback;
CREATE SEQUENCE IF NOT EXISTS seq_segments;
CREATE SEQUENCE IF NOT EXISTS seq_campaigns;
CREATE SEQUENCE IF NOT EXISTS seq_workflow_rules;
CREATE SEQUENCE IF NOT EXISTS seq_workflow_runs;
CREATE SEQUENCE IF NOT EXISTS seq_outbox;
CREATE SEQUENCE IF NOT EXISTS seq_imports;
CREATE SEQUENCE IF NOT EXISTS seq_import_mappings;
CREATE SEQUENCE IF NOT EXISTS seq_pool_moves;
CREATE SEQUENCE IF NOT EXISTS seq_audit_log;
CREATE SEQUENCE IF NOT EXISTS seq_api_keys;
CREATE SEQUENCE IF NOT EXISTS seq_saved_views;
CREATE SEQUENCE IF NOT EXISTS seq_login_attempts;
CREATE SEQUENCE IF NOT EXISTS seq_reports;
CREATE SEQUENCE IF NOT EXISTS seq_webhooks;

-- ---------------------------------------------------------------- organisation (组织架构)
CREATE TABLE teams (
    id            BIGINT PRIMARY KEY,
    name          VARCHAR NOT NULL,
    parent_id     BIGINT,                     -- tree; NULL = top
    region        VARCHAR,                    -- e.g. Maven regional_office
    is_new_hire_pool BOOLEAN NOT NULL DEFAULT FALSE,  -- the new-hire group (新人组)
    pool_refreshed_at TIMESTAMP,              -- last weekly refresh of its shared pool
    created_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

CREATE TABLE users (
    id            BIGINT PRIMARY KEY,
    username      VARCHAR NOT NULL,           -- lower case, unique among users (checked in core.org)
    name          VARCHAR NOT NULL,
    email         VARCHAR,
    phone         VARCHAR,
    role          VARCHAR NOT NULL,           -- admin | manager | sales | marketing | service
    team_id       BIGINT,
    manager_id    BIGINT,
    is_new_hire   BOOLEAN NOT NULL DEFAULT FALSE,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    language      VARCHAR NOT NULL DEFAULT 'en',
    password_hash VARCHAR NOT NULL,
    must_change_password BOOLEAN NOT NULL DEFAULT TRUE,
    password_changed_at  TIMESTAMP,
    sessions_valid_after TIMESTAMP,          -- cookies issued before this are refused
    locked_until  TIMESTAMP,
    last_login_at TIMESTAMP,
    hired_on      DATE,
    left_on       DATE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

CREATE TABLE login_attempts (
    id            BIGINT PRIMARY KEY,
    username      VARCHAR NOT NULL,
    attempted_at  TIMESTAMP NOT NULL,
    success       BOOLEAN NOT NULL
);

-- permission matrix: role x module x action -> scope (none | own | team | team_tree | all)
CREATE TABLE permissions (
    role          VARCHAR NOT NULL,
    module        VARCHAR NOT NULL,
    action        VARCHAR NOT NULL,
    scope         VARCHAR NOT NULL,
    updated_at    TIMESTAMP,
    updated_by    BIGINT,
    PRIMARY KEY (role, module, action)
);

CREATE TABLE settings (
    key           VARCHAR PRIMARY KEY,
    value         JSON NOT NULL,
    updated_at    TIMESTAMP,
    updated_by    BIGINT
);

-- configurable fields per object, in three tiers: required (必填), common (常用), extra (显示)
CREATE TABLE field_defs (
    id            BIGINT PRIMARY KEY,
    object        VARCHAR NOT NULL,           -- lead | customer | contact | deal | ticket | order
    name          VARCHAR NOT NULL,           -- a column name, or a key of the custom JSON
    label_en      VARCHAR NOT NULL,
    label_zh      VARCHAR NOT NULL,
    data_type     VARCHAR NOT NULL,           -- text | number | date | bool | choice | phone | email
    options       JSON,                       -- choices
    tier          VARCHAR NOT NULL,           -- required | common | extra
    is_custom     BOOLEAN NOT NULL DEFAULT FALSE,
    position      INTEGER NOT NULL DEFAULT 0,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE customer_levels (
    code          VARCHAR PRIMARY KEY,
    name_en       VARCHAR NOT NULL,
    name_zh       VARCHAR NOT NULL,
    position      INTEGER NOT NULL,
    min_revenue   DECIMAL(18,2)               -- optional rule: lifetime revenue threshold
);

CREATE TABLE customer_stages (
    code          VARCHAR PRIMARY KEY,        -- raw unknown potential intent opportunity won upgrade
    name_en       VARCHAR NOT NULL,
    name_zh       VARCHAR NOT NULL,
    position      INTEGER NOT NULL
);

-- ---------------------------------------------------------------- leads (线索)
CREATE TABLE leads (
    id            BIGINT PRIMARY KEY,
    name          VARCHAR NOT NULL,
    company       VARCHAR,
    title         VARCHAR,
    phone         VARCHAR,
    phone_norm    VARCHAR,
    email         VARCHAR,
    source        VARCHAR,                    -- web | referral | event | ad | cold_call | import | card_scan | api
    status        VARCHAR NOT NULL DEFAULT 'new',  -- new | contacted | qualified | converted | invalid
    province      VARCHAR,
    city          VARCHAR,
    industry      VARCHAR,
    notes         VARCHAR,
    owner_id      BIGINT,
    team_id       BIGINT,
    converted_customer_id BIGINT,
    converted_deal_id     BIGINT,
    converted_at  TIMESTAMP,
    last_activity_at TIMESTAMP,
    next_followup_at TIMESTAMP,
    import_id     BIGINT,
    external_ref  VARCHAR,
    custom        JSON,
    created_by    BIGINT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

-- ---------------------------------------------------------------- customers (客户) and contacts
CREATE TABLE customers (
    id            BIGINT PRIMARY KEY,
    name          VARCHAR NOT NULL,
    kind          VARCHAR NOT NULL DEFAULT 'company',  -- company | person
    phone         VARCHAR,
    phone_norm    VARCHAR,                    -- E.164-like normalised key, unique via phone_keys
    email         VARCHAR,
    gender        VARCHAR,
    birth_year    INTEGER,
    id_number     VARCHAR,                    -- 身份证号 of a person customer
    industry      VARCHAR,                    -- Maven sector
    employees     INTEGER,
    annual_revenue DECIMAL(18,2),             -- Maven revenue (millions as given)
    year_established INTEGER,
    parent_customer_id BIGINT,                -- Maven subsidiary_of
    country       VARCHAR,
    province      VARCHAR,
    city          VARCHAR,
    district      VARCHAR,
    address       VARCHAR,
    postal_code   VARCHAR,
    source        VARCHAR,
    stage         VARCHAR NOT NULL DEFAULT 'raw',
    level         VARCHAR,
    owner_id      BIGINT,                     -- NULL + team_id = in that team's shared pool
    team_id       BIGINT,
    pool_since    TIMESTAMP,
    assigned_at   TIMESTAMP,
    registered_on DATE,                       -- when the customer registered in the source system
    last_activity_at TIMESTAMP,
    next_followup_at TIMESTAMP,
    won_at        TIMESTAMP,
    merged_into_id BIGINT,
    import_id     BIGINT,
    external_ref  VARCHAR,                    -- id in the source system (Telco customerID, retail CustomerID...)
    custom        JSON,
    created_by    BIGINT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

-- narrow uniqueness key for phones across leads, customers and contacts
CREATE TABLE phone_keys (
    phone_norm    VARCHAR PRIMARY KEY,
    entity        VARCHAR NOT NULL,
    entity_id     BIGINT NOT NULL
);

CREATE TABLE contacts (
    id            BIGINT PRIMARY KEY,
    customer_id   BIGINT,
    name          VARCHAR NOT NULL,
    title         VARCHAR,
    phone         VARCHAR,
    phone_norm    VARCHAR,
    email         VARCHAR,
    gender        VARCHAR,
    birth_year    INTEGER,
    is_primary    BOOLEAN NOT NULL DEFAULT FALSE,
    owner_id      BIGINT,
    team_id       BIGINT,
    import_id     BIGINT,
    external_ref  VARCHAR,
    custom        JSON,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

-- follow-up records (跟进记录): call visit email message note
CREATE TABLE activities (
    id            BIGINT PRIMARY KEY,
    customer_id   BIGINT,
    lead_id       BIGINT,
    deal_id       BIGINT,
    contact_id    BIGINT,
    user_id       BIGINT,                     -- who did it (owner of the record)
    team_id       BIGINT,
    kind          VARCHAR NOT NULL,
    subject       VARCHAR,
    body          VARCHAR,
    outcome       VARCHAR,
    occurred_at   TIMESTAMP NOT NULL,
    duration_min  INTEGER,
    next_followup_at TIMESTAMP,
    created_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

-- ---------------------------------------------------------------- pipeline (销售漏斗)
CREATE TABLE pipeline_stages (
    code          VARCHAR PRIMARY KEY,
    name_en       VARCHAR NOT NULL,
    name_zh       VARCHAR NOT NULL,
    position      INTEGER NOT NULL,
    probability   INTEGER NOT NULL,           -- percent
    is_won        BOOLEAN NOT NULL DEFAULT FALSE,
    is_lost       BOOLEAN NOT NULL DEFAULT FALSE,
    active        BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE products (
    id            BIGINT PRIMARY KEY,
    code          VARCHAR,
    name          VARCHAR NOT NULL,
    series        VARCHAR,
    list_price    DECIMAL(18,2),
    created_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

CREATE TABLE deals (
    id            BIGINT PRIMARY KEY,
    name          VARCHAR NOT NULL,
    customer_id   BIGINT,
    contact_id    BIGINT,
    lead_id       BIGINT,
    product_id    BIGINT,
    amount        DECIMAL(18,2),              -- expected value while open, close value when closed
    currency      VARCHAR NOT NULL DEFAULT 'CNY',
    stage         VARCHAR NOT NULL,
    probability   INTEGER,
    source        VARCHAR,
    engaged_on    DATE,
    expected_close DATE,
    closed_on     DATE,
    won_reason    VARCHAR,
    lost_reason   VARCHAR,
    owner_id      BIGINT,
    team_id       BIGINT,
    campaign_id   BIGINT,
    import_id     BIGINT,
    external_ref  VARCHAR,                    -- Maven opportunity_id
    custom        JSON,
    created_by    BIGINT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

CREATE TABLE deal_stage_history (
    id            BIGINT PRIMARY KEY,
    deal_id       BIGINT NOT NULL,
    from_stage    VARCHAR,
    to_stage      VARCHAR NOT NULL,
    changed_at    TIMESTAMP NOT NULL,
    changed_by    BIGINT
);

CREATE TABLE targets (
    id            BIGINT PRIMARY KEY,
    user_id       BIGINT,                     -- per rep, or
    team_id       BIGINT,                     -- per team
    period_start  DATE NOT NULL,
    period_end    DATE NOT NULL,
    metric        VARCHAR NOT NULL,           -- won_amount | won_deals | new_customers | activities
    value         DECIMAL(18,2) NOT NULL,
    created_at    TIMESTAMP NOT NULL
);

-- transactions (交易记录): orders, their lines, payments
CREATE TABLE orders (
    id            BIGINT PRIMARY KEY,
    order_no      VARCHAR,                    -- invoice number (retail InvoiceNo; C... = cancellation)
    customer_id   BIGINT,
    deal_id       BIGINT,
    ordered_at    TIMESTAMP NOT NULL,
    status        VARCHAR NOT NULL DEFAULT 'paid',   -- paid | open | cancelled | refunded
    amount        DECIMAL(18,2) NOT NULL,     -- total, negative for a cancellation
    currency      VARCHAR NOT NULL DEFAULT 'CNY',
    channel       VARCHAR,                    -- store | web | catalog | sales | erp
    country       VARCHAR,
    owner_id      BIGINT,
    team_id       BIGINT,
    import_id     BIGINT,
    external_ref  VARCHAR,
    created_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

CREATE TABLE order_lines (
    id            BIGINT PRIMARY KEY,
    order_id      BIGINT NOT NULL,
    product_id    BIGINT,
    sku           VARCHAR,                    -- retail StockCode
    description   VARCHAR,
    quantity      DECIMAL(18,3) NOT NULL,
    unit_price    DECIMAL(18,4) NOT NULL,
    amount        DECIMAL(18,2) NOT NULL
);

CREATE TABLE payments (
    id            BIGINT PRIMARY KEY,
    order_id      BIGINT,
    customer_id   BIGINT,
    amount        DECIMAL(18,2) NOT NULL,
    paid_at       TIMESTAMP NOT NULL,
    method        VARCHAR,
    created_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

-- ---------------------------------------------------------------- tasks and reminders (任务 / 日程)
CREATE TABLE tasks (
    id            BIGINT PRIMARY KEY,
    title         VARCHAR NOT NULL,
    body          VARCHAR,
    kind          VARCHAR NOT NULL DEFAULT 'task',   -- task | reminder | event
    due_at        TIMESTAMP,
    status        VARCHAR NOT NULL DEFAULT 'open',   -- open | done | cancelled
    assignee_id   BIGINT,
    team_id       BIGINT,
    customer_id   BIGINT,
    lead_id       BIGINT,
    deal_id       BIGINT,
    ticket_id     BIGINT,
    workflow_run_id BIGINT,
    created_by    BIGINT,
    created_at    TIMESTAMP NOT NULL,
    done_at       TIMESTAMP,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

-- ---------------------------------------------------------------- service (客服)
CREATE TABLE sla_targets (
    priority      VARCHAR PRIMARY KEY,        -- low | medium | high | critical
    first_response_hours DOUBLE NOT NULL,
    resolution_hours     DOUBLE NOT NULL
);

CREATE TABLE tickets (
    id            BIGINT PRIMARY KEY,
    ticket_no     VARCHAR,
    customer_id   BIGINT,
    contact_id    BIGINT,
    subject       VARCHAR NOT NULL,
    description   VARCHAR,
    category      VARCHAR,                    -- ticket type: technical | billing | refund | product | cancellation
    product       VARCHAR,
    purchased_on  DATE,
    priority      VARCHAR NOT NULL DEFAULT 'medium',
    channel       VARCHAR,                    -- email | phone | chat | social | web
    status        VARCHAR NOT NULL DEFAULT 'open',  -- open | pending | resolved | closed
    assignee_id   BIGINT,
    team_id       BIGINT,
    deal_id       BIGINT,                     -- won-deal hand-off (流转单)
    opened_at     TIMESTAMP NOT NULL,
    first_response_due TIMESTAMP,
    resolution_due     TIMESTAMP,
    first_response_at  TIMESTAMP,
    resolved_at   TIMESTAMP,
    closed_at     TIMESTAMP,
    resolution    VARCHAR,
    satisfaction  DOUBLE,                     -- CSAT 1-5
    reopen_count  INTEGER NOT NULL DEFAULT 0,
    import_id     BIGINT,
    external_ref  VARCHAR,
    custom        JSON,
    created_by    BIGINT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

CREATE TABLE ticket_events (
    id            BIGINT PRIMARY KEY,
    ticket_id     BIGINT NOT NULL,
    kind          VARCHAR NOT NULL,           -- status | comment | assign | reopen
    from_value    VARCHAR,
    to_value      VARCHAR,
    body          VARCHAR,
    user_id       BIGINT,
    occurred_at   TIMESTAMP NOT NULL
);

CREATE TABLE feedback (
    id            BIGINT PRIMARY KEY,
    customer_id   BIGINT,
    ticket_id     BIGINT,
    kind          VARCHAR NOT NULL,           -- csat | nps | complaint | suggestion
    score         DOUBLE,
    comment       VARCHAR,
    channel       VARCHAR,
    status        VARCHAR NOT NULL DEFAULT 'open',
    owner_id      BIGINT,
    team_id       BIGINT,
    created_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

-- ---------------------------------------------------------------- marketing (市场营销)
CREATE TABLE segments (
    id            BIGINT PRIMARY KEY,
    name          VARCHAR NOT NULL,
    description   VARCHAR,
    rules         JSON NOT NULL,
    owner_id      BIGINT,
    team_id       BIGINT,
    shared        BOOLEAN NOT NULL DEFAULT FALSE,
    last_count    BIGINT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

CREATE TABLE campaigns (
    id            BIGINT PRIMARY KEY,
    name          VARCHAR NOT NULL,
    channel       VARCHAR NOT NULL,           -- email | sms | phone | event
    status        VARCHAR NOT NULL DEFAULT 'draft',  -- draft | running | done
    segment_id    BIGINT,
    budget        DECIMAL(18,2),
    cost          DECIMAL(18,2),
    cost_per_contact DECIMAL(18,4),           -- iFood Z_CostContact
    revenue_per_response DECIMAL(18,4),       -- iFood Z_Revenue
    start_date    DATE,
    end_date      DATE,
    owner_id      BIGINT,
    team_id       BIGINT,
    import_id     BIGINT,
    external_ref  VARCHAR,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

CREATE TABLE campaign_members (
    campaign_id   BIGINT NOT NULL,
    customer_id   BIGINT NOT NULL,
    added_at      TIMESTAMP NOT NULL,
    sent_at       TIMESTAMP,
    opened_at     TIMESTAMP,
    clicked_at    TIMESTAMP,
    responded_at  TIMESTAMP,
    converted_at  TIMESTAMP,
    revenue       DECIMAL(18,2),
    import_id     BIGINT
);

-- ---------------------------------------------------------------- workflow automation (自动化工作流)
CREATE TABLE workflow_rules (
    id            BIGINT PRIMARY KEY,
    name          VARCHAR NOT NULL,
    object        VARCHAR NOT NULL,
    trigger       VARCHAR NOT NULL,           -- created | field_changed | stage_changed | time_passed
    trigger_config JSON,
    conditions    JSON,
    actions       JSON NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_by    BIGINT,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

CREATE TABLE workflow_runs (
    id            BIGINT PRIMARY KEY,
    rule_id       BIGINT NOT NULL,
    event         VARCHAR NOT NULL,
    entity        VARCHAR,
    entity_id     BIGINT,
    status        VARCHAR NOT NULL,           -- ok | skipped | failed
    detail        VARCHAR,
    started_at    TIMESTAMP NOT NULL,
    finished_at   TIMESTAMP
);

CREATE TABLE outbox (
    id            BIGINT PRIMARY KEY,
    to_addr       VARCHAR NOT NULL,
    subject       VARCHAR NOT NULL,
    body          VARCHAR,
    status        VARCHAR NOT NULL DEFAULT 'queued',  -- queued | sent | failed
    error         VARCHAR,
    workflow_run_id BIGINT,
    created_by    BIGINT,
    created_at    TIMESTAMP NOT NULL,
    sent_at       TIMESTAMP
);

-- ---------------------------------------------------------------- imports (数据导入)
CREATE TABLE imports (
    id            BIGINT PRIMARY KEY,
    object        VARCHAR NOT NULL,           -- customers | leads | deals | orders | tickets | campaign_members
    filename      VARCHAR,
    encoding      VARCHAR,
    mapping       JSON,
    status        VARCHAR NOT NULL,           -- previewed | committed | undone | failed
    rows_total    BIGINT,
    rows_ok       BIGINT,
    rows_rejected BIGINT,
    created_by    BIGINT,
    created_at    TIMESTAMP NOT NULL,
    committed_at  TIMESTAMP,
    undone_at     TIMESTAMP,
    undone_by     BIGINT
);

CREATE TABLE import_rejects (
    import_id     BIGINT NOT NULL,
    row_no        BIGINT NOT NULL,
    reason        VARCHAR NOT NULL,
    raw           JSON
);

CREATE TABLE import_mappings (
    id            BIGINT PRIMARY KEY,
    object        VARCHAR NOT NULL,
    header_signature VARCHAR NOT NULL,        -- sorted source headers, to recall a past mapping
    mapping       JSON NOT NULL,
    used_at       TIMESTAMP NOT NULL
);

-- ---------------------------------------------------------------- pool (公海)
CREATE TABLE pool_moves (
    id            BIGINT PRIMARY KEY,
    customer_id   BIGINT NOT NULL,
    from_owner_id BIGINT,
    to_owner_id   BIGINT,
    from_team_id  BIGINT,
    to_team_id    BIGINT,
    reason        VARCHAR NOT NULL,           -- assign | claim | release | reclaim | over_limit | handover | refresh
    moved_by      BIGINT,
    moved_at      TIMESTAMP NOT NULL
);

-- ---------------------------------------------------------------- safety, integration, views
CREATE TABLE audit_log (
    id            BIGINT PRIMARY KEY,
    logged_at     TIMESTAMP NOT NULL,
    user_id       BIGINT,
    action        VARCHAR NOT NULL,           -- create | update | delete | restore | purge | login | ...
    entity        VARCHAR NOT NULL,
    entity_id     BIGINT,
    field         VARCHAR,
    old_value     VARCHAR,
    new_value     VARCHAR
);

CREATE TABLE api_keys (
    id            BIGINT PRIMARY KEY,
    user_id       BIGINT NOT NULL,
    name          VARCHAR,
    prefix        VARCHAR NOT NULL,
    key_hash      VARCHAR NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP,
    revoked_at    TIMESTAMP
);

CREATE TABLE webhooks (
    id            BIGINT PRIMARY KEY,
    url           VARCHAR NOT NULL,
    events        JSON NOT NULL,
    secret        VARCHAR,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_by    BIGINT,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE saved_views (
    id            BIGINT PRIMARY KEY,
    user_id       BIGINT NOT NULL,
    object        VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    filters       JSON NOT NULL,
    shared        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMP NOT NULL
);

CREATE TABLE reports (
    id            BIGINT PRIMARY KEY,
    name          VARCHAR NOT NULL,
    definition    JSON NOT NULL,              -- dimension, measure, filters, chart type
    owner_id      BIGINT NOT NULL,
    shared        BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);
