"""Duplicate suggestions on a labelled set of Chinese tickets: precision and recall, SQLite and PostgreSQL.

The set is a small city's fortnight: tickets on the books (open, recently closed, and some that are
no candidates at all: old and closed, merged, cancelled, a draft), then new reports typed as an
operator types them, each labelled with the tickets it duplicates. The hard cases are the ones a
hotline meets every day: the same template about another estate, another matter at the same
address, the same matter in another district, the same caller about something else, a neighbour's
paraphrase, a caller chasing their own ticket in a few words, a consultation asked by someone else.
"""

import datetime
from typing import NamedTuple

import pytest
from django.db import connection

from tests.factories import DistrictFactory, UserFactory, advance
from tickets import actions, clock, duplicates
from tickets.duplicates import DuplicateQuery, duplicates_for_draft
from tickets.models import Role, Status

pytestmark = pytest.mark.django_db

# The thresholds the suggestion's rules were tuned to on this set (docs/duplicates.md).
MIN_PRECISION = 0.9
MIN_RECALL = 0.75


class Existing(NamedTuple):
    key: str
    days_ago: float
    status: str
    district: str
    address: str
    description: str
    kind: str = "complaint"
    phone: str = ""
    citizen: str = ""


class Report(NamedTuple):
    district: str
    address: str
    description: str
    expect: frozenset[str]
    phone: str = ""
    citizen: str = ""


def E(key, days_ago, status, district, address, description, **extra) -> Existing:  # noqa: N802
    return Existing(key, days_ago, status, district, address, description, **extra)


def R(district, address, description, expect=(), **extra) -> Report:  # noqa: N802
    return Report(district, address, description, frozenset(expect), **extra)


PHONE_A, PHONE_B, PHONE_C = "13826001234", "13927005678", "13500139000"

