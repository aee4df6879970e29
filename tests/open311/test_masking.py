"""Masking personal data in the text Open311 publishes."""

import pytest

from tickets.open311.masking import contact_names, public_text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("身份证11010519491231002X", "身份证110105********002X"),
        ("老身份证 110105491231002 号", "老身份证 110105*****1002 号"),
        ("电话13800138000", "电话138****8000"),
        ("电话 +86 138 0013 8000。", "电话 138****8000。"),
        ("+8613800138000", "138****8000"),
        ("座机 0752-2345678", "座机 075****5678"),
        ("分机 2345678", "分机 *****78"),
        ("QQ 邮箱 13800138000@qq.com", "QQ 邮箱 1***@qq.com"),
        ("3 号楼 502 室，2026 年 11 月", "3 号楼 502 室，2026 年 11 月"),
        ("", ""),
        (None, None),
    ],
)
def test_numbers_and_addresses_are_masked(text, shown):
    assert public_text(text) == shown


def test_names_are_starred_longest_first_and_single_characters_left_alone():
    names = contact_names("三丰", "张", "李四")

    assert public_text("张三丰说李四和张老师都知道", names=names) == "张**说李*和张老师都知道"


def test_western_names_in_either_order():
    names = contact_names("John", "Smith")

    assert public_text("Call John Smith or Smith John", names=names) == "Call J********* or S*********"
