-- 005: contacts carry free-text notes (follow-ups and the customer timeline need no other change).
ALTER TABLE contacts ADD COLUMN notes VARCHAR;