# fmt: off
EXISTING = (
    E("lift", 3, Status.DISPATCHED, "惠城区", "惠城区江北街道金碧花园3栋",
      "市民反映金碧花园3栋电梯近一个月多次停运，曾发生困人情况，物业以等待配件为由一直未修，老人上下楼十分困难，要求尽快修复。",
      phone=PHONE_A),
    E("water-cut", 1, Status.REGISTERED, "惠城区", "惠城区桥东街道翠湖苑",
      "市民反映翠湖苑小区从昨天早上开始停水，至今未恢复供水，也没有看到停水通知，家里老人小孩生活不便，请尽快恢复供水。"),
    E("site-noise", 5, Status.ACCEPTED, "惠阳区", "惠阳区淡水街道开城大道88号",
      "市民投诉开城大道88号附近工地每晚十一点后仍在施工，打桩噪音很大，严重影响周边居民休息。"),
    E("street-light", 4, Status.DISPATCHED, "博罗县", "博罗县罗阳街道北门路",
      "市民反映北门路与博罗大道交叉口往北一段路灯已经不亮半个月，晚上非常黑，行人和电动车容易出事。"),
    E("fumes", 6, Status.ACCEPTED, "惠城区", "惠城区江南街道丽日名苑",
      "市民投诉丽日名苑楼下一家烧烤店油烟直排，没有安装油烟净化设备，油烟飘进住户家中，晚上无法开窗。"),
    E("wages", 8, Status.DISPATCHED, "仲恺高新区", "仲恺高新区陈江街道仲恺大道",
      "市民反映其在仲恺大道某电子厂工作，工厂已拖欠三个月工资共约一万五千元，二十多名工人均未拿到工资。", kind="help"),
    E("pothole", 2, Status.REGISTERED, "惠阳区", "惠阳区秋长街道叶挺大道",
      "市民反映叶挺大道靠近阳光新城的路段路面出现多处坑洞，下雨积水，电动车经过容易摔倒。"),
    E("rubbish", 2, Status.DISPATCHED, "惠东县", "惠东县平山街道东江豪庭",
      "市民反映东江豪庭小区门口垃圾桶已经三天没有清运，垃圾堆满溢出，臭味很大，蚊蝇滋生。"),
    E("bus", 10, Status.ACCEPTED, "惠城区", "",
      "市民反映途经演达大道的公交线路早高峰经常要等候四十分钟以上，远超公示的发车间隔，要求加密班次。"),
    E("gym", 5, Status.DISPATCHED, "惠城区", "惠城区麦地路",
      "市民反映麦地路一家健身房突然关门停业，其去年办理的年卡还剩八个月未使用，联系不上经营者，要求退费。"),
    E("rooftop", 3, Status.DISPATCHED, "大亚湾开发区", "大亚湾开发区澳头街道海湾半岛12栋",
      "市民举报海湾半岛12栋顶楼有业主正在搭建铁皮房，已施工多日，存在安全隐患，影响其他业主使用天台。", kind="report"),
    E("power-cut", 0.2, Status.REGISTERED, "龙门县", "龙门县龙城街道龙门大道",
      "市民反映龙门大道龙城街道一带今天下午两点开始停电，至今未来电，也没有收到停电通知。", kind="help"),
    E("fire-lane", 7, Status.DISPATCHED, "惠城区", "惠城区河南岸街道凯旋城",
      "市民反映凯旋城小区消防通道长期被私家车占用，物业不管，万一发生火灾消防车无法进入。"),
    E("school-fee", 9, Status.ACCEPTED, "博罗县", "博罗县园洲镇",
      "市民反映园洲镇某民办小学本学期额外收取每人八百元的课后服务费，事先未征求家长意见。"),
    E("dog", 4, Status.DISPATCHED, "惠城区", "惠城区小金口街道鹅城花园",
      "市民反映鹅城花园小区有住户在楼道内饲养大型犬，出门不拴绳，多次吓到小孩。"),
    E("tree", 0.1, Status.REGISTERED, "惠阳区", "惠阳区淡水街道人民五路",
      "市民反映人民五路一棵大树昨晚被风吹倒，横在路中间阻断交通，请尽快清理。", kind="help"),
    E("pipe", 0.3, Status.DISPATCHED, "仲恺高新区", "仲恺高新区惠环街道和畅五路",
      "市民反映和畅五路路边自来水管爆裂，大量清水流到马路上，已经持续两个小时。", kind="help"),
    E("lost-phone", 1, Status.DISPATCHED, "惠城区", "",
      "市民反映昨晚乘坐出租车时将手机遗落在车上，上车地点在文昌一路，请求帮助联系司机。", kind="help", phone=PHONE_B),
    E("property-fee", 12, Status.ACCEPTED, "惠阳区", "惠阳区秋长街道嘉和豪苑",
      "市民反映嘉和豪苑物业公司未经业主大会表决，自本月起将物业费由每平方米1.8元上调至2.5元，业主多次沟通无果，请相关部门核查。"),
    E("parking", 5, Status.CLOSED, "惠城区", "惠城区下埔路",
      "市民反映下埔路某商场地下停车场实际按每小时十元收费，高于公示的每小时六元，要求核查。"),
    E("lift-last-year", 40, Status.CLOSED, "惠城区", "惠城区江北街道金碧花园3栋",
      "市民反映金碧花园3栋电梯经常停运，物业一直未修，要求尽快修复。"),
    E("gas", 0.1, Status.DISPATCHED, "惠东县", "惠东县平山街道紫薇苑5栋",
      "市民反映紫薇苑5栋楼道内有明显的燃气味，怀疑燃气管道泄漏，请燃气公司尽快派人检查。", kind="help"),
    E("vendors", 6, Status.DISPATCHED, "惠城区", "惠城区桥西街道三新南路",
      "市民反映三新南路菜市场门口每天早上有大量流动摊贩占道经营，堵塞交通。"),
    E("lift-elsewhere", 2, Status.DISPATCHED, "惠城区", "惠城区江北街道锦绣家园8栋",
      "市民反映锦绣家园8栋电梯近一个月多次停运，曾发生困人情况，物业以等待配件为由一直未修，要求尽快修复。"),
    E("water-cut-elsewhere", 1, Status.REGISTERED, "惠阳区", "惠阳区淡水街道御景湾",
      "市民反映御景湾小区从昨天早上开始停水，至今未恢复供水，也没有看到停水通知，请尽快恢复供水。"),
    E("bar", 3, Status.ACCEPTED, "惠城区", "惠城区江北街道文昌一路",
      "市民投诉文昌一路一家酒吧每晚播放音乐到凌晨两点，低音炮震得窗户响，严重影响休息。"),
    E("housing-fund", 1, Status.CLOSED_FIRST_CONTACT, "惠城区", "",
      "市民咨询住房公积金提取需要准备哪些材料。", kind="consultation", phone=PHONE_C),
    E("social-insurance", 6, Status.ACCEPTED, "博罗县", "",
      "市民反映其所在的公司未为其缴纳社保，已工作一年多，多次向公司提出均被拒绝。", citizen="li"),
    E("takeaway", 2, Status.DISPATCHED, "惠阳区", "惠阳区淡水街道开城大道",
      "市民反映在开城大道一家快餐店点的外卖中吃出钢丝球碎屑，商家拒绝退款，要求监管部门查处。"),
    E("manhole", 1, Status.DISPATCHED, "仲恺高新区", "仲恺高新区陈江街道陈江大道",
      "市民反映陈江大道人行道上有一个井盖缺失，夜间行人容易踩空，请尽快处理。", kind="help"),
    E("sewage", 3, Status.DISPATCHED, "惠城区", "惠城区水口街道",
      "市民反映水口街道东江边一个排污口排放黑色污水，有刺鼻气味，河面漂有死鱼。", kind="report"),
    E("tutoring", 4, Status.DISPATCHED, "惠城区", "惠城区江北街道",
      "市民举报江北街道华贸大厦内有校外培训机构在周末违规开展学科类培训。", kind="report"),
    E("garage-flood", 2, Status.DISPATCHED, "惠城区", "惠城区江北街道金碧花园5栋",
      "市民反映金碧花园5栋地下车库积水严重，车辆无法进出，物业抽水不及时。"),
    E("renovation", 1, Status.DISPATCHED, "惠城区", "惠城区江北街道金碧花园3栋",
      "市民反映金碧花园3栋1203房装修，周末早上七点就开始电钻施工，严重影响休息。"),
    E("praise", 3, Status.CLOSED, "惠城区", "",
      "市民来电表扬途经演达大道的一辆公交车司机，捡到其遗落在车上的钱包后主动联系归还，钱包内现金和证件分文未少。",
      kind="praise"),
    E("newborn", 2, Status.CLOSED_FIRST_CONTACT, "惠东县", "",
      "市民咨询新生儿办理户口登记需要准备什么材料。", kind="consultation"),
    E("cancelled", 2, Status.CANCELLED, "惠城区", "惠城区江南街道",
      "市民反映江南街道江滨路段路面塌陷，形成一个大坑，车辆经过很危险。"),
    E("factory-wages", 3, Status.DISPATCHED, "惠阳区", "惠阳区秋长街道叶挺大道",
      "市民反映其在叶挺大道某家具厂工作，老板拖欠两个月工资约九千元，至今未发。", kind="help"),
    E("light-elsewhere", 4, Status.DISPATCHED, "惠城区", "惠城区江北街道云山西路",
      "市民反映云山西路一段路灯已经不亮一个星期，晚上非常黑。"),
    E("tiles", 60, Status.EXTENSION_REQUESTED, "惠城区", "惠城区桥东街道西湖新村2栋",
      "市民反映西湖新村2栋外墙瓷砖脱落，砸坏楼下停放的车辆，担心砸伤行人，要求尽快维修。"),
    E("draft", 0.05, Status.DRAFT, "惠城区", "惠城区江南街道丽日名苑",
      "市民投诉丽日名苑楼下烧烤店油烟直排。"),
)

