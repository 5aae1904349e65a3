"""The built-in import objects: customers, leads and contacts (more in core/imports/objects.py)."""
from __future__ import annotations

from core.imports.spec import ImportField as F, ObjectSpec, register


def _write(ctx):
    from core.imports import engine

    return engine.write_records(ctx)


def _resolve_contacts(ctx):
    from core.imports import engine

    engine.link_customer(ctx, "customer", "customer_id", required=True)


OWNER = (F("owner", "owner", "import.field.owner", synonyms=("owner", "sales agent", "sales_agent", "agent", "rep",
                                                             "salesperson", "负责人", "销售", "业务员", "归属人", "所有人")),
         F("team", "team", "import.field.team", synonyms=("team", "团队", "部门", "regional_office", "小组")))
REF = F("external_ref", "text", "import.field.external_ref", max_len=100,
        synonyms=("id", "customer id", "customerid", "external id", "ref", "编号", "客户编号", "外部编号"))

CUSTOMERS = register(ObjectSpec(
    name="customers", module="customers", entity="customer", table="customers", label_key="import.object.customers",
    keys=("phone", "email", "external_ref"), capped=True, dedup_obj="customer", custom_obj="customer",
    resolve=None, write=_write,
    fields={f.name: f for f in (
        F("name", "text", "customer.name", required=True, max_len=200,
          synonyms=("name", "customer", "customer name", "company", "company name", "account", "客户", "客户名称",
                    "公司", "公司名称", "名称", "姓名", "客户姓名")),
        F("kind", "choice", "customer.kind", option_list=("company", "person"), synonyms=("kind", "type", "类型")),
        F("phone", "phone", "customer.phone", max_len=40,
          synonyms=("phone", "telephone", "tel", "mobile", "cell", "phone number", "电话", "手机", "手机号", "手机号码",
                    "联系电话", "电话号码")),
        F("email", "email", "customer.email", max_len=254,
          synonyms=("email", "e-mail", "mail", "email address", "邮箱", "电子邮件", "电子邮箱")),
        F("gender", "choice", "customer.gender", option_list=("male", "female", "other"), synonyms=("gender", "sex", "性别")),
        F("industry", "text", "customer.industry", max_len=100, synonyms=("industry", "sector", "行业")),
        F("country", "text", "customer.country", max_len=100, synonyms=("country", "国家", "office_location")),
        F("province", "text", "customer.province", max_len=50, synonyms=("province", "state", "region", "省", "省份")),
        F("city", "text", "customer.city", max_len=50, synonyms=("city", "town", "城市", "市")),
        F("district", "text", "customer.district", max_len=50, synonyms=("district", "区", "区县")),
        F("address", "text", "customer.address", max_len=300, synonyms=("address", "street", "地址", "详细地址")),
        F("postal_code", "text", "customer.postal_code", max_len=20, synonyms=("postal code", "zip", "postcode", "邮编")),
        F("source", "choice", "customer.source", option_list="source", synonyms=("source", "lead source", "来源", "客户来源")),
        F("stage", "choice", "customer.stage", option_list=lambda con: [r[0] for r in con.execute(
            "SELECT code FROM customer_stages").fetchall()], synonyms=("stage", "status", "阶段", "客户阶段")),
        F("level", "choice", "customer.level", option_list=lambda con: [r[0] for r in con.execute(
            "SELECT code FROM customer_levels").fetchall()], synonyms=("level", "grade", "rating", "等级", "客户等级")),
        F("employees", "int", "customer.employees", synonyms=("employees", "headcount", "staff", "员工数", "人数")),
        F("annual_revenue", "number", "customer.annual_revenue", synonyms=("revenue", "annual revenue", "年收入", "营收")),
        F("year_established", "int", "customer.year_established",
          synonyms=("year established", "founded", "成立年份")),
        F("next_followup_at", "datetime", "customer.next_followup_at",
          synonyms=("next follow-up", "next followup", "下次跟进", "下次跟进时间")),
        REF, *OWNER)}))

LEADS = register(ObjectSpec(
    name="leads", module="leads", entity="lead", table="leads", label_key="import.object.leads",
    keys=("phone", "email", "external_ref"), dedup_obj="lead", custom_obj="lead", write=_write,
    fields={f.name: f for f in (
        F("name", "text", "lead.name", required=True, max_len=100,
          synonyms=("name", "lead", "lead name", "contact name", "full name", "姓名", "名字", "线索", "联系人")),
        F("company", "text", "lead.company", max_len=200, synonyms=("company", "company name", "公司", "公司名称", "单位")),
        F("title", "text", "lead.title", max_len=100, synonyms=("title", "job title", "position", "职位", "职务")),
        F("phone", "phone", "lead.phone", max_len=40,
          synonyms=("phone", "telephone", "tel", "mobile", "电话", "手机", "手机号", "手机号码", "联系电话")),
        F("email", "email", "lead.email", max_len=254, synonyms=("email", "e-mail", "mail", "邮箱", "电子邮件")),
        F("source", "choice", "lead.source", option_list="source", synonyms=("source", "来源", "线索来源")),
        F("status", "choice", "lead.status", option_list=("new", "contacted", "qualified"),
          synonyms=("status", "状态", "线索状态")),
        F("province", "text", "lead.province", max_len=50, synonyms=("province", "state", "省", "省份")),
        F("city", "text", "lead.city", max_len=50, synonyms=("city", "城市")),
        F("industry", "text", "lead.industry", max_len=100, synonyms=("industry", "sector", "行业")),
        F("notes", "longtext", "lead.notes", max_len=2000, synonyms=("notes", "note", "remarks", "comment", "备注")),
        F("next_followup_at", "datetime", "lead.next_followup_at", synonyms=("next follow-up", "下次跟进")),
        F("external_ref", "text", "import.field.external_ref", max_len=100,
          synonyms=("id", "lead id", "external id", "ref", "编号", "线索编号")), *OWNER)}))

CONTACTS = register(ObjectSpec(
    name="contacts", module="customers", entity="contact", table="contacts", label_key="import.object.contacts",
    keys=("phone", "email"), dedup_obj="contact", custom_obj=None, owned=False,
    resolve=_resolve_contacts, write=_write,
    fields={f.name: f for f in (
        F("customer", "link", "contact.customer", required=True,
          synonyms=("customer", "account", "company", "customer name", "客户", "客户名称", "公司", "所属客户")),
        F("name", "text", "contact.name", required=True, max_len=100,
          synonyms=("name", "contact", "contact name", "full name", "姓名", "联系人", "联系人姓名")),
        F("title", "text", "contact.title", max_len=100, synonyms=("title", "job title", "position", "职位", "职务")),
        F("phone", "phone", "contact.phone", max_len=40,
          synonyms=("phone", "telephone", "tel", "mobile", "电话", "手机", "手机号", "联系电话")),
        F("email", "email", "contact.email", max_len=254, synonyms=("email", "e-mail", "mail", "邮箱", "电子邮件")),
        F("is_primary", "bool", "contact.is_primary", synonyms=("primary", "is primary", "主联系人")),
        F("notes", "longtext", "contact.notes", max_len=2000, synonyms=("notes", "remarks", "备注")),
        F("external_ref", "text", "import.field.external_ref", max_len=100, synonyms=("contact id", "联系人编号")))}))
