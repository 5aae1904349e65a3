"""Saved mappings for the real files of ../shared/data (issue 9, point 9): one preset per file, installable
into `import_mappings` by name, so `python -m core import FILE --object X --mapping NAME` works on a fresh
store.

`install_presets(con)` writes every preset that is not there yet (idempotent; called by core.setup.prepare,
and by the engine when a preset name is asked: `ensure(con, actor, name)`); a preset that needs custom fields
(telco_customers) creates them only when it is used (`ensure`), never on every store.

A preset: object, the file's headers, mapping (file column -> field), value_map (field -> {file value: our
code}; the entry "_options" carries the object's own options, e.g. currency), options (the engine's Options).
"""
from __future__ import annotations

import json
from typing import Any

from core import db

# the Maven and Kaggle files speak English; each field's meaning is in core/imports/objects.py
PRESETS: dict[str, dict[str, Any]] = {
    "maven_pipeline": {
        "object": "opportunities",
        "headers": ["opportunity_id", "sales_agent", "product", "account", "deal_stage", "engage_date", "close_date",
                    "close_value"],
        "mapping": {"opportunity_id": "external_ref", "sales_agent": "owner", "product": "product", "account": "customer",
                    "deal_stage": "stage", "engage_date": "engaged_on", "close_date": "closed_on", "close_value": "amount"},
        "value_map": {"stage": {"Prospecting": "prospecting", "Engaging": "qualification", "Won": "won", "Lost": "lost"},
                      "_options": {"currency": "USD"}},
        "options": {"unknown_owners": "create", "on_duplicate": "skip"},
    },
    "maven_accounts": {
        "object": "customers",
        "headers": ["account", "sector", "year_established", "revenue", "employees", "office_location", "subsidiary_of"],
        "mapping": {"account": "name", "sector": "industry", "year_established": "year_established",
                    "revenue": "annual_revenue", "employees": "employees", "office_location": "country",
                    "subsidiary_of": None},
        "value_map": {"industry": {"technolgy": "technology"}, "country": {"Philipines": "Philippines"},
                      "kind": {"": "company"}},
        "options": {"on_duplicate": "update", "owner": "pool"},
    },
    "maven_products": {
        "object": "products",
        "headers": ["product", "series", "sales_price"],
        "mapping": {"product": "name", "series": "series", "sales_price": "list_price"},
        "value_map": {},
        "options": {"on_duplicate": "skip"},
    },
    "maven_teams": {
        "object": "users",
        "headers": ["sales_agent", "manager", "regional_office"],
        "mapping": {"sales_agent": "name", "manager": "manager", "regional_office": "team"},
        "value_map": {"_options": {"active": False}},
        "options": {},
    },
    "support_tickets": {
        "object": "tickets",
        "headers": ["Ticket ID", "Customer Name", "Customer Email", "Customer Age", "Customer Gender", "Product Purchased",
                    "Date of Purchase", "Ticket Type", "Ticket Subject", "Ticket Description", "Ticket Status",
                    "Resolution", "Ticket Priority", "Ticket Channel", "First Response Time", "Time to Resolution",
                    "Customer Satisfaction Rating"],
        "mapping": {"Ticket ID": "external_ref", "Customer Name": "customer_name", "Customer Email": "customer_email",
                    "Customer Age": "customer_age", "Customer Gender": "customer_gender",
                    "Product Purchased": "product", "Date of Purchase": "purchased_on", "Ticket Type": "category",
                    "Ticket Subject": "subject", "Ticket Description": "description", "Ticket Status": "status",
                    "Resolution": "resolution", "Ticket Priority": "priority", "Ticket Channel": "channel",
                    "First Response Time": "first_response_at", "Time to Resolution": "resolved_at",
                    "Customer Satisfaction Rating": "satisfaction"},
        "value_map": {"status": {"Open": "open", "Pending Customer Response": "pending", "Closed": "closed"},
                      "channel": {"Email": "email", "Phone": "phone", "Chat": "chat", "Social media": "web"},
                      "category": {"Technical issue": "technical", "Billing inquiry": "billing",
                                   "Refund request": "refund", "Product inquiry": "product",
                                   "Cancellation request": "cancellation"},
                      "priority": {"Low": "low", "Medium": "medium", "High": "high", "Critical": "critical"}},
        "options": {"on_duplicate": "skip"},
    },
    "online_retail": {
        "object": "orders",
        "headers": ["InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID",
                    "Country"],
        "mapping": {"InvoiceNo": "order_no", "StockCode": "sku", "Description": "description", "Quantity": "quantity",
                    "InvoiceDate": "ordered_at", "UnitPrice": "unit_price", "CustomerID": "customer_ref",
                    "Country": "country"},
        "value_map": {"_options": {"currency": "GBP", "channel": "web", "missing_customer": "reject",
                                   "team_name": "Online retail"}},
        "options": {"on_duplicate": "skip", "date_order": "ymd"},
    },
    "ifood_campaign": {
        "object": "campaign_results",
        "headers": ["ID", "Year_Birth", "Education", "Marital_Status", "Income", "Kidhome", "Teenhome", "Dt_Customer",
                    "Recency", "MntWines", "MntFruits", "MntMeatProducts", "MntFishProducts", "MntSweetProducts",
                    "MntGoldProds", "NumDealsPurchases", "NumWebPurchases", "NumCatalogPurchases", "NumStorePurchases",
                    "NumWebVisitsMonth", "AcceptedCmp3", "AcceptedCmp4", "AcceptedCmp5", "AcceptedCmp1", "AcceptedCmp2",
                    "Complain", "Z_CostContact", "Z_Revenue", "Response"],
        "mapping": {"ID": "member_ref", "Year_Birth": "birth_year", "Dt_Customer": "registered_on",
                    "AcceptedCmp1": "accepted_1", "AcceptedCmp2": "accepted_2", "AcceptedCmp3": "accepted_3",
                    "AcceptedCmp4": "accepted_4", "AcceptedCmp5": "accepted_5", "Response": "response",
                    "Z_CostContact": "cost_per_contact", "Z_Revenue": "revenue_per_response"},
        "value_map": {"_options": {"customer_prefix": "iFood ", "channel": "email", "campaigns": {
            "accepted_1": "iFood campaign 1", "accepted_2": "iFood campaign 2", "accepted_3": "iFood campaign 3",
            "accepted_4": "iFood campaign 4", "accepted_5": "iFood campaign 5", "response": "iFood last campaign"}}},
        "options": {"on_duplicate": "skip", "date_order": "ymd"},
    },
    "telco_customers": {
        "object": "customers",
        "headers": ["customerID", "gender", "SeniorCitizen", "Partner", "Dependents", "tenure", "PhoneService",
                    "MultipleLines", "InternetService", "OnlineSecurity", "OnlineBackup", "DeviceProtection",
                    "TechSupport", "StreamingTV", "StreamingMovies", "Contract", "PaperlessBilling", "PaymentMethod",
                    "MonthlyCharges", "TotalCharges", "Churn"],
        "mapping": {"customerID": "name", "gender": "gender", "SeniorCitizen": "telco_senior", "Partner": "telco_partner",
                    "Dependents": "telco_dependents", "tenure": "telco_tenure", "PhoneService": "telco_phone_service",
                    "MultipleLines": "telco_multiple_lines", "InternetService": "telco_internet",
                    "OnlineSecurity": "telco_online_security", "OnlineBackup": "telco_online_backup",
                    "DeviceProtection": "telco_device_protection", "TechSupport": "telco_tech_support",
                    "StreamingTV": "telco_streaming_tv", "StreamingMovies": "telco_streaming_movies",
                    "Contract": "telco_contract", "PaperlessBilling": "telco_paperless", "PaymentMethod": "telco_payment",
                    "MonthlyCharges": "telco_monthly", "TotalCharges": "telco_total", "Churn": "telco_churn"},
        "value_map": {"gender": {"Female": "female", "Male": "male"},
                      **{f: {"Yes": "true", "No": "false", "1": "true", "0": "false"} for f in (
                          "telco_senior", "telco_partner", "telco_dependents", "telco_phone_service", "telco_paperless",
                          "telco_churn")},
                      "kind": {"": "person"}},
        "options": {"on_duplicate": "skip", "owner": "pool"},
        # custom fields created when this preset is used: name, kind, English and Chinese labels
        "fields": [
            ("telco_senior", "bool", "Senior citizen", "老年用户"), ("telco_partner", "bool", "Has partner", "有伴侣"),
            ("telco_dependents", "bool", "Has dependents", "有家属"), ("telco_tenure", "int", "Tenure (months)", "在网时长（月）"),
            ("telco_phone_service", "bool", "Phone service", "电话服务"),
            ("telco_multiple_lines", "text", "Multiple lines", "多线路"),
            ("telco_internet", "text", "Internet service", "宽带服务"),
            ("telco_online_security", "text", "Online security", "网络安全"),
            ("telco_online_backup", "text", "Online backup", "在线备份"),
            ("telco_device_protection", "text", "Device protection", "设备保护"),
            ("telco_tech_support", "text", "Tech support", "技术支持"),
            ("telco_streaming_tv", "text", "Streaming TV", "流媒体电视"),
            ("telco_streaming_movies", "text", "Streaming movies", "流媒体电影"),
            ("telco_contract", "text", "Contract", "合约"), ("telco_paperless", "bool", "Paperless billing", "电子账单"),
            ("telco_payment", "text", "Payment method", "付款方式"),
            ("telco_monthly", "number", "Monthly charges", "月费"), ("telco_total", "number", "Total charges", "累计费用"),
            ("telco_churn", "bool", "Churned", "已流失"),
        ],
    },
    "cn_customers": {
        "object": "customers",
        "headers": ["customer_id", "姓名", "性别", "手机号", "邮箱", "公司", "省份", "城市", "区县", "详细地址", "邮编", "完整地址",
                    "身份证号", "注册日期"],
        "mapping": {"customer_id": "external_ref", "姓名": "name", "性别": "gender", "手机号": "phone", "邮箱": "email",
                    "公司": None, "省份": "province", "城市": "city", "区县": "district", "详细地址": "address",
                    "邮编": "postal_code", "完整地址": None, "身份证号": None, "注册日期": None},
        "value_map": {"gender": {"男": "male", "女": "female"}, "kind": {"": "person"}},
        "options": {"on_duplicate": "skip", "owner": "pool", "date_order": "ymd"},
    },
}