REPORTS = (
    # A neighbour's paraphrase, or the caller again, about a matter on the books.
    R("惠城区", "惠城区金碧花园3号楼",
      "来电人称金碧花园小区3号楼电梯经常坏，上周还困过人，物业一直拖着不修，家里老人没法下楼。", {"lift"}),
    R("惠城区", "", "市民再次来电，之前反映的电梯故障至今还没有修好，要求加快处理。", {"lift"}, phone=PHONE_A),
    R("惠城区", "惠城区桥东街道翠湖苑9栋",
      "市民反映翠湖苑停水一天多了，一直没有来水，物业说不清楚原因，要求尽快恢复。", {"water-cut"}),
    R("惠城区", "", "市民反映翠湖苑小区从昨天早上开始停水，至今未恢复供水，请尽快恢复供水。", {"water-cut"}),
    R("惠阳区", "惠阳区淡水街道开城大道88号",
      "市民投诉开城大道88号旁边的建筑工地半夜还在打桩，吵得无法入睡。", {"site-noise"}),
    R("博罗县", "博罗县罗阳街道北门路",
      "市民反映北门路靠近博罗大道路口的一段路灯都不亮，晚上黑漆漆的。", {"street-light"}),
    R("惠城区", "惠城区江南街道丽日名苑2栋",
      "市民投诉丽日名苑楼下烧烤店油烟很大，直接排到楼上住户家里。", {"fumes"}),
    R("仲恺高新区", "仲恺高新区陈江街道仲恺大道",
      "市民反映仲恺大道一家电子厂拖欠工人三个月工资，有二十多人没拿到钱。", {"wages"}),
    R("惠阳区", "惠阳区秋长街道叶挺大道阳光新城路段",
      "市民反映叶挺大道阳光新城附近路面坑坑洼洼，一下雨就积水，骑电动车很危险。", {"pothole"}),
    R("惠东县", "惠东县平山街道东江豪庭",
      "市民反映东江豪庭门口的垃圾好几天没人清运，堆得满地都是，很臭。", {"rubbish"}),
    R("惠城区", "", "市民反映演达大道的公交车早上要等很久，经常四十多分钟才来一班，希望增加班次。", {"bus"}),
    R("惠城区", "惠城区麦地路", "市民反映麦地路那家健身房关门跑路了，年卡还有大半年没用完，要求退钱。", {"gym"}),
    R("大亚湾开发区", "大亚湾开发区澳头街道海湾半岛12栋",
      "市民举报海湾半岛12栋楼顶有人搭建铁皮房，施工噪音大，存在安全隐患。", {"rooftop"}),
    R("龙门县", "", "市民反映龙城街道龙门大道附近下午开始停电了，到现在还没来电。", {"power-cut"}),
    R("惠城区", "惠城区河南岸街道凯旋城", "市民反映凯旋城小区消防通道被车辆堵住，物业不处理。", {"fire-lane"}),
    R("惠城区", "", "市民投诉鹅城花园楼道里有人养大狗，不牵绳，孩子很害怕。", {"dog"}),
    R("惠阳区", "", "市民反映人民五路有棵大树倒在马路上，车辆无法通行。", {"tree"}),
    R("仲恺高新区", "仲恺高新区惠环街道和畅五路",
      "市民反映和畅五路有自来水管破裂，水一直往外冒，路面都被淹了。", {"pipe"}),
    R("惠东县", "惠东县平山街道紫薇苑5栋", "市民反映紫薇苑5栋楼道里燃气味很重，担心漏气。", {"gas"}),
    R("惠城区", "", "市民反映三新南路菜市场门口流动摊贩很多，占道经营，早上车都过不去。", {"vendors"}),
    R("惠城区", "惠城区江北街道文昌一路",
      "市民投诉文昌一路有家酒吧天天放音乐到半夜两点，吵得睡不着。", {"bar"}),
    R("惠阳区", "惠阳区秋长街道嘉和豪苑",
      "市民反映嘉和豪苑物业擅自上涨物业费，从1.8元涨到2.5元，没有经过业主大会同意。", {"property-fee"}),
    R("惠城区", "", "市民反映下埔路那个商场的地下停车场每小时收十元，比公示的价格高。", {"parking"}),
    R("惠城区", "", "市民反映水口街道东江边有排污口在排黑水，很臭，还有死鱼。", {"sewage"}),
    R("仲恺高新区", "", "市民反映陈江大道人行道井盖丢了，晚上很危险。", {"manhole"}),
    R("惠阳区", "", "市民反映开城大道一家快餐店的外卖里吃出了钢丝球，商家不肯退款。", {"takeaway"}),
    R("惠城区", "惠城区西湖新村2栋", "市民反映西湖新村2栋外墙瓷砖又掉下来了，之前反映过还没处理。", {"tiles"}),
    R("惠城区", "", "市民来电询问昨晚遗失在出租车上的手机有没有找到。", {"lost-phone"}, phone=PHONE_B),
    R("博罗县", "", "市民反映公司一直没有给其缴纳社保，要求查处。", {"social-insurance"}, citizen="li"),
    R("惠城区", "", "市民举报江北街道一栋写字楼里有培训机构周末给中小学生上数学英语课。", {"tutoring"}),
    R("博罗县", "", "市民反映园洲镇一所民办小学这学期要求每个学生交八百元课后服务费。", {"school-fee"}),
    R("惠城区", "惠城区江北街道金碧花园3栋",
      "市民反映金碧花园3栋有住户装修，每天早上七点多就开始电钻，影响休息。", {"renovation"}),
    # Look-alikes that are not the same matter.
    R("惠城区", "惠城区江北街道翠湖苑6栋",
      "市民反映翠湖苑6栋电梯近一个月多次停运，曾发生困人情况，物业以等待配件为由一直未修，要求尽快修复。"),
    R("惠城区", "惠城区江北街道金碧花园3栋", "市民反映金碧花园3栋楼下的化粪池堵塞，污水外溢，臭味很大。"),
    R("博罗县", "博罗县罗阳街道荔园小区",
      "市民反映荔园小区从昨天开始停水，至今未恢复供水，也没有看到停水通知。"),
    R("惠阳区", "惠阳区淡水街道南门路", "市民投诉南门路一家KTV每晚噪音扰民到凌晨。"),
    R("博罗县", "博罗县龙溪街道兴业大道", "市民反映兴业大道一段路灯不亮，晚上很黑。"),
    R("惠城区", "", "市民咨询办理居住证需要哪些材料。", phone=PHONE_A),
    R("惠城区", "惠城区江南街道滨江花园", "市民投诉滨江花园楼下一家餐馆油烟直排，影响住户开窗。"),
    R("仲恺高新区", "仲恺高新区惠环街道和畅五路", "市民反映和畅五路一家物流公司拖欠两个月工资，老板联系不上。"),
    R("惠阳区", "惠阳区淡水街道金惠大道", "市民反映金惠大道靠近御景湾的路段有坑洞，下雨积水。"),
    R("惠东县", "惠东县平山街道海湾半岛",
      "市民反映海湾半岛小区门口垃圾桶已经三天没有清运，垃圾堆满溢出，臭味很大。"),
    R("惠城区", "", "市民来电表扬演达大道公交车司机服务热情，主动搀扶老人上车。"),
    R("惠城区", "惠城区惠州大道", "市民反映惠州大道一家游泳馆突然停业，储值卡余额无法退还。"),
    R("大亚湾开发区", "大亚湾开发区澳头街道海湾半岛3栋", "市民举报海湾半岛3栋一楼住户扩建院子，侵占公共绿地。"),
    R("惠城区", "惠城区江北街道文昌一路", "市民反映文昌一路一带停电，至今未恢复供电。"),
    R("惠城区", "", "市民咨询住房公积金贷款的额度如何计算。"),
    R("惠东县", "", "市民咨询孩子刚出生，上户口要带哪些材料。"),
    R("惠城区", "惠城区江北街道金碧花园5栋", "市民反映金碧花园5栋电梯坏了，困了人，物业一直不修。"),
    R("博罗县", "博罗县园洲镇", "市民反映园洲镇一条河涌有工厂偷排污水，河水发黑发臭。"),
    R("仲恺高新区", "仲恺高新区陈江街道陈江大道", "市民反映陈江大道有一段路灯不亮。"),
    R("惠阳区", "惠阳区淡水街道人民五路", "市民反映人民五路一家奶茶店的饮料里喝出了虫子。"),
    R("惠阳区", "惠阳区淡水街道南门路", "市民反映南门路有棵树的树枝快断了，随时可能掉下来砸到人。"),
    R("博罗县", "", "市民咨询失业保险金怎么申领。", citizen="li"),
    R("惠城区", "惠城区江南街道", "市民反映江南街道江滨路段路面塌陷，车辆经过很危险。"),
)
# fmt: on


