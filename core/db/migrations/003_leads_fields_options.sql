-- 003: leads can be disqualified with a reason; fields carry limits and per-role visibility; option
-- lists (sources, disqualify reasons…) are admin-editable data.

ALTER TABLE leads ADD COLUMN disqualify_reason VARCHAR;
ALTER TABLE leads ADD COLUMN disqualified_at TIMESTAMP;

-- field_defs: a custom field (is_custom) or the admin's settings for a built-in one (tier, labels,
-- roles); NULL roles = every role that may see / edit the object
ALTER TABLE field_defs ADD COLUMN max_len INTEGER;
ALTER TABLE field_defs ADD COLUMN min_value DOUBLE;
ALTER TABLE field_defs ADD COLUMN max_value DOUBLE;
ALTER TABLE field_defs ADD COLUMN view_roles VARCHAR[];
ALTER TABLE field_defs ADD COLUMN edit_roles VARCHAR[];
ALTER TABLE field_defs ADD COLUMN updated_at TIMESTAMP;

CREATE TABLE option_lists (
    list          VARCHAR NOT NULL,           -- source | disqualify_reason | …
    code          VARCHAR NOT NULL,
    name_en       VARCHAR NOT NULL,
    name_zh       VARCHAR NOT NULL,
    position      INTEGER NOT NULL,
    active        BOOLEAN NOT NULL DEFAULT TRUE,
    PRIMARY KEY (list, code)
);

INSERT INTO option_lists VALUES
    ('source', 'web',        'Website',       '官网',     1, TRUE),
    ('source', 'referral',   'Referral',      '转介绍',   2, TRUE),
    ('source', 'event',      'Event',         '展会活动', 3, TRUE),
    ('source', 'ad',         'Advertising',   '广告',     4, TRUE),
    ('source', 'cold_call',  'Cold call',     '陌拜电话', 5, TRUE),
    ('source', 'card_scan',  'Business card', '名片扫描', 6, TRUE),
    ('source', 'import',     'Import',        '导入',     7, TRUE),
    ('source', 'api',        'Other system',  '外部系统', 8, TRUE),
    ('source', 'other',      'Other',         '其他',     9, TRUE),
    ('disqualify_reason', 'no_need',     'No need',               '没有需求',     1, TRUE),
    ('disqualify_reason', 'no_budget',   'No budget',             '没有预算',     2, TRUE),
    ('disqualify_reason', 'unreachable', 'Cannot be reached',     '联系不上',     3, TRUE),
    ('disqualify_reason', 'competitor',  'Chose a competitor',    '选择了竞争对手', 4, TRUE),
    ('disqualify_reason', 'duplicate',   'Duplicate',             '重复线索',     5, TRUE),
    ('disqualify_reason', 'spam',        'Spam or fake',          '垃圾或虚假信息', 6, TRUE),
    ('disqualify_reason', 'other',       'Other',                 '其他',         7, TRUE);
