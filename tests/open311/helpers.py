"""Helpers of the Open311 tests: posting forms, a valid request body, reading XML and error answers."""

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

from django.test import Client

BASE = "/open311/v2"
JURISDICTION = "huizhou.gov.cn"


def post_form(client: Client, path: str, data: dict, **extra):
    """POST url-encoded like the standard's example (list values repeat the name: attribute[when][]=…)."""
    return client.post(path, urlencode(data, doseq=True), content_type="application/x-www-form-urlencoded", **extra)


def light_request(key, **changes) -> dict:
    """A valid POST requests body for the street lights service."""
    data = {
        "api_key": key.secret,
        "jurisdiction_id": JURISDICTION,
        "service_code": "LIGHT-01",
        "lat": "23.111500",
        "long": "114.416200",
        "address_string": "惠城区江北文明一路 12 号对面",
        "description": "路灯不亮，晚上很黑",
        "attribute[pole]": "HC-0231",
        "attribute[state]": "dark",
        "attribute[when][]": ["night"],
        "first_name": "三",
        "last_name": "张",
        "phone": "13800138000",
        "email": "zhangsan@example.com",
        "device_id": "device-1",
        "account_id": "acct-9",
        "media_url": "https://img.example.com/1.jpg",
    }
    data.update(changes)
    return {name: value for name, value in data.items() if value is not None}


def xml(response) -> ET.Element:
    assert response["Content-Type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return ET.fromstring(response.content)  # noqa: S314  (our own answer)


def errors_of(response) -> list[dict]:
    """The standard's error list, from JSON or XML, as dicts."""
    if response["Content-Type"].startswith("text/xml"):
        root = xml(response)
        assert root.tag == "errors"
        return [{"code": int(e.findtext("code")), "description": e.findtext("description")} for e in root]
    assert response["Content-Type"] == "application/json; charset=utf-8"
    return response.json()
