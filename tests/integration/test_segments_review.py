"""Found in review (issue 12, point 3): a segment could be added to a campaign that has finished, growing the
membership of a campaign whose results were already counted. Finished campaigns are not offered, and adding
to one is refused with a message."""
from __future__ import annotations

import pytest

from core import db, segments
from core.errors import ValidationError
from tests.integration.test_segments import NOW, cond, rule


def test_a_finished_campaign_is_not_offered_and_cannot_grow(company):
    c, mkt = company.con, company.actor("mkt")
    for cid, name, status in ((1, "Spring mail", "running"), (2, "Last year's mail", "done")):
        c.execute("INSERT INTO campaigns (id, name, channel, status, owner_id, team_id, created_at, updated_at) "
                  "VALUES (?, ?, 'email', ?, ?, ?, ?, ?)",
                  [cid, name, status, company.users["mkt"], company.teams["marketing"], NOW, NOW])
    assert [x["name"] for x in segments.campaigns(c, mkt)] == ["Spring mail"]
    sid = segments.save(c, mkt, "Shanghai", rule(cond("province", "contains", "上海")))
    with pytest.raises(ValidationError) as err:
        segments.add_to_campaign(c, mkt, sid, 2)
    assert err.value.key == "segment.campaign_done"
    assert db.scalar(c, "SELECT count(*) FROM campaign_members WHERE campaign_id = 2") == 0
    assert segments.add_to_campaign(c, mkt, sid, 1) > 0