def _query(report: Report, city: dict, citizens: dict) -> DuplicateQuery:
    return DuplicateQuery(
        description=report.description,
        address=report.address,
        district=city[report.district].pk,
        phone=report.phone,
        citizen=citizens[report.citizen].pk if report.citizen else None,
    )


@pytest.fixture
def city(db):
    names = {r.district for r in EXISTING} | {r.district for r in REPORTS}
    return {name: DistrictFactory(code=f"d{i}", name=name) for i, name in enumerate(sorted(names))}


@pytest.fixture
def books(city, operator, supervisor, water_staff):
    """The tickets on the books, each created and walked to its status at its own time."""
    citizens = {"li": actions.citizen_create(name="李四", phones=["13600136000"])}
    now = clock.now()
    main = None
    keys = {}
    for row in EXISTING:
        with clock.at(now - datetime.timedelta(days=row.days_ago)):
            fields = {
                "kind": row.kind,
                "description": row.description,
                "address": row.address,
                "district": city[row.district],
                "caller_number": row.phone,
                "citizen": citizens.get(row.citizen),
            }
            if row.status == Status.DRAFT:
                ticket = actions.ticket_create(actor=operator, register=False, **fields)
            else:
                ticket = actions.ticket_create(actor=operator, **fields)
                ticket = advance(
                    ticket, row.status, hotline=operator, department_user=water_staff, supervisor=supervisor
                )
        keys[ticket.pk] = row.key
        main = main or ticket
    # A merged copy of the water cut: never a candidate (its main ticket is).
    with clock.at(now - datetime.timedelta(hours=20)):
        twin = actions.ticket_create(
            actor=operator,
            kind="complaint",
            description=EXISTING[1].description,
            address=EXISTING[1].address,
            district=city["惠城区"],
        )
        water_cut = next(pk for pk, key in keys.items() if key == "water-cut")
        actions.ticket_merge(twin, actor=operator, into=type(twin).objects.get(pk=water_cut))
    keys[twin.pk] = "water-cut-merged"
    return {"keys": keys, "citizens": citizens}


