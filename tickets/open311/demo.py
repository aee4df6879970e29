"""The demo city's Open311 side: a few categories offered as services, and a public demo API key.

The demo key is printed in the README like the demo passwords: it exists to try the API on a
demo database, never on a real one. Loading again adds nothing.
"""

from tickets.models import Category, Kind

from .models import ApiKey, AttributeValue, Datatype, Service, ServiceAttribute, ServiceType
from .selectors import api_key_hash

DEMO_API_KEY = "o311_demo-key-for-the-demo-city-only"  # noqa: S105  (public on purpose, as the demo passwords)

# (category code, service code, kind, type, description, keywords, notice)
SERVICES = (
    (
        "street-lights",
        "street-lights",
        Kind.HELP,
        ServiceType.REALTIME,
        "路灯不亮、闪烁或灯杆损坏",
        "路灯, 灯杆",
        "城市管理部门一般在三个工作日内修复。",
    ),
    (
        "road-facilities",
        "road-facilities",
        Kind.HELP,
        ServiceType.REALTIME,
        "路面坑洼、井盖缺失、护栏损坏",
        "坑洼, 井盖, 护栏",
        "",
    ),
    (
        "rubbish-collection",
        "rubbish-collection",
        Kind.COMPLAINT,
        ServiceType.REALTIME,
        "垃圾未及时清运",
        "垃圾, 清运",
        "",
    ),
    ("noise", "noise", Kind.COMPLAINT, ServiceType.REALTIME, "施工、商铺、娱乐场所噪音", "噪音, 扰民", ""),
    ("water-cut", "water-cut", Kind.HELP, ServiceType.REALTIME, "停水、水压低、水质异常", "停水, 水压", ""),
    ("power-cut", "power-cut", Kind.HELP, ServiceType.BATCH, "停电、电压不稳", "停电", ""),
)


def load_open311_demo(categories: dict[str, Category]) -> int:
    """Offer the demo's services (street lights with a definition) and create the demo key; return services added."""
    added = 0
    for sort, (category, code, kind, service_type, description, keywords, notice) in enumerate(SERVICES, start=1):
        if category not in categories:
            continue
        service, created = Service.objects.get_or_create(
            category=categories[category],
            defaults={
                "code": code,
                "kind": kind,
                "type": service_type,
                "description": description,
                "keywords": keywords,
                "notice": notice,
                "sort": sort,
            },
        )
        added += created
        if created and code == "street-lights":
            _street_light_definition(service)
    ApiKey.objects.get_or_create(
        key_hash=api_key_hash(DEMO_API_KEY),
        defaults={
            "name": "演示 / Demo",
            "prefix": DEMO_API_KEY[:11],
            "note": "Public demo key: revoke it on a real system.",
        },
    )
    return added


def _street_light_definition(service: Service) -> None:
    ServiceAttribute.objects.create(
        service=service,
        code="pole",
        order=1,
        required=False,
        description="灯杆编号（灯杆上的白色标牌）",
        datatype_description="例如 HC-0231",
    )
    state = ServiceAttribute.objects.create(
        service=service, code="state", order=2, datatype=Datatype.SINGLEVALUELIST, required=True, description="灯的状态"
    )
    for sort, (key, name) in enumerate((("dark", "不亮"), ("flicker", "闪烁"), ("daylight", "白天常亮")), start=1):
        AttributeValue.objects.create(attribute=state, key=key, name=name, sort=sort)
