"""The two formats of GeoReport v2: XML as in the standard's examples, and its JSON mapping.

A view answers a GeoReportResponse naming the XML root and the element of each row
(<services><service>…, <service_requests><request>…, <errors><error>…); JSON is the same
rows as a list (or the definition as an object), per the standard's Spark convention.
"""

import re
import xml.etree.ElementTree as ET  # noqa: S405  (building XML, never parsing it)
from typing import Any

from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

# Lists inside a row: the container's element and its children's.
CHILD = {"attributes": "attribute", "values": "value"}
# Characters XML 1.0 cannot carry at all; a department's pasted reply may hold one.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class GeoReportResponse(Response):
    def __init__(self, data: Any, *, root: str, item: str | None = None, status: int = 200, **kwargs: Any) -> None:
        super().__init__(data, status=status, **kwargs)
        self.georeport_root = root
        self.georeport_item = item


class GeoReportJSONRenderer(JSONRenderer):
    # The standard asks for the charset on every answer ("application/json; charset=utf-8").
    charset = "utf-8"


class GeoReportXMLRenderer(BaseRenderer):
    media_type = "text/xml"
    format = "xml"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        response = (renderer_context or {}).get("response")
        root_name = getattr(response, "georeport_root", "response")
        item_name = getattr(response, "georeport_item", None)
        root = ET.Element(root_name)
        if isinstance(data, list):
            for row in data:
                _append(root, item_name or "item", row)
        elif isinstance(data, dict):
            for key, value in data.items():
                _append(root, key, value)
        ET.indent(root, space="  ")
        return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8", xml_declaration=False)


def _append(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    if value is None:
        return
    if isinstance(value, bool):
        element.text = "true" if value else "false"
    elif isinstance(value, dict):
        for key, inner in value.items():
            _append(element, key, inner)
    elif isinstance(value, list | tuple):
        for inner in value:
            _append(element, CHILD.get(name, "item"), inner)
    else:
        element.text = _NOT_XML.sub("", str(value))