def signature(headers: list[str]) -> str:
    """The layout key of a file: the engine's own when it has one (core.imports.mapping.signature)."""
    try:
        from core.imports import mapping

        fn = getattr(mapping, "signature", None) or getattr(mapping, "header_signature", None)
        if fn is not None:
            return fn(headers)
    except Exception:  # noqa: BLE001 - the engine's module may be a stub
        pass
    return "|".join(h.strip().lower() for h in headers)


def names() -> list[str]:
    return sorted(PRESETS)


def preset(name: str) -> dict | None:
    return PRESETS.get(name)


def install_presets(con, only: str | None = None) -> int:
    """The presets missing from import_mappings (by name) written; returns how many. Joins the caller's unit."""
    def work() -> int:
        made = 0
        for name, p in PRESETS.items():
            if only is not None and name != only:
                continue
            if db.scalar(con, "SELECT count(*) FROM import_mappings WHERE name = ?", [name]):
                continue
            mapping = {k: v for k, v in p["mapping"].items() if v}
            con.execute(
                "INSERT INTO import_mappings (id, object, header_signature, mapping, used_at, name, value_map, options, "
                "created_by) VALUES (nextval('seq_import_mappings'), ?, ?, ?, TIMESTAMP '2000-01-01', ?, ?, ?, NULL)",
                [p["object"], signature(p["headers"]), json.dumps(mapping, ensure_ascii=False), name,
                 json.dumps(p.get("value_map") or {}, ensure_ascii=False), json.dumps(p.get("options") or {})])
            made += 1
        return made

    return db.write(con, work)


def ensure_fields(con, actor, name: str) -> list[str]:
    """The custom fields a preset maps to, created when missing (the admin's right: settings edit)."""
    from core import fields

    p = PRESETS.get(name) or {}
    made = []
    obj = {"customers": "customer", "leads": "lead", "contacts": "contact", "deals": "deal",
           "tickets": "ticket"}.get(p.get("object", ""), None)
    for fname, kind, en, zh in p.get("fields", []):
        if obj and not db.scalar(con, "SELECT count(*) FROM field_defs WHERE object = ? AND name = ?", [obj, fname]):
            fields.save_field(con, actor, obj, fname, kind=kind, label_en=en, label_zh=zh, tier="extra")
            made.append(fname)
    return made


def ensure(con, actor, name: str) -> dict | None:
    """A preset asked for by name: installed if missing, its custom fields created; returns the preset
    (None when no preset has this name)."""
    if name not in PRESETS:
        return None
    install_presets(con, only=name)
    if PRESETS[name].get("fields"):
        ensure_fields(con, actor, name)
    return PRESETS[name]


__all__ = ["PRESETS", "install_presets", "ensure", "ensure_fields", "names", "preset", "signature"]
