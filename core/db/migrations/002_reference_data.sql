-- 002: reference data every company starts with; all of it is editable later.

INSERT INTO customer_stages VALUES
    ('raw',         'Raw',             '原始客户', 1),
    ('unknown',     'Unknown',         '不明',     2),
    ('potential',   'Potential',       '潜在',     3),
    ('intent',      'Intent',          '意向',     4),
    ('opportunity', 'Opportunity',     '商机',     5),
    ('won',         'Won',             '成交',     6),
    ('upgrade',     'Pending upgrade', '待升级',   7);

INSERT INTO customer_levels VALUES
    ('A', 'A - key account',   'A 重点客户', 1, 100000),
    ('B', 'B - regular',       'B 普通客户', 2, 10000),
    ('C', 'C - small',         'C 小客户',   3, 0);

INSERT INTO pipeline_stages VALUES
    ('prospecting',   'Prospecting',   '初步接洽', 1, 10, FALSE, FALSE, TRUE),
    ('qualification', 'Qualification', '需求确认', 2, 25, FALSE, FALSE, TRUE),
    ('proposal',      'Proposal',      '方案报价', 3, 50, FALSE, FALSE, TRUE),
    ('negotiation',   'Negotiation',   '谈判审核', 4, 75, FALSE, FALSE, TRUE),
    ('won',           'Won',           '赢单',     5, 100, TRUE,  FALSE, TRUE),
    ('lost',          'Lost',          '输单',     6, 0,   FALSE, TRUE,  TRUE);

INSERT INTO sla_targets VALUES
    ('critical', 1,  8),
    ('high',     4,  24),
    ('medium',   8,  48),
    ('low',      24, 120);
