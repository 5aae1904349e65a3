"""Typed errors read in the user's language, field and module names included (no 'name 为必填项')."""
import pytest
import streamlit as st

from core.errors import DuplicateError, PermissionDenied, ValidationError
from ui import errors


@pytest.fixture
def zh():
    st.session_state["lang"] = "zh"
    yield
    st.session_state.pop("lang", None)


def test_field_names_in_messages_are_translated(zh):
    text = errors.message(ValidationError("field.required", field="customer.name"))
    assert text == "名称为必填项。"


def test_the_duplicate_phone_message_speaks_chinese_entirely(zh):
    text = errors.message(DuplicateError("phone.held_by", entity="entity.customer", owner="李伟", team="East"))
    assert "客户" in text and "customer" not in text and "李伟" in text


def test_module_and_action_of_a_permission_error_are_translated(zh):
    text = errors.message(PermissionDenied("error.permission", module="customers", action="delete"))
    assert "customers" not in text and "delete" not in text and "客户" in text
