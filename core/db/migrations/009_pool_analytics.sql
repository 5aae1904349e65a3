-- 009: assignment and the shared pool (issue 10) and analytics part 2 (issue 12).
--
-- Pools (公海): every team has a shared pool (owner_id NULL + team_id, as before); a team flagged
-- is_new_hire_pool is the new-hire pool. pool_members adds members and pool admins beyond the team's
-- own users; pool_settings holds a pool's own rules (NULL = the company setting pool.*).
CREATE SEQUENCE IF NOT EXISTS seq_reclaim_rules;
CREATE SEQUENCE IF NOT EXISTS seq_assignment_runs;

ALTER TABLE customers ADD COLUMN locked_at TIMESTAMP;      -- the owner locked it (锁定): exempt from reclaim
ALTER TABLE customers ADD COLUMN locked_by BIGINT;
ALTER TABLE customers ADD COLUMN pool_reason VARCHAR;      -- why it sits in the pool: new | release | reclaim | over_limit | refresh | handover | import
ALTER TABLE customers ADD COLUMN pool_rank BIGINT;         -- its place in the pool after the weekly refresh (1 = first)
ALTER TABLE users ADD COLUMN customer_cap INTEGER;          -- NULL = the team's cap, else the company setting
ALTER TABLE users ADD COLUMN lock_cap INTEGER;
ALTER TABLE teams ADD COLUMN customer_cap INTEGER;

CREATE TABLE pool_members (
    team_id       BIGINT NOT NULL,            -- the pool (a team)
    user_id       BIGINT NOT NULL,
    role          VARCHAR NOT NULL,           -- member | admin
    added_at      TIMESTAMP NOT NULL,
    added_by      BIGINT,
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE pool_settings (
    team_id       BIGINT PRIMARY KEY,
    hidden_fields JSON,                       -- customer fields masked while a record sits in this pool
    daily_claim_cap INTEGER,
    reclaim_wait_days INTEGER,                -- a former owner waits this long before claiming it back
    claim_cooldown_hours INTEGER,             -- a newly pooled record can be claimed after this long
    updated_at    TIMESTAMP,
    updated_by    BIGINT
);

-- reclaim (回收) rules: per customer level (NULL = the default rule) and team (NULL = every team);
-- conditions are combined with AND (combine = 'all') or OR ('any'); a NULL condition is not used.
CREATE TABLE reclaim_rules (
    id            BIGINT PRIMARY KEY,
    level         VARCHAR,
    team_id       BIGINT,
    combine       VARCHAR NOT NULL DEFAULT 'any',
    no_followup_days INTEGER,                 -- working days without a follow-up (from the later of the last follow-up and the assignment)
    no_deal_days  INTEGER,                    -- working days since the assignment without a new deal
    not_won_days  INTEGER,                    -- working days since the assignment without being won
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    created_at    TIMESTAMP NOT NULL,
    updated_at    TIMESTAMP NOT NULL,
    updated_by    BIGINT,
    deleted_at    TIMESTAMP,
    deleted_by    BIGINT
);

-- the assignment log: one row per split, refresh or over-limit move, with its result
CREATE TABLE assignment_runs (
    id            BIGINT PRIMARY KEY,
    kind          VARCHAR NOT NULL,           -- split | refresh | over_limit | reclaim
    source        VARCHAR,                    -- selection | import:<id> | pool:<team id> | schedule
    teams         JSON,
    weighting     VARCHAR,                    -- equal | won_deals | followups
    requested     BIGINT NOT NULL,
    assigned      BIGINT NOT NULL,
    left_in_pool  BIGINT NOT NULL,
    reasons       JSON,                       -- why records were left or reps skipped: {reason: count}
    per_rep       JSON,                       -- {user id: count}
    dry_run       BOOLEAN NOT NULL DEFAULT FALSE,
    run_by        BIGINT,
    run_at        TIMESTAMP NOT NULL
);

ALTER TABLE pool_moves ADD COLUMN run_id BIGINT;          -- the assignment run, if any
ALTER TABLE pool_moves ADD COLUMN detail VARCHAR;         -- the reason in words a user reads (e.g. the rule and its days)

-- analytics part 2: segments as records, reports shared and pinned, RFM bands
ALTER TABLE segments ADD COLUMN kind VARCHAR NOT NULL DEFAULT 'dynamic';   -- dynamic | snapshot
ALTER TABLE segments ADD COLUMN source VARCHAR;                            -- rule | rfm | drill
ALTER TABLE segments ADD COLUMN share VARCHAR NOT NULL DEFAULT 'private';  -- private | team | all
ALTER TABLE segments ADD COLUMN snapshot_at TIMESTAMP;
ALTER TABLE segments ADD COLUMN created_by BIGINT;

CREATE TABLE segment_members (              -- a snapshot segment's customers, as of snapshot_at
    segment_id    BIGINT NOT NULL,
    customer_id   BIGINT NOT NULL
);

ALTER TABLE reports ADD COLUMN share VARCHAR NOT NULL DEFAULT 'private';   -- private | team | all
ALTER TABLE reports ADD COLUMN team_id BIGINT;                             -- the team it is shared with
ALTER TABLE reports ADD COLUMN description VARCHAR;

CREATE TABLE report_pins (                  -- a report pinned to a dashboard of part 1
    report_id     BIGINT NOT NULL,
    dashboard     VARCHAR NOT NULL,           -- manager | rep | service | marketing
    position      INTEGER NOT NULL DEFAULT 0,
    pinned_by     BIGINT,
    pinned_at     TIMESTAMP NOT NULL,
    PRIMARY KEY (report_id, dashboard)
);

CREATE TABLE rfm_bands (                    -- fixed bands set by the admin (analytics.rfm_method = bands)
    metric        VARCHAR NOT NULL,           -- recency | frequency | monetary
    score         INTEGER NOT NULL,           -- 1 .. 5
    low           DOUBLE,                     -- inclusive lower bound (recency: days, fewer is better)
    high          DOUBLE,                     -- exclusive upper bound; NULL = no bound
    PRIMARY KEY (metric, score)
);