def test_precision_and_recall_on_the_labelled_set(books, city, operator, capsys):
    keys, citizens = books["keys"], books["citizens"]
    suggested = expected = hits = 0
    misses, wrong = [], []
    for number, report in enumerate(REPORTS):
        found = {keys[s.ticket.pk] for s in duplicates_for_draft(operator, _query(report, city, citizens))}
        suggested += len(found)
        expected += len(report.expect)
        hits += len(found & report.expect)
        misses += [(number, key) for key in report.expect - found]
        wrong += [(number, key) for key in found - report.expect]
    precision = hits / suggested if suggested else 1.0
    recall = hits / expected
    with capsys.disabled():
        print(
            f"\nduplicates on {connection.vendor}: {len(REPORTS)} reports, {len(EXISTING)} tickets on the books, "
            f"{expected} duplicate pairs; suggested {suggested}, right {hits}: "
            f"precision {precision:.2f}, recall {recall:.2f}; missed {misses}; wrong {wrong}"
        )
    assert precision >= MIN_PRECISION, wrong
    assert recall >= MIN_RECALL, misses


def test_a_department_gets_no_suggestions(books, city, water):
    staff = UserFactory(username="water2", role=Role.DEPARTMENT, department=water)
    query = DuplicateQuery(description=REPORTS[0].description, address=REPORTS[0].address, district=city["惠城区"].pk)
    assert duplicates_for_draft(staff, query) == []


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigram narrowing is PostgreSQL's")
def test_the_trigram_indexes_lose_nothing_the_rules_would_take(books, city, operator, monkeypatch):
    """PostgreSQL narrows the candidates by its indexes; scoring every open ticket in Python finds the same."""
    citizens = books["citizens"]

    def found():
        return [
            [s.ticket.pk for s in duplicates_for_draft(operator, _query(report, city, citizens))] for report in REPORTS
        ]

    assert duplicates._trigram_search(connection.alias)
    narrowed = found()
    monkeypatch.setattr(duplicates, "_trigram_search", lambda alias: False)
    assert found() == narrowed
