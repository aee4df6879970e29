"""The demo city (Huizhou): reference data, users, citizens and a month of tickets, loaded idempotently.

The first half is plain data; the second half loads it through the real actions, with
`clock.at()` so every timeline reads as if the month had happened. The module is longer than
the house limit because most of it is seed text; the code part stays small.
"""

import datetime
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple
from zoneinfo import ZoneInfo

from django.contrib.auth.hashers import make_password
from django.db import transaction
from stdnum.cn import ric

from routing.deadlines import DEFAULT_LIMIT_DAYS, add_working_days

from . import actions, clock
from .demo_knowledge import load_articles
from .models import (
    Article,
    Category,
    Citizen,
    Department,
    District,
    Kind,
    Role,
    Satisfaction,
    Status,
    Ticket,
    TimelineEntry,
    User,
)
from .open311.demo import load_open311_demo
from .open311.models import Service as Open311Service
from .pii import pii_hash

SEED = 12345
TICKET_COUNT = 220
CITIZEN_COUNT = 60
DEMO_PASSWORD = "demo12345"  # noqa: S105  (printed on purpose: the demo logins are public)
REF_PREFIX = "demo-"
SHANGHAI = ZoneInfo("Asia/Shanghai")


class DepartmentData(NamedTuple):
    code: str
    name: str
    name_en: str


class DistrictData(NamedTuple):
    code: str
    name: str
    name_en: str
    government: str  # code of the department that handles local matters (属地管理)
    # (first birth year, area code): an ID number carries the area code in force when it was
    # first issued, and the validator checks the code existed in the holder's birth year.
    id_areas: tuple[tuple[int, str], ...]
    streets: tuple[str, ...]
    roads: tuple[str, ...]


class Template(NamedTuple):
    kind: str
    title: str
    description: str  # may use {estate}, {building} and {road}
    answer: str = ""  # the operator's answer, or the reply for praise and suggestions
    department: str = ""  # overrides the leaf's department


class LeafData(NamedTuple):
    code: str
    name: str
    name_en: str
    department: str
    reply: str
    templates: tuple[Template, ...]
    local: bool = False  # may be dispatched to the district government instead
    assist: str = ""  # department that may join as an assisting department (联办)


class RootData(NamedTuple):
    code: str
    name: str
    name_en: str
    leaves: tuple[LeafData, ...]


class DemoLogin(NamedTuple):
    username: str
    password: str
    role: str
    department: str


K = Kind  # short, for the tables below
# Laid out by hand, one record per line or two: the Chinese text reads better unwrapped.
# fmt: off
DEPARTMENTS: tuple[DepartmentData, ...] = (
    DepartmentData("market", "市市场监督管理局", "Market Regulation Administration"),
    DepartmentData("housing", "市住房和城乡建设局", "Housing and Urban-Rural Development Bureau"),
    DepartmentData("transport", "市交通运输局", "Transport Bureau"),
    DepartmentData("ecology", "市生态环境局", "Ecology and Environment Bureau"),
    DepartmentData("urban", "市城市管理和综合执法局", "Urban Management and Law Enforcement Bureau"),
    DepartmentData("hrss", "市人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    DepartmentData("health", "市卫生健康局", "Health Bureau"),
    DepartmentData("education", "市教育局", "Education Bureau"),
    DepartmentData("police", "市公安局", "Public Security Bureau"),
    DepartmentData("natural-resources", "市自然资源局", "Natural Resources Bureau"),
    DepartmentData("civil-affairs", "市民政局", "Civil Affairs Bureau"),
    DepartmentData("medical-insurance", "市医疗保障局", "Medical Security Bureau"),
    DepartmentData("water", "市水务局", "Water Affairs Bureau"),
    DepartmentData("housing-fund", "市住房公积金管理中心", "Housing Provident Fund Management Centre"),
    DepartmentData("gov-services", "市政务服务数据管理局", "Government Services and Data Administration"),
    DepartmentData("fire", "市消防救援支队", "Fire and Rescue Detachment"),
    DepartmentData("power", "惠州供电局", "Huizhou Power Supply Bureau"),
    DepartmentData("gas", "市燃气公司", "City Gas Company"),
    DepartmentData("huicheng", "惠城区人民政府", "Huicheng District Government"),
    DepartmentData("huiyang", "惠阳区人民政府", "Huiyang District Government"),
    DepartmentData("boluo", "博罗县人民政府", "Boluo County Government"),
    DepartmentData("huidong", "惠东县人民政府", "Huidong County Government"),
    DepartmentData("longmen", "龙门县人民政府", "Longmen County Government"),
    DepartmentData("dayawan", "大亚湾开发区管委会", "Daya Bay Development Zone Administrative Committee"),
    DepartmentData("zhongkai", "仲恺高新区管委会", "Zhongkai High-tech Zone Administrative Committee"),
)

# Area codes by first birth year, newest first (see DistrictData.id_areas). Longmen belonged
# to Guangzhou before 1988, so its residents here are born from 1988 on.
_HUICHENG_AREAS = ((1988, "441302"), (0, "442501"))
_HUIYANG_AREAS = ((2003, "441303"), (1994, "441381"), (1988, "441321"), (0, "442521"))
# The two development zones have no national division code of their own; their codes here
# are slugs, and their residents' ID numbers carry the parent district's area code.
DISTRICTS: tuple[DistrictData, ...] = (
    DistrictData("441302", "惠城区", "Huicheng District",
                 "huicheng", _HUICHENG_AREAS,
                 ("江北街道", "桥东街道", "桥西街道", "江南街道", "河南岸街道", "小金口街道", "水口街道"),
                 ("文昌一路", "下埔路", "麦地路", "演达大道", "云山西路", "三新南路", "惠州大道")),
    DistrictData("441303", "惠阳区", "Huiyang District",
                 "huiyang", _HUIYANG_AREAS,
                 ("淡水街道", "秋长街道", "三和街道", "沙田镇", "新圩镇"),
                 ("开城大道", "人民五路", "叶挺大道", "金惠大道", "南门路")),
    DistrictData("441322", "博罗县", "Boluo County",
                 "boluo", ((1988, "441322"), (0, "442526")),
                 ("罗阳街道", "石湾镇", "园洲镇", "龙溪街道", "福田镇"),
                 ("北门路", "博罗大道", "兴业大道", "广和路")),
    DistrictData("441323", "惠东县", "Huidong County",
                 "huidong", ((1988, "441323"), (0, "442528")),
                 ("平山街道", "吉隆镇", "稔山镇", "黄埠镇", "多祝镇"),
                 ("平山大道", "惠东大道", "海滨路", "东湖路")),
    DistrictData("441324", "龙门县", "Longmen County",
                 "longmen", ((1988, "441324"),),
                 ("龙城街道", "永汉镇", "平陵街道", "龙华镇"),
                 ("龙门大道", "城中路", "永汉大道")),
    DistrictData("dayawan", "大亚湾经济技术开发区", "Daya Bay Economic and Technological Development Zone",
                 "dayawan", _HUIYANG_AREAS,
                 ("澳头街道", "西区街道", "霞涌街道"),
                 ("石化大道", "龙山六路", "中兴中路", "澳头大道")),
    DistrictData("zhongkai", "仲恺高新技术产业开发区", "Zhongkai High-tech Industrial Development Zone",
                 "zhongkai", _HUICHENG_AREAS,
                 ("陈江街道", "惠环街道", "沥林镇", "潼湖镇"),
                 ("仲恺大道", "和畅五路", "惠风东二路", "陈江大道")),
)
ESTATES = (
    "金碧花园", "翠湖苑", "东江豪庭", "阳光新城", "江景华庭", "丽日名苑", "荔园小区", "滨江花园",
    "御景湾", "锦绣家园", "海湾半岛", "紫薇苑", "凯旋城", "鹅城花园", "西湖新村", "嘉和豪苑",
)

CATEGORIES: tuple[RootData, ...] = (
    RootData("construction", "城乡建设", "Urban and rural construction", (
        LeafData("property-management", "物业管理", "Property management", "housing",
            reply="经核查，已约谈该小区物业服务企业，责令其限期整改，并由属地街道社区跟踪落实，处理情况已告知市民。",
            templates=(
                Template(K.COMPLAINT, "小区电梯频繁故障，物业拖延维修",
                         "市民反映{estate}{building}栋电梯近一个月多次停运，曾发生困人情况，物业以等待配件为由一直未修，老人上下楼十分困难，要求尽快修复。"),
                Template(K.COMPLAINT, "物业未经业主大会同意上调物业费",
                         "市民反映{estate}物业公司未经业主大会表决，自本月起将物业费由每平方米1.8元上调至2.5元，业主多次沟通无果，请相关部门核查。"),
                Template(K.CONSULTATION, "小区如何成立业主委员会",
                         "市民咨询所住的{estate}交付已满两年，业主想成立业主委员会，需要什么条件、向哪个部门申请。",
                         "已告知市民：成立业主大会和业主委员会须向小区所在街道办事处（乡镇人民政府）提出书面申请，由其指导成立筹备组，具体流程可咨询所属街道办，市民表示清楚。"),
            )),
        LeafData("housing-quality", "房屋质量", "Housing quality", "housing",
            reply="已联系开发建设单位和施工单位现场查看，确认存在渗漏问题，已责成其在保修期内限期维修，住建部门将跟踪维修结果。",
            templates=(
                Template(K.COMPLAINT, "新交楼房屋墙体开裂渗水",
                         "市民反映{estate}{building}栋新交付不到一年，客厅及卧室墙体多处开裂，下雨时外墙渗水，向开发商报修两个月仍未处理。"),
                Template(K.COMPLAINT, "楼顶防水层破损导致顶楼漏水",
                         "市民反映{estate}{building}栋顶楼每逢下雨即漏水，天花板发霉脱落，物业称需动用维修资金，但申请流程迟迟未启动。"),
                Template(K.CONSULTATION, "住宅专项维修资金如何申请使用",
                         "市民咨询{estate}外墙瓷砖脱落，需要动用住宅专项维修资金维修，应如何申请。",
                         "已告知市民：由业主委员会或物业服务企业提出使用方案，经相关业主表决同意后，向住建部门维修资金管理窗口申请划拨，市民表示清楚。"),
            )),
        LeafData("illegal-construction", "违章建筑", "Illegal construction", "urban",
            local=True, assist="natural-resources",
            reply="经执法人员现场核查，该处确属未经规划许可擅自搭建，已下达责令限期拆除通知书，当事人已开始自行拆除，执法部门将跟进复查。",
            templates=(
                Template(K.REPORT, "楼顶违规加建铁皮房",
                         "市民举报{estate}{building}栋顶楼有业主正在搭建铁皮房，已施工多日，存在安全隐患，影响其他业主使用天台。"),
                Template(K.REPORT, "一楼住户扩建侵占公共绿地",
                         "市民举报{estate}一楼住户将院子外扩，砌墙围占公共绿地约二十平方米，请执法部门查处。"),
                Template(K.COMPLAINT, "举报违建后迟迟未处理",
                         "市民反映此前多次举报{road}路边商铺违规搭建雨棚占用人行道，至今未见拆除，要求尽快查处。"),
            )),
        LeafData("unpaid-construction-payments", "拖欠工程款", "Unpaid construction payments", "housing", assist="hrss",
            reply="已约谈建设单位及总承包单位，督促其按合同结算工程款，涉及的农民工工资已通过工资专用账户发放，相关情况已反馈市民。",
            templates=(
                Template(K.HELP, "装修工程完工后总包拖欠工程款",
                         "市民反映其班组承包{road}附近某住宅项目的装修工程，已于三个月前完工验收，总包单位至今拖欠工程款约四十万元，班组二十多名工人的工资无法发放。"),
                Template(K.COMPLAINT, "项目停工拖欠分包工程款",
                         "市民反映{road}旁某厂房建设项目停工已两个月，总包单位拖欠分包工程款，多次催讨无果，请相关部门协调。"),
                Template(K.CONSULTATION, "工程款被拖欠可以向哪里投诉",
                         "市民咨询分包工程款被拖欠，除了起诉之外能否向政府部门投诉。",
                         "已告知市民：涉及农民工工资的可向人社部门劳动保障监察机构投诉；工程款属合同纠纷，可协商、申请仲裁或向人民法院起诉，住建部门可对建设项目进行督促。"),
            )),
    )),
    RootData("market", "市场监管", "Market regulation", (
        LeafData("food-safety", "食品安全", "Food safety", "market",
            reply="执法人员已对该经营单位开展现场检查，对发现的问题责令立即整改，并依法立案调查，相关产品已下架封存。",
            templates=(
                Template(K.COMPLAINT, "外卖饭菜中吃出异物",
                         "市民反映在{road}一家快餐店点的外卖中吃出钢丝球碎屑，商家拒绝退款，要求监管部门查处。"),
                Template(K.REPORT, "超市销售过期食品",
                         "市民举报{estate}附近一家超市货架上有多款过期牛奶和面包仍在销售，已拍照留存。"),
                Template(K.REPORT, "民房内小作坊生产腌制食品",
                         "市民举报{road}旁一处民房内有小作坊生产腌制酸菜，环境脏乱，疑似无证生产并向周边菜市场供货。"),
            )),
        LeafData("consumer-rights", "消费维权", "Consumer rights", "market",
            reply="经市场监管部门组织调解，商家同意为市民办理退款，市民已确认收到退款。",
            templates=(
                Template(K.COMPLAINT, "健身房突然停业无法退卡",
                         "市民反映{road}一家健身房突然关门停业，其去年办理的年卡还剩八个月未使用，联系不上经营者，要求退费。"),
                Template(K.COMPLAINT, "新买空调不制冷商家拒不退换",
                         "市民反映在{road}某电器店购买的空调安装一周即不制冷，商家以安装问题为由拒绝退换。"),
                Template(K.COMPLAINT, "美发店转让后不认储值卡",
                         "市民反映在{estate}附近美发店办理的储值卡尚有余额八百余元，店铺转让后新老板不认卡。"),
            )),
        LeafData("pricing", "价格投诉", "Pricing", "market",
            reply="经核查，该经营者存在未按规定明码标价的行为，已责令改正并依法处理，多收的费用已退还市民。",
            templates=(
                Template(K.COMPLAINT, "停车场收费高于公示标准",
                         "市民反映{road}某商场地下停车场实际按每小时十元收费，高于公示的每小时六元，要求核查。"),
                Template(K.COMPLAINT, "海鲜餐馆未明码标价",
                         "市民反映在{road}附近一家海鲜餐馆就餐，菜品未标价，结账时被收取远高于市场价的费用。"),
                Template(K.CONSULTATION, "小区充电桩服务费有无上限",
                         "市民咨询小区内电动汽车充电桩的服务费有没有收费上限。",
                         "已告知市民：充电服务费实行市场调节价，但经营者须明码标价，如发现价格欺诈或未标价可拨打12345举报。"),
            )),
        LeafData("unlicensed-business", "无证经营", "Unlicensed business", "market", local=True,
            reply="经执法人员现场检查，该经营者未取得营业执照，已责令其停止经营活动，并引导其依法办理相关证照。",
            templates=(
                Template(K.REPORT, "住户在家中开办学生托管班",
                         "市民举报{estate}{building}栋有住户在家中开办学生托管班，收托二十多名小学生，未见任何证照，存在安全隐患。"),
                Template(K.REPORT, "无照店铺销售来历不明的二手电动车",
                         "市民举报{road}路口一家店铺销售来历不明的二手电动车，店内未悬挂营业执照。"),
            )),
    )),
    RootData("transport", "交通运输", "Transport", (
        LeafData("bus-routes", "公交线路", "Bus routes", "transport",
            reply="已责成公交企业加强驾驶员管理，优化高峰时段班次调度，对涉事驾驶员进行批评教育，处理结果已告知市民。",
            templates=(
                Template(K.COMPLAINT, "公交车发车间隔过长",
                         "市民反映途经{road}的公交线路早高峰经常要等候四十分钟以上，远超公示的发车间隔，要求加密班次。"),
                Template(K.SUGGESTION, "建议开通小区至高铁站的公交线路",
                         "市民建议开通{estate}至惠州南站的公交线路，目前小区居民去高铁站需要多次换乘。",
                         "已记录市民建议，交通运输部门将在线网优化时统筹研究，感谢市民的建议。"),
                Template(K.PRAISE, "表扬公交司机拾金不昧",
                         "市民来电表扬途经{road}的一辆公交车司机，捡到其遗落在车上的钱包后主动联系归还，钱包内现金和证件分文未少。",
                         "已记录市民的表扬并转达公交企业，企业将对该驾驶员予以通报表扬。"),
            )),
        LeafData("taxis", "出租车/网约车", "Taxis and ride-hailing", "transport",
            reply="经调取行车记录核实，驾驶员存在绕路多收费的行为，已责成平台公司退还多收费用，并对驾驶员作出处理。",
            templates=(
                Template(K.COMPLAINT, "网约车司机绕路多收费",
                         "市民反映从惠州站乘坐网约车到{estate}，司机故意绕路，车费比平时多出近一倍。"),
                Template(K.COMPLAINT, "出租车司机拒载",
                         "市民反映晚上在{road}路边打车，出租车司机询问目的地后以交班为由拒载。"),
                Template(K.HELP, "乘坐出租车遗失手机",
                         "市民反映昨晚乘坐出租车时将手机遗落在车上，上车地点在{road}，请求帮助联系司机。"),
            )),
        LeafData("road-facilities", "道路设施", "Road facilities", "transport", assist="urban",
            reply="已安排养护单位对该路段进行修补，现已修复完毕，恢复正常通行。",
            templates=(
                Template(K.COMPLAINT, "路面坑洼积水影响通行",
                         "市民反映{road}靠近{estate}的路段路面出现多处坑洞，下雨积水，电动车经过容易摔倒。"),
                Template(K.HELP, "人行道井盖缺失",
                         "市民反映{road}人行道上有一个井盖缺失，夜间行人容易踩空，请尽快处理。"),
                Template(K.SUGGESTION, "建议在学校门口增设人行过街设施",
                         "市民建议在{road}学校门口增设人行天桥或信号灯，上下学时段学生过马路很危险。",
                         "已记录市民建议，将转交通运输部门和交警部门研究。"),
            )),
        LeafData("congestion", "交通拥堵", "Traffic congestion", "police",
            reply="交警部门已对该路口信号灯配时进行优化，并在早晚高峰时段增派警力疏导交通。",
            templates=(
                Template(K.COMPLAINT, "路口左转绿灯时间过短",
                         "市民反映{road}与周边道路交叉口左转绿灯时间过短，早晚高峰车辆排队严重。"),
                Template(K.REPORT, "学校门口家长车辆违停造成拥堵",
                         "市民举报每天放学时段{road}学校门口家长车辆随意停放，占用车道，造成严重拥堵。"),
                Template(K.SUGGESTION, "建议增设潮汐车道",
                         "市民建议在{road}早晚高峰方向明显的路段增设潮汐车道，缓解拥堵。",
                         "已记录市民建议，将转交警部门研究论证。"),
            )),
    )),
    RootData("environment", "生态环境", "Ecology and environment", (
        LeafData("noise", "噪音扰民", "Noise", "ecology",
            reply="执法人员已到现场检查，责令相关单位严格遵守噪声管理规定，夜间十时后停止高噪声作业，并将加强夜间巡查。",
            templates=(
                Template(K.COMPLAINT, "工地夜间施工噪音扰民",
                         "市民反映{estate}旁边的工地每晚施工至凌晨一两点，打桩声和机械声严重影响居民休息。"),
                Template(K.COMPLAINT, "工厂设备噪音昼夜不停",
                         "市民反映{road}旁工业园内一家工厂的设备昼夜运转，低频噪音很大，附近居民无法入睡。"),
                Template(K.COMPLAINT, "广场舞音响声音过大",
                         "市民反映每晚{estate}附近广场跳广场舞，音响声音很大，持续到晚上十点多，影响学生学习和老人休息。",
                         department="police"),
            )),
        LeafData("air-pollution", "大气污染", "Air pollution", "ecology",
            reply="生态环境部门已对该企业开展现场检查，发现其废气处理设施未正常运行，已责令立即整改并立案查处。",
            templates=(
                Template(K.REPORT, "工厂夜间偷排刺鼻废气",
                         "市民举报{road}旁工业园一家工厂夜间排放刺鼻气味的废气，附近居民闻后头晕，门窗不敢打开。"),
                Template(K.COMPLAINT, "混凝土搅拌站粉尘污染",
                         "市民反映{road}附近一处混凝土搅拌站粉尘很大，附近居民家中和车上都是灰尘。"),
                Template(K.REPORT, "空地露天焚烧垃圾",
                         "市民举报{estate}后面空地经常有人露天焚烧垃圾和废旧电线，浓烟很大、气味刺鼻。"),
            )),
        LeafData("water-pollution", "水污染", "Water pollution", "ecology", assist="water",
            reply="经现场排查，已找到污水来源并责令相关单位封堵排污口，生态环境部门将持续监测水质。",
            templates=(
                Template(K.REPORT, "河涌出现黑臭污水",
                         "市民举报{road}附近河涌近日水体发黑发臭，有不明污水从排水口排入。"),
                Template(K.REPORT, "养殖场污水直排入河",
                         "市民举报{road}旁一处养猪场将污水直接排入附近河道，气味难闻。"),
            )),
        LeafData("kitchen-fumes", "油烟", "Kitchen fumes", "urban", local=True, assist="ecology",
            reply="执法人员已现场检查，责令该餐饮店安装油烟净化设施并规范排放，店主已承诺一周内完成整改。",
            templates=(
                Template(K.COMPLAINT, "楼下餐馆油烟直排",
                         "市民反映{estate}{building}栋楼下餐馆的油烟管道直接朝住宅楼排放，油烟熏进家中，无法开窗。"),
                Template(K.COMPLAINT, "夜宵烧烤摊油烟扰民",
                         "市民反映{road}路边烧烤摊每晚经营至凌晨，油烟和噪音严重影响附近居民。"),
            )),
    )),
    RootData("urban", "城市管理", "Urban management", (
        LeafData("street-vending", "占道经营", "Street vending", "urban", local=True,
            reply="城管执法人员已对该路段占道经营行为进行整治，劝离流动摊贩，并将其纳入日常巡查重点。",
            templates=(
                Template(K.COMPLAINT, "流动摊贩占用人行道",
                         "市民反映{road}每天傍晚有大量流动摊贩占用人行道摆卖，行人只能走机动车道，存在安全隐患。"),
                Template(K.COMPLAINT, "商铺跨门经营占道",
                         "市民反映{road}多家商铺将货物摆放到店外人行道上，轮椅和婴儿车无法通过。"),
                Template(K.SUGGESTION, "建议设置规范的便民摊点",
                         "市民建议在{estate}附近设置规范的夜市便民疏导点，既方便居民又不影响交通。",
                         "已记录市民建议，将转城市管理部门和属地政府研究。"),
            )),
        LeafData("rubbish-collection", "垃圾清运", "Rubbish collection", "urban", local=True,
            reply="已督促环卫作业单位对该处垃圾进行清运，并增加清运频次，目前已清理干净。",
            templates=(
                Template(K.COMPLAINT, "垃圾桶满溢多日无人清运",
                         "市民反映{estate}门口的垃圾收集点垃圾桶满溢，已经三天无人清运，气味很大，蚊蝇滋生。"),
                Template(K.REPORT, "空地被倾倒建筑垃圾",
                         "市民举报{road}旁空地夜间被倾倒大量装修建筑垃圾，已堆成小山。"),
                Template(K.CONSULTATION, "大件家具如何处理",
                         "市民咨询家里旧沙发、旧床垫等大件垃圾应如何处理，能否预约上门清运。",
                         "已告知市民：可联系小区物业或社区，投放至指定的大件垃圾临时堆放点，由环卫单位定期清运，部分街道提供预约上门服务。"),
            )),
        LeafData("street-lights", "路灯", "Street lights", "urban",
            reply="路灯维护单位已派人检修，更换了损坏的灯具和线路，路灯已恢复正常照明。",
            templates=(
                Template(K.COMPLAINT, "整段道路路灯不亮",
                         "市民反映{road}约五百米路段的路灯已有一周晚上不亮，夜间出行很不安全。"),
                Template(K.HELP, "路灯杆被撞后严重倾斜",
                         "市民反映{road}靠近公交站的一根路灯杆被车辆撞后严重倾斜，随时可能倒下，请尽快处理。"),
                Template(K.SUGGESTION, "建议在小区后门道路加装路灯",
                         "市民建议在{estate}后门至{road}的小路加装路灯，晚上下班回家路段漆黑。",
                         "已记录市民建议，将转城市管理部门评估。"),
            )),
        LeafData("greenery", "绿化", "Greenery", "urban",
            reply="园林绿化管养单位已对该处树木进行处理，清理了倒伏树木和断枝，消除了安全隐患。",
            templates=(
                Template(K.HELP, "大树倒伏阻断道路",
                         "市民反映{road}一棵大树被大风吹倒，横在路中间，车辆无法通行，请尽快清理。"),
                Template(K.COMPLAINT, "行道树遮挡住户采光",
                         "市民反映{estate}{building}栋旁的行道树长得过高过密，遮挡低层住户采光，蚊虫较多，要求修剪。"),
                Template(K.COMPLAINT, "绿化带杂草丛生无人管理",
                         "市民反映{road}中间绿化带杂草长到半人高，还有人往里面丢垃圾，长期无人管理。"),
            )),
    )),
    RootData("labour", "劳动保障", "Labour and social security", (
        LeafData("unpaid-wages", "拖欠工资", "Unpaid wages", "hrss", assist="housing",
            reply="劳动保障监察机构已约谈用人单位，督促其补发拖欠的工资，市民已确认收到全部工资。",
            templates=(
                Template(K.HELP, "工厂拖欠工人两个月工资",
                         "市民反映其在{road}旁一家电子厂工作，工厂已拖欠包括其在内三十多名工人两个月工资，老板避而不见。"),
                Template(K.COMPLAINT, "离职后公司不结清工资",
                         "市民反映从{road}某餐饮公司离职已一个月，公司以未交接完为由拒绝结清最后一个月工资。"),
                Template(K.HELP, "包工头失联拖欠工资",
                         "市民反映在{estate}工地做工，包工头拖欠工资三万余元后失联，请求帮助追讨。"),
            )),
        LeafData("social-insurance", "社保缴纳", "Social insurance", "hrss",
            reply="经劳动保障监察机构核查，该单位存在未依法为员工缴纳社会保险的情况，已责令限期补缴。",
            templates=(
                Template(K.COMPLAINT, "公司未给员工缴纳社保",
                         "市民反映其在{road}某公司工作一年多，公司一直未为其缴纳社会保险。"),
                Template(K.CONSULTATION, "灵活就业人员如何参加养老保险",
                         "市民咨询自己是个体户，想以灵活就业人员身份参加养老保险，如何办理。",
                         "已告知市民：可通过粤省事、广东政务服务网或到社保经办窗口办理灵活就业人员参保登记，缴费基数可在规定范围内自行选择。"),
                Template(K.CONSULTATION, "外省养老保险如何转入惠州",
                         "市民咨询从外省来惠州工作，原来缴纳的养老保险如何转移到惠州。",
                         "已告知市民：在惠州参保后，可通过国家社会保险公共服务平台或社保经办窗口申请转移接续，无需回原参保地办理。"),
            )),
        LeafData("employment-services", "就业服务", "Employment services", "hrss",
            reply="人社部门已联系市民，为其推送了符合条件的岗位信息和职业技能培训项目。",
            templates=(
                Template(K.CONSULTATION, "失业保险金如何申领",
                         "市民咨询被公司裁员后如何申领失业保险金。",
                         "已告知市民：可通过粤省事小程序或到社保经办机构申领，需满足失业前缴费满一年、非本人意愿中断就业等条件。"),
                Template(K.CONSULTATION, "高校毕业生就业补贴如何申请",
                         "市民咨询今年毕业后在惠州就业，可以申请哪些就业补贴。",
                         "已告知市民：符合条件的高校毕业生可申请基层就业补贴、一次性求职创业补贴等，具体条件可登录当地人社部门网站查询。"),
                Template(K.SUGGESTION, "建议多举办面向中年人的招聘会",
                         "市民建议人社部门多举办面向四五十岁求职者的专场招聘会。",
                         "已记录市民建议，将转人社部门在组织招聘活动时参考。"),
            )),
        LeafData("labour-contracts", "劳动合同", "Labour contracts", "hrss",
            reply="劳动保障监察机构已介入调查，责令用人单位依法与劳动者签订书面劳动合同，并告知市民可就经济补偿申请劳动仲裁。",
            templates=(
                Template(K.COMPLAINT, "入职半年公司不签劳动合同",
                         "市民反映在{road}某物流公司工作半年，公司一直不与其签订书面劳动合同。"),
                Template(K.COMPLAINT, "公司违法解除劳动合同不给补偿",
                         "市民反映在{road}一家工厂工作五年，公司突然以经营调整为由将其辞退，拒绝支付经济补偿。"),
                Template(K.CONSULTATION, "试用期被辞退有没有补偿",
                         "市民咨询在试用期内被公司辞退，能否要求经济补偿。",
                         "已告知市民：用人单位在试用期解除合同须证明劳动者不符合录用条件，否则属违法解除，可向劳动人事争议仲裁委员会申请仲裁。"),
            )),
    )),
    RootData("education", "教育", "Education", (
        LeafData("school-admission", "入学", "School admission", "education",
            reply="教育部门已核实市民子女的入学申请情况，告知其补录学位的安排，市民表示理解。",
            templates=(
                Template(K.CONSULTATION, "随迁子女积分入学需要哪些材料",
                         "市民咨询孩子明年上小学，外来务工人员随迁子女积分入学需要准备哪些材料。",
                         "已告知市民：一般需提供居住证、社保缴费证明、房屋租赁或产权证明等，具体以所在县区教育部门当年公布的积分入学方案为准。"),
                Template(K.COMPLAINT, "学区划分不合理孩子需跨片上学",
                         "市民反映{estate}被划入距离四公里外的学校片区，而小区旁边就有一所小学，要求调整学区划分。"),
                Template(K.CONSULTATION, "小学一年级新生报名时间",
                         "市民咨询今年小学一年级新生网上报名的时间和入口。",
                         "已告知市民：报名时间和入口以所在县区教育局官网及公众号发布的招生公告为准，一般在每年六月前后。"),
            )),
        LeafData("tutoring", "校外培训", "Out-of-school tutoring", "education", assist="market",
            reply="教育部门已联合市场监管部门对该培训机构进行检查，责令其停止违规培训，并督促退还学员费用。",
            templates=(
                Template(K.REPORT, "培训机构以托管名义开展学科类培训",
                         "市民举报{road}某培训机构以托管名义在周末开展语文、数学等学科类培训。"),
                Template(K.COMPLAINT, "培训机构关门拒不退费",
                         "市民反映{road}一家英语培训机构突然停课，其孩子剩余四十节课费用约六千元无法退还。"),
            )),
        LeafData("school-fees", "学校收费", "School fees", "education",
            reply="经核查，该校收取的相关费用不在规定的收费项目内，已责令学校清退，并对学校负责人进行约谈。",
            templates=(
                Template(K.COMPLAINT, "学校强制统一购买教辅资料",
                         "市民反映孩子所在学校要求每名学生统一购买教辅资料，每学期三百多元，家长不能自行选择。"),
                Template(K.REPORT, "幼儿园巧立名目收费",
                         "市民举报{estate}附近一所幼儿园在保教费之外另收兴趣班费和资料费，未经公示。"),
                Template(K.CONSULTATION, "民办学校学费标准在哪里查询",
                         "市民咨询民办学校的学费标准是否需要备案公示，在哪里可以查询。",
                         "已告知市民：民办学校收费须按规定公示，可在学校公示栏、官网或教育部门网站查询，如有疑问可向教育部门反映。"),
            )),
    )),
    RootData("health", "卫生健康", "Health", (
        LeafData("medical-service", "医疗服务", "Medical services", "health",
            reply="卫生健康部门已责成医院调查核实，对相关医务人员进行批评教育，并督促医院优化预约和就诊流程。",
            templates=(
                Template(K.COMPLAINT, "医院门诊排队时间过长",
                         "市民反映带孩子到{road}附近一家医院看儿科，挂号后等了四个多小时才就诊，要求增加医生。"),
                Template(K.COMPLAINT, "社区卫生服务中心医生态度差",
                         "市民反映在{road}社区卫生服务中心就诊时，医生态度冷淡，问诊不到一分钟就开药。"),
                Template(K.PRAISE, "感谢医院急诊科医护人员",
                         "市民来电表扬一家医院急诊科医护人员，其父亲夜间突发心梗，医护人员迅速抢救，转危为安。",
                         "已记录市民的表扬并转达卫生健康部门和该院急诊科。"),
            )),
        LeafData("vaccination", "疫苗接种", "Vaccination", "health",
            reply="卫生健康部门已协调接种门诊增加接种号源，并告知市民预约方式。",
            templates=(
                Template(K.CONSULTATION, "新生儿疫苗在哪里接种",
                         "市民咨询宝宝刚出生，后续疫苗应到哪里接种、如何预约。",
                         "已告知市民：可到居住地所属社区卫生服务中心的预防接种门诊建档，通过粤苗小程序预约接种。"),
                Template(K.COMPLAINT, "接种门诊预约号源紧张",
                         "市民反映{road}附近接种门诊的预约号一放出就约满，孩子的疫苗已经推迟两周。"),
                Template(K.CONSULTATION, "成人HPV疫苗如何预约",
                         "市民咨询成年女性接种HPV疫苗的预约方式和费用。",
                         "已告知市民：可通过粤苗小程序查询附近接种点并预约，费用以接种点公示为准。"),
            )),
        LeafData("medical-disputes", "医患纠纷", "Doctor-patient disputes", "health",
            reply="卫生健康部门已组织医患双方沟通，并告知市民可通过医疗纠纷人民调解委员会调解或申请医疗损害鉴定。",
            templates=(
                Template(K.COMPLAINT, "手术后出现并发症要求医院说明",
                         "市民反映其母亲在医院做完手术后出现感染，医院对原因含糊其辞，要求相关部门介入。"),
                Template(K.HELP, "与医院就治疗费用发生纠纷",
                         "市民反映对家人住院期间的多项检查费用有异议，与医院协商无果，请求帮助调解。"),
            )),
        LeafData("medical-insurance", "医保报销", "Medical insurance reimbursement", "medical-insurance",
            reply="医保部门已核实市民的报销材料，补办了应报销的费用，并向其解释了异地就医备案政策。",
            templates=(
                Template(K.CONSULTATION, "异地就医如何备案",
                         "市民咨询要到广州住院治疗，医保异地就医备案如何办理。",
                         "已告知市民：可通过国家医保服务平台App或粤医保小程序办理异地就医备案，备案后住院费用可直接结算。"),
                Template(K.COMPLAINT, "医保报销材料提交后迟迟未到账",
                         "市民反映两个月前提交的住院医疗费用报销材料至今未到账，查询也没有进度。"),
                Template(K.CONSULTATION, "新生儿如何参加医保",
                         "市民咨询孩子刚出生，如何给新生儿办理城乡居民医保。",
                         "已告知市民：可在孩子出生后凭出生医学证明通过粤医保或到医保经办窗口办理参保，出生九十天内参保的费用可追溯报销。"),
            )),
    )),
    RootData("utilities", "水电气", "Water, power and gas", (
        LeafData("water-cut", "停水", "Water cut", "water",
            reply="供水企业已完成管道抢修，已恢复正常供水，并将提前公告今后的计划停水。",
            templates=(
                Template(K.HELP, "小区突然停水未提前通知",
                         "市民反映{estate}从今天早上开始停水，事先没有任何通知，家中老人小孩用水困难，询问何时恢复。"),
                Template(K.COMPLAINT, "高层住户水压过低",
                         "市民反映{estate}{building}栋十五楼以上住户每天早晚用水高峰水压很低，热水器无法启动。"),
                Template(K.HELP, "路面水管爆裂大量漏水",
                         "市民反映{road}路面水管爆裂，大量自来水涌出，路面积水严重，请尽快派人抢修。"),
                Template(K.PRAISE, "表扬供水抢修人员连夜抢修",
                         "市民来电表扬供水抢修人员，{estate}附近水管爆裂后抢修队连夜施工，第二天早上就恢复了供水。",
                         "已记录市民的表扬并转达供水企业。"),
            )),
        LeafData("power-cut", "停电", "Power cut", "power",
            reply="供电部门已派抢修人员到场处理，更换了故障线路设备，已恢复供电。",
            templates=(
                Template(K.HELP, "片区突然停电",
                         "市民反映{estate}及周边片区突然停电，已经两个多小时，家中有老人需要用电，询问何时恢复。"),
                Template(K.COMPLAINT, "频繁停电影响生产经营",
                         "市民反映其在{road}经营的小工厂近一个月停电四次，事先没有通知，造成较大损失。"),
                Template(K.REPORT, "电线杆倾斜电线低垂",
                         "市民报告{road}一根电线杆倾斜，电线低垂离地面不到两米，存在触电危险。"),
            )),
        LeafData("gas", "燃气", "Gas", "gas",
            reply="燃气公司已安排人员上门检查，完成故障处理和安全检测，恢复正常供气。",
            templates=(
                Template(K.HELP, "楼道内闻到燃气味",
                         "市民反映{estate}{building}栋楼道内闻到明显燃气味，担心泄漏，请求燃气公司尽快派人检查。"),
                Template(K.COMPLAINT, "管道燃气开户安装费用过高",
                         "市民反映{estate}管道燃气开户安装收费三千多元，认为收费过高，要求公开收费依据。"),
                Template(K.CONSULTATION, "燃气费如何缴纳",
                         "市民咨询管道燃气的燃气费可以通过哪些方式缴纳。",
                         "已告知市民：可通过燃气公司公众号、支付宝或微信生活缴费以及营业厅缴纳燃气费。"),
            )),
        LeafData("utility-bills", "水费电费", "Water and power bills", "water",
            reply="经核查，市民家中的表具读数存在抄表误差，已重新核算费用并退还多收部分。",
            templates=(
                Template(K.COMPLAINT, "水费突然比平时高出几倍",
                         "市民反映{estate}{building}栋家中本月水费四百多元，是平时的四倍，家中并无漏水，怀疑水表故障。"),
                Template(K.CONSULTATION, "阶梯电价如何计算",
                         "市民咨询居民阶梯电价的分档标准和计算方法。",
                         "已告知市民：居民用电按月用电量分三档计价，具体分档电量和价格可通过南方电网App或营业厅查询。",
                         department="power"),
                Template(K.COMPLAINT, "电费异常偏高",
                         "市民反映{estate}家中本月电费比上月高出一倍，家中用电情况没有变化，要求核查电表。",
                         department="power"),
            )),
    )),
    RootData("public-safety", "公共安全", "Public safety (non-emergency)", (
        LeafData("public-order-hazards", "治安隐患", "Public order hazards", "police", local=True,
            reply="属地派出所已加强该区域的巡逻防控，并联合社区排查整改相关隐患。",
            templates=(
                Template(K.REPORT, "出租屋疑似有人聚众赌博",
                         "市民举报{estate}{building}栋某出租屋内经常有陌生人出入，深夜喧哗，疑似聚众赌博。"),
                Template(K.COMPLAINT, "小区门禁损坏外来人员随意进出",
                         "市民反映{estate}门禁系统损坏一个多月，外来人员随意进出，近期已发生多起电动车被盗。"),
                Template(K.PRAISE, "表扬派出所民警帮助寻回走失老人",
                         "市民来电表扬{road}派出所民警，其患有阿尔茨海默病的父亲走失后，民警连夜调取监控帮助找回。",
                         "已记录市民的表扬并转达公安部门。"),
            )),
        LeafData("fire-lanes", "消防通道", "Fire lanes", "fire",
            reply="消防救援部门已到现场检查，责令物业清理占用消防通道的车辆和杂物，并设置禁停标识和隔离设施。",
            templates=(
                Template(K.REPORT, "小区消防通道被车辆长期占用",
                         "市民举报{estate}的消防通道长期停满私家车，物业不管，一旦发生火灾消防车无法进入。"),
                Template(K.REPORT, "楼道内给电动车充电",
                         "市民举报{estate}{building}栋有住户把电动车推进楼道充电，还堆放纸箱杂物，存在火灾隐患。"),
                Template(K.COMPLAINT, "商场安全出口被锁闭",
                         "市民反映{road}某商场营业期间多个安全出口被铁链锁闭，存在严重安全隐患。"),
            )),
    )),
    RootData("policy", "政策咨询", "Policy enquiries", (
        LeafData("household-registration", "户籍", "Household registration", "police",
            reply="公安户政部门已联系市民，告知其所需材料并预约了窗口办理时间。",
            templates=(
                Template(K.CONSULTATION, "新生儿如何办理入户",
                         "市民咨询孩子出生后如何在惠州办理户口登记，需要哪些材料。",
                         "已告知市民：持出生医学证明、父母户口簿和身份证、结婚证到父亲或母亲户口所在地派出所办理，也可通过粤省事预约。"),
                Template(K.CONSULTATION, "人才引进入户条件",
                         "市民咨询本科学历在惠州工作，能否办理人才引进入户。",
                         "已告知市民：具有全日制大专以上学历并在惠州就业的可申请人才入户，具体条件和材料可咨询户籍所在地派出所。"),
                Template(K.COMPLAINT, "户籍窗口办事排队太久",
                         "市民反映到{road}派出所户籍窗口办理业务，只开一个窗口，排队两个多小时。"),
            )),
        LeafData("housing-fund", "公积金", "Housing provident fund", "housing-fund",
            reply="公积金中心已核实市民的业务办理情况，资料齐全后已为其办结，并告知后续可通过线上渠道办理。",
            templates=(
                Template(K.CONSULTATION, "租房提取公积金需要什么材料",
                         "市民咨询在惠州租房，每月能否提取住房公积金付房租，需要什么材料。",
                         "已告知市民：无自有住房的职工可按规定提取公积金支付房租，可通过公积金中心网上服务大厅或粤省事申请。"),
                Template(K.CONSULTATION, "公积金贷款额度如何计算",
                         "市民咨询购买首套房时公积金贷款的最高额度和计算方法。",
                         "已告知市民：贷款额度与缴存余额、缴存时间和还款能力相关，并设有最高限额，可通过公积金中心官网试算。"),
                Template(K.COMPLAINT, "单位未给员工缴存公积金",
                         "市民反映在{road}某公司工作两年，公司一直没有为员工缴存住房公积金。"),
            )),
        LeafData("licences", "证照办理", "Licences and certificates", "gov-services",
            reply="政务服务部门已核查相关办件进度，督促窗口加快办理，并告知市民可通过线上渠道查询办理进度。",
            templates=(
                Template(K.CONSULTATION, "个体工商户营业执照如何办理",
                         "市民咨询想在{road}开一家小吃店，个体工商户营业执照如何办理。",
                         "已告知市民：可通过广东政务服务网或到政务服务中心市场主体登记窗口办理，一般材料齐全即可当场或一个工作日内办结。"),
                Template(K.COMPLAINT, "政务服务中心窗口办事效率低",
                         "市民反映在政务服务中心办理业务时，窗口工作人员要求反复补交材料，跑了三次还没办成。"),
                Template(K.PRAISE, "表扬政务服务中心窗口工作人员",
                         "市民来电表扬政务服务中心窗口工作人员，午休时间仍耐心为其办完业务，并主动告知后续注意事项。",
                         "已记录市民的表扬并转达政务服务部门。"),
            )),
        LeafData("social-assistance", "低保救助", "Social assistance", "civil-affairs", local=True,
            reply="民政部门已联系属地街道对市民家庭情况进行入户核查，符合条件的将依规纳入救助范围。",
            templates=(
                Template(K.CONSULTATION, "如何申请最低生活保障",
                         "市民咨询家庭收入低，如何申请最低生活保障。",
                         "已告知市民：可向户籍所在地街道办事处（乡镇人民政府）提出申请，经入户调查、公示后审批，也可通过粤省事在线申请。"),
                Template(K.HELP, "独居老人生活困难需要帮助",
                         "市民反映{estate}有一位八十多岁的独居老人，行动不便、生活困难，希望相关部门给予帮助。"),
                Template(K.CONSULTATION, "高龄津贴如何申请",
                         "市民咨询家中老人已满八十岁，如何申请高龄津贴。",
                         "已告知市民：可携带老人身份证、户口簿到户籍所在地社区居委会或村委会申请，也可通过粤省事办理。"),
            )),
        LeafData("property-registration", "不动产登记", "Real estate registration", "natural-resources",
            reply="不动产登记部门已核查该项目的办证进度，督促开发企业补齐首次登记资料，预计近期可为业主办理不动产权证书。",
            templates=(
                Template(K.COMPLAINT, "交楼多年办不了房产证",
                         "市民反映{estate}已交楼三年，至今无法办理不动产权证书，影响孩子入学和房屋交易。"),
                Template(K.CONSULTATION, "二手房过户需要什么材料",
                         "市民咨询购买二手房办理过户登记需要准备哪些材料。",
                         "已告知市民：一般需买卖双方身份证明、不动产权证书、买卖合同和完税证明等，可通过惠州不动产登记网上预约办理。"),
            )),
    )),
)
# fmt: on
# Share of tickets by district, roughly by population.
DISTRICT_WEIGHTS = {"441302": 30, "441303": 16, "441322": 17, "441323": 12, "441324": 5, "dayawan": 8, "zhongkai": 12}
DISTRICTS_BY_CODE = {d.code: d for d in DISTRICTS}


# Hotline staff: (username, name, role, phone extension).
HOTLINE_STAFF: tuple[tuple[str, str, str, str], ...] = (
    ("admin", "系统管理员", Role.ADMIN, ""),
    ("banzhang", "陈志强", Role.SUPERVISOR, "8000"),
    ("huawu1", "叶晓婷", Role.OPERATOR, "8001"),
    ("huawu2", "钟嘉欣", Role.OPERATOR, "8002"),
    ("huawu3", "赖俊杰", Role.OPERATOR, "8003"),
)
DEMO_LOGINS: tuple[DemoLogin, ...] = (
    *(DemoLogin(username, DEMO_PASSWORD, str(role), "") for username, _name, role, _ext in HOTLINE_STAFF),
    *(DemoLogin(d.code, DEMO_PASSWORD, str(Role.DEPARTMENT), d.name) for d in DEPARTMENTS),
)

SURNAMES = "陈李黄张刘叶林钟曾杨何罗赖邓吴周徐谢郑彭梁朱王廖"
GIVEN = "伟芳敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华建文辉玲婷海志红国俊燕斌晓雪宇浩欣佳嘉雯思泽锦荣"
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155")
MOBILE_PREFIXES += ("157", "158", "159", "180", "181", "182", "186", "187", "188", "189")

CANCEL_REASONS = (
    "市民来电表示问题已自行解决，撤回诉求。",
    "市民表示已与对方协商解决，申请撤销工单。",
    "登记信息有误，市民要求撤销后重新反映。",
)
RETURN_REASON = "经核实，该诉求不属于本单位职责范围，建议转{department}办理。"
EXTENSION_REASONS = (
    "需协调多个部门现场联合勘查，申请延期办理。",
    "涉及历史遗留问题，需调取档案核实，申请延期。",
    "需等待第三方检测机构出具报告，申请延期。",
)
APPROVE_NOTE = "同意延期，请在延期时限内办结并答复市民。"
DENY_NOTE = "诉求事实清楚、处理难度不大，不同意延期，请按原时限办结。"
REOPEN_NOTES = (
    "回访时市民表示问题未得到实际解决，要求重新处理。",
    "回访时市民表示部门未与其联系，对答复不认可。",
    "回访时市民表示整改后问题反弹，要求再次处理。",
)
CLOSE_NOTES = {
    Satisfaction.SATISFIED: "回访市民，市民对处理结果表示满意。",
    Satisfaction.BASICALLY: "回访市民，市民表示基本满意。",
}
REPLY_AGAIN = "重办情况：已再次组织人员现场核查并督促落实。"
DEFAULT_ANSWER = "已向市民解释相关政策和办理渠道，市民表示清楚。"

# How many tickets end in each status (scaled to the requested count).
STATUS_SHARE: dict[str, int] = {
    Status.CLOSED: 62,
    Status.CLOSED_FIRST_CONTACT: 34,
    Status.REPLIED: 18,
    Status.ACCEPTED: 22,
    Status.DISPATCHED: 22,
    Status.EXTENSION_REQUESTED: 8,
    Status.RETURNED: 8,
    Status.REOPENED: 8,
    Status.REGISTERED: 12,
    Status.DRAFT: 6,
    Status.MERGED: 10,
    Status.CANCELLED: 10,
}
CHANNEL_WEIGHTS = {"phone": 55, "web": 14, "app": 16, "open311": 8, "walk_in": 7}
# The kinds a ticket ending in a status may have; absent statuses take any kind.
STATUS_KINDS: dict[str, tuple[str, ...]] = {
    Status.CLOSED_FIRST_CONTACT: (K.CONSULTATION, K.SUGGESTION, K.PRAISE),
    Status.RETURNED: (K.COMPLAINT, K.HELP, K.REPORT),
    Status.EXTENSION_REQUESTED: (K.COMPLAINT, K.REPORT),
    Status.REOPENED: (K.COMPLAINT, K.HELP, K.REPORT),
    Status.MERGED: (K.COMPLAINT, K.HELP, K.REPORT),
}
# Age of a ticket's first step, in days, by final status: open tickets are mostly recent.
STATUS_AGE: dict[str, tuple[float, float]] = {
    Status.DRAFT: (0.004, 0.05),
    Status.REGISTERED: (0.02, 1.5),
    Status.DISPATCHED: (0.05, 1),
    Status.ACCEPTED: (0.3, 2.5),
    Status.EXTENSION_REQUESTED: (2, 5),
    Status.RETURNED: (0.3, 3),
    Status.REPLIED: (1.5, 6),
    Status.REOPENED: (3, 8),
    Status.CLOSED: (4, 30),
}
KNOWLEDGE_AGE = datetime.timedelta(days=60)
OVERDUE_AGE = (7.0, 20.0)  # every fifth dispatched or accepted ticket is this old, so overdue
URGENT_LEAVES = frozenset({"water-cut", "power-cut", "gas", "street-lights", "greenery", "road-facilities"})


# ---------------------------------------------------------------------------------------------
# Loading


@dataclass
class DemoSummary:
    """What a load created, and how many rows of each kind exist afterwards."""

    created: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)


class _Step(NamedTuple):
    action: str
    delay: datetime.timedelta
    office: bool  # done by a department or during callbacks: moved into office hours
    jitter: datetime.timedelta  # when moved to the next working day: how long after opening


@dataclass
class _Plan:
    ref: str
    status: str
    leaf: LeafData
    template: Template
    channel: str
    urgent: bool
    district: DistrictData
    address: str
    description: str
    citizen: int | None
    caller: str
    department: str
    wrong_department: str
    assisting: str
    operator: int
    variant: int  # picks the wording of reasons and notes
    age: datetime.timedelta
    daytime: datetime.timedelta  # when an older ticket came in, after 8:00
    steps: list[_Step]
    satisfaction: str
    merge_into: str = ""
    merge_offset: datetime.timedelta = datetime.timedelta(0)
    times: list[datetime.datetime] = field(default_factory=list)


@dataclass
class _World:
    """Everything the ticket steps need, loaded once."""

    departments: dict[str, Department]
    districts: dict[str, District]
    categories: dict[str, Category]
    operators: list[User]
    supervisor: User
    staff: dict[str, User]
    citizens: list[Citizen]
    articles: dict[str, Article]  # knowledge base, by title: a consultation with the same title uses it


def load_demo(
    *,
    seed: int = SEED,
    tickets: int = TICKET_COUNT,
    citizens: int = CITIZEN_COUNT,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Load the demo city; rows that already exist (by code, username, ID number, ref) are kept.

    Tickets are walked through the real actions under `clock.at()`, so their timelines and
    deadlines read as if the last month had happened; their events go to the outbox as usual.
    """
    say = progress or (lambda message: None)
    summary = DemoSummary()
    rng = random.Random(seed)
    now = clock.now()
    with transaction.atomic():
        departments = _load_departments(summary)
        districts = _load_districts(summary)
        categories = _load_categories(summary)
        say(f"departments {len(departments)}, districts {len(districts)}, categories {len(categories)}")
        operators, supervisor, staff = _load_users(summary, departments)
        say(f"users {len(HOTLINE_STAFF) + len(staff)}")
        people = _load_citizens(summary, rng, districts, count=citizens, now=now)
        say(f"citizens {len(people)}")
        with clock.at(now - KNOWLEDGE_AGE):  # written before the month of tickets that use them
            articles, summary.created["articles"] = load_articles(categories, supervisor)
        say(f"knowledge articles {len(articles)}")
        summary.created["open311 services"] = load_open311_demo(categories)
        world = _World(departments, districts, categories, operators, supervisor, staff, people, articles)
        homes = [_district_code(districts, person.district_id) for person in people]
        plans = _plan_tickets(rng, count=tickets, homes=homes)
        _load_tickets(summary, world, plans, now=now, say=say)
    summary.totals = {
        "departments": Department.objects.count(),
        "districts": District.objects.count(),
        "categories": Category.objects.count(),
        "users": User.objects.count(),
        "citizens": Citizen.objects.count(),
        "tickets": Ticket.objects.count(),
        "timeline entries": TimelineEntry.objects.count(),
        "articles": Article.objects.count(),
        "open311 services": Open311Service.objects.count(),
    }
    return summary


def _count(summary: DemoSummary, name: str, created: bool) -> None:
    summary.created[name] = summary.created.get(name, 0) + int(created)


def _load_departments(summary: DemoSummary) -> dict[str, Department]:
    result = {}
    for data in DEPARTMENTS:
        result[data.code], created = Department.objects.get_or_create(
            code=data.code, defaults={"name": data.name, "name_en": data.name_en}
        )
        _count(summary, "departments", created)
    return result


def _load_districts(summary: DemoSummary) -> dict[str, District]:
    result = {}
    for data in DISTRICTS:
        result[data.code], created = District.objects.get_or_create(
            code=data.code, defaults={"name": data.name, "name_en": data.name_en}
        )
        _count(summary, "districts", created)
    return result


def _load_categories(summary: DemoSummary) -> dict[str, Category]:
    result = {}
    for root_sort, root in enumerate(CATEGORIES, start=1):
        parent, created = Category.objects.get_or_create(
            code=root.code, defaults={"name": root.name, "name_en": root.name_en, "sort": root_sort}
        )
        _count(summary, "categories", created)
        result[root.code] = parent
        for sort, leaf in enumerate(root.leaves, start=1):
            result[leaf.code], created = Category.objects.get_or_create(
                code=leaf.code, defaults={"parent": parent, "name": leaf.name, "name_en": leaf.name_en, "sort": sort}
            )
            _count(summary, "categories", created)
    return result


def _load_users(summary: DemoSummary, departments: dict[str, Department]) -> tuple[list[User], User, dict[str, User]]:
    # One hash for every demo user: PBKDF2 is slow by design, and they share the password.
    password = make_password(DEMO_PASSWORD)
    names = random.Random(SEED)
    hotline: dict[str, User] = {}
    for username, name, role, extension in HOTLINE_STAFF:
        is_admin = role == Role.ADMIN
        defaults = {"first_name": name, "role": role, "extension": extension, "password": password}
        defaults.update(is_staff=is_admin, is_superuser=is_admin)
        hotline[username], created = User.objects.get_or_create(username=username, defaults=defaults)
        _count(summary, "users", created)
    staff = {}
    for data in DEPARTMENTS:
        defaults = {"first_name": _person_name(names), "role": Role.DEPARTMENT, "password": password}
        staff[data.code], created = User.objects.get_or_create(
            username=data.code, defaults={**defaults, "department": departments[data.code]}
        )
        _count(summary, "users", created)
    operators = [user for user in hotline.values() if user.role == Role.OPERATOR]
    return operators, hotline["banzhang"], staff


def _person_name(rng: random.Random) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(SURNAMES) + given


def _mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def demo_id_number(rng: random.Random, district: DistrictData) -> str:
    """A checksum-valid resident ID number of someone registered in `district`."""
    year = rng.randint(1955, 2004)
    eras = district.id_areas
    area = next((code for since, code in eras if year >= since), None)
    if area is None:  # too old for any code of this district: make them younger
        year, area = eras[-1]
        year += rng.randint(0, 15)
    birth = datetime.date(year, 1, 1) + datetime.timedelta(days=rng.randrange(365))
    body = f"{area}{birth:%Y%m%d}{rng.randrange(1, 1000):03d}"
    return body + ric.calc_check_digit(body + "0")


def _load_citizens(
    summary: DemoSummary, rng: random.Random, districts: dict[str, District], *, count: int, now: datetime.datetime
) -> list[Citizen]:
    result = []
    for _ in range(count):
        data = rng.choices(DISTRICTS, weights=[DISTRICT_WEIGHTS[d.code] for d in DISTRICTS])[0]
        name = _person_name(rng)
        number = demo_id_number(rng, data)
        phones = [_mobile(rng) for _ in range(rng.choice((1, 1, 1, 2)))]
        address = (
            f"{data.name}{rng.choice(data.streets)}{rng.choice(ESTATES)}{rng.randint(1, 28)}栋{rng.randint(1, 4)}单元"
        )
        registered = now - datetime.timedelta(days=rng.uniform(40, 400))
        citizen = Citizen.objects.filter(id_hash=pii_hash(number)).first()
        _count(summary, "citizens", citizen is None)
        if citizen is None:
            with clock.at(registered):
                citizen = actions.citizen_create(
                    name=name, id_number=number, phones=phones, address=address, district=districts[data.code]
                )
        result.append(citizen)
    return result


def _leaves() -> list[LeafData]:
    return [leaf for root in CATEGORIES for leaf in root.leaves]


def _status_list(rng: random.Random, count: int) -> list[str]:
    total = sum(STATUS_SHARE.values())
    statuses = [s for s, share in STATUS_SHARE.items() for _ in range(max(1, round(share * count / total)))]
    statuses += [Status.CLOSED] * (count - len(statuses))
    rng.shuffle(statuses)
    statuses = statuses[:count]
    # Merged tickets point at earlier ones: put them last so their main tickets exist.
    return [s for s in statuses if s != Status.MERGED] + [s for s in statuses if s == Status.MERGED]


def _district_code(districts: dict[str, District], pk: int | None) -> str | None:
    return next((code for code, district in districts.items() if district.pk == pk), None)


def _plan_tickets(rng: random.Random, *, count: int, homes: list[str | None]) -> list[_Plan]:
    """Decide every ticket's content, people, path and timing; `homes` are the citizens' districts."""
    templates = [(leaf, template) for leaf in _leaves() for template in leaf.templates]
    plans: list[_Plan] = []
    seen: dict[str, int] = {}
    for index, status in enumerate(_status_list(rng, count), start=1):
        kinds = STATUS_KINDS.get(status)
        leaf, template = rng.choice([(lf, t) for lf, t in templates if kinds is None or t.kind in kinds])
        seen[status] = seen.get(status, 0) + 1
        plan = _plan_one(rng, f"{REF_PREFIX}{index:04d}", status, leaf, template, homes)
        if status in (Status.DISPATCHED, Status.ACCEPTED) and seen[status] % 5 == 1:
            plan.age = datetime.timedelta(days=rng.uniform(*OVERDUE_AGE))
        if status == Status.MERGED:
            _make_duplicate(rng, plan, plans)
        plans.append(plan)
    return plans


def _plan_one(
    rng: random.Random, ref: str, status: str, leaf: LeafData, template: Template, homes: list[str | None]
) -> _Plan:
    citizen = rng.randrange(len(homes)) if homes and rng.random() < 0.75 else None
    home = homes[citizen] if citizen is not None else None
    if home and rng.random() < 0.7:  # people mostly report what happens near home
        district = DISTRICTS_BY_CODE[home]
    else:
        district = rng.choices(DISTRICTS, weights=[DISTRICT_WEIGHTS[d.code] for d in DISTRICTS])[0]
    estate, road, building = rng.choice(ESTATES), rng.choice(district.roads), rng.randint(1, 28)
    street = rng.choice(district.streets)
    on_road = "{road}" in template.description and "{estate}" not in template.description
    place = f"{road}{rng.randint(1, 300)}号" if on_road else f"{estate}{building}栋"
    channel = rng.choices(list(CHANNEL_WEIGHTS), weights=list(CHANNEL_WEIGHTS.values()))[0]
    if status == Status.DRAFT:
        channel = rng.choice(("phone", "phone", "web"))
    caller = _mobile(rng) if citizen is None and channel == "phone" and rng.random() < 0.6 else ""
    department = template.department or leaf.department
    if leaf.local and rng.random() < 0.5:
        department = district.government
    urgent = template.kind in (K.HELP, K.REPORT) and leaf.code in URGENT_LEAVES and rng.random() < 0.6
    plan = _Plan(
        ref=ref,
        status=status,
        leaf=leaf,
        template=template,
        channel=channel,
        urgent=urgent,
        district=district,
        address=f"{district.name}{street}{place}",
        description=template.description.format(estate=estate, building=building, road=road),
        citizen=citizen,
        caller=caller,
        department=department,
        wrong_department=leaf.assist if leaf.assist and leaf.assist != department else _wrong(department),
        assisting=leaf.assist if leaf.assist and template.kind != K.PRAISE and rng.random() < 0.3 else "",
        operator=rng.randrange(1000),
        variant=rng.randrange(1000),
        age=datetime.timedelta(0),
        daytime=datetime.timedelta(minutes=rng.uniform(0, 13 * 60)),
        steps=[],
        satisfaction=rng.choice((Satisfaction.SATISFIED,) * 3 + (Satisfaction.BASICALLY,)),
    )
    path = _path(rng, status)
    if "request_extension" in path:
        plan.urgent = False
    plan.age = _age(rng, status, template.kind, plan.urgent)
    plan.steps = [_step(rng, action, plan) for action in _intake(plan) + path]
    return plan


def _age(rng: random.Random, status: str, kind: str, urgent: bool) -> datetime.timedelta:
    """How long ago a ticket ending in `status` came in; tickets a department holds are mostly within their limit."""
    low, high = STATUS_AGE.get(status, (0.1, 30))
    if status in (Status.DISPATCHED, Status.ACCEPTED):
        high = 0.06 if urgent else 0.9 * DEFAULT_LIMIT_DAYS.get(kind, 5)
        low = min(low, high / 2)
    return datetime.timedelta(days=rng.uniform(low, high))


def _wrong(department: str) -> str:
    """A department a dispatcher could plausibly mistake for `department`."""
    return "housing" if department == "urban" else "urban"


def _intake(plan: _Plan) -> list[str]:
    """Phone calls and online submissions start as drafts; walk-ins are written up directly."""
    if plan.status == Status.DRAFT:
        return ["draft"]
    return ["create"] if plan.channel == "walk_in" else ["draft", "register"]


def _path(rng: random.Random, status: str) -> list[str]:
    """The actions after intake that lead to `status`, with some detours real tickets take."""
    dispatched = ["dispatch"]
    if status in (Status.CLOSED, Status.ACCEPTED, Status.REPLIED, Status.DISPATCHED) and rng.random() < 0.12:
        dispatched = ["dispatch_wrong", "return", "dispatch"]
    accepted = [*dispatched, "accept"]
    if status in (Status.CLOSED, Status.ACCEPTED) and rng.random() < 0.15:
        accepted += ["request_extension", rng.choice(("approve_extension", "approve_extension", "deny_extension"))]
    replied = [*accepted, "reply"]
    if status == Status.CLOSED and rng.random() < 0.1:
        replied += ["reopen", "accept", "reply_again"]
    return {
        Status.DRAFT: [],
        Status.REGISTERED: [],
        Status.CLOSED_FIRST_CONTACT: ["close_first_contact"],
        Status.CANCELLED: ["cancel"],
        Status.MERGED: ["merge"],
        Status.DISPATCHED: dispatched,
        Status.ACCEPTED: accepted,
        Status.RETURNED: ["dispatch_wrong", "return"],
        Status.EXTENSION_REQUESTED: [*accepted, "request_extension"],
        Status.REPLIED: replied,
        Status.CLOSED: [*replied, "close"],
        Status.REOPENED: [*replied, "reopen"],
    }[status]


# action -> (hours after the previous step: low, high; done in office hours)
DELAYS: dict[str, tuple[float, float, bool]] = {
    "draft": (0, 0, False),
    "create": (0, 0, False),
    "register": (0.03, 0.15, False),
    "close_first_contact": (0.02, 0.1, False),
    "cancel": (0.05, 1, False),
    "merge": (0.2, 1.5, False),
    "dispatch": (0.1, 2, False),
    "dispatch_wrong": (0.1, 2, False),
    "return": (1, 20, True),
    "accept": (0.3, 16, True),
    "request_extension": (20, 50, True),
    "approve_extension": (1, 8, True),
    "deny_extension": (1, 8, True),
    "reply": (20, 90, True),
    "reply_again": (20, 90, True),
    "reopen": (4, 30, True),
    "close": (4, 30, True),
}
# Urgent tickets are handled around the clock within hours; quick kinds within a day or so.
URGENT_DELAYS = {"dispatch": (0.03, 0.2, False), "accept": (0.05, 0.4, False), "reply": (0.4, 1.5, False)}
QUICK_REPLY = (2.0, 26.0, True)


def _step(rng: random.Random, action: str, plan: _Plan) -> _Step:
    low, high, office = DELAYS[action]
    if plan.urgent and action in URGENT_DELAYS:
        low, high, office = URGENT_DELAYS[action]
    elif action == "reply" and plan.template.kind in (K.CONSULTATION, K.HELP, K.PRAISE):
        low, high, office = QUICK_REPLY
    if action == "register" and plan.channel in ("web", "app", "open311"):
        low, high = 0.2, 3  # online submissions wait in the review queue
    delay = datetime.timedelta(hours=rng.uniform(low, high))
    return _Step(action, delay, office, datetime.timedelta(minutes=rng.uniform(0, 8 * 60)))


def _make_duplicate(rng: random.Random, plan: _Plan, earlier: list[_Plan]) -> None:
    """Turn `plan` into a second report of an earlier ticket's matter, merged into it."""
    # A main ticket that is still open when the second report is merged: never a closed one.
    candidates = [
        p
        for p in earlier
        if p.status in (Status.REPLIED, Status.EXTENSION_REQUESTED, Status.REOPENED)
        and p.template.kind in (K.COMPLAINT, K.HELP, K.REPORT)
    ] or [p for p in earlier if p.status == Status.REPLIED]
    if not candidates:
        return
    main = rng.choice(candidates)
    plan.leaf, plan.template, plan.district = main.leaf, main.template, main.district
    plan.address, plan.description, plan.urgent = main.address, main.description, main.urgent
    plan.merge_into = main.ref
    plan.merge_offset = datetime.timedelta(hours=rng.uniform(1, 30))


def _schedule(plan: _Plan, *, now: datetime.datetime, starts: dict[str, datetime.datetime]) -> None:
    """Give each step a moment: after the previous one, departments in office hours, all in the past."""
    latest = now - datetime.timedelta(minutes=2)
    if plan.merge_into in starts:  # the second report comes in while the first is being handled
        main_start = starts[plan.merge_into]
        start = main_start + min(plan.merge_offset, (latest - main_start) / 3)
    else:
        start = now - plan.age
        if plan.age > datetime.timedelta(days=1):  # older tickets came in during the day
            start = start.astimezone(SHANGHAI).replace(hour=8, minute=0) + plan.daytime
    for _attempt in range(6):
        times, moment = [], start
        for step in plan.steps:
            moment = _office_hours(moment + step.delay, step.jitter) if step.office else moment + step.delay
            times.append(moment)
        if times[-1] <= latest:
            break
        start -= times[-1] - latest + datetime.timedelta(minutes=30)
    else:  # office hours keep pushing the end past now: squeeze the whole path into the time left
        span = (times[-1] - start) or datetime.timedelta(seconds=1)
        room = latest - start
        times = [start + (t - start) * (room / span) for t in times]
    plan.times = times
    starts[plan.ref] = times[0]


def _office_hours(moment: datetime.datetime, jitter: datetime.timedelta) -> datetime.datetime:
    """`moment` if a department works then (Mon-Fri 8:30-18:00 Shanghai), else the next opening plus jitter."""
    local = moment.astimezone(SHANGHAI)
    opening = local.replace(hour=8, minute=30, second=0, microsecond=0)
    if local.weekday() < 5 and opening <= local <= local.replace(hour=18, minute=0, second=0, microsecond=0):
        return moment
    day = opening if local < opening else opening + datetime.timedelta(days=1)
    while day.weekday() >= 5:
        day += datetime.timedelta(days=1)
    return day + jitter


def _load_tickets(
    summary: DemoSummary, world: _World, plans: list[_Plan], *, now: datetime.datetime, say: Callable[[str], None]
) -> None:
    existing = set(Ticket.objects.filter(external_ref__startswith=REF_PREFIX).values_list("external_ref", flat=True))
    summary.created["tickets"] = 0
    starts: dict[str, datetime.datetime] = {}
    for plan in plans:
        _schedule(plan, now=now, starts=starts)
    # Create in time order, so the daily ticket numbers run with the clock.
    todo = sorted((p for p in plans if p.ref not in existing), key=lambda p: (p.times[0], bool(p.merge_into)))
    for done, plan in enumerate(todo, start=1):
        ticket = None
        for step, moment in zip(plan.steps, plan.times, strict=True):
            with clock.at(moment):
                ticket = _perform(step.action, ticket, plan, world)
        _count(summary, "tickets", True)
        if done % 20 == 0 or done == len(todo):
            say(f"tickets {done}/{len(todo)}")
    if not todo:
        say(f"tickets: all {len(plans)} present")


def _perform(action: str, ticket: Ticket | None, plan: _Plan, world: _World) -> Ticket:
    """Do one step of `plan` as the person who would do it."""
    operator = world.operators[plan.operator % len(world.operators)]
    staff = world.staff[plan.department]
    if action in ("draft", "create"):
        return _create(plan, world, operator, register=action == "create")
    assert ticket is not None  # every path starts with draft or create
    a, pick = actions, plan.variant
    match action:
        case "register":
            return a.ticket_register(ticket, actor=operator)
        case "close_first_contact":
            article = world.articles.get(plan.template.title)
            article = article if article is not None and article.is_published else None
            answer = plan.template.answer or DEFAULT_ANSWER
            return a.ticket_close_first_contact(ticket, actor=operator, answer=answer, article=article)
        case "cancel":
            return a.ticket_cancel(ticket, actor=world.supervisor, reason=CANCEL_REASONS[pick % len(CANCEL_REASONS)])
        case "merge":
            main = Ticket.objects.filter(external_ref=plan.merge_into).first()
            if main is None:
                return ticket
            return a.ticket_merge(ticket, actor=operator, into=main, note="同一事项重复来电，合并处理。")
        case "dispatch_wrong":
            return a.ticket_dispatch(ticket, actor=operator, department=world.departments[plan.wrong_department])
        case "return":
            reason = RETURN_REASON.format(department=world.departments[plan.department].name)
            return a.ticket_return(ticket, actor=world.staff[plan.wrong_department], reason=reason)
        case "dispatch":
            assisting = [world.departments[plan.assisting]] if plan.assisting else []
            department = world.departments[plan.department]
            return a.ticket_dispatch(ticket, actor=operator, department=department, assisting=assisting)
        case "accept":
            return a.ticket_accept(ticket, actor=staff)
        case "request_extension":
            until = add_working_days(ticket.deadline or clock.now(), 5)
            reason = EXTENSION_REASONS[pick % len(EXTENSION_REASONS)]
            return a.ticket_request_extension(ticket, actor=staff, until=until, reason=reason)
        case "approve_extension":
            return a.ticket_approve_extension(ticket, actor=world.supervisor, note=APPROVE_NOTE)
        case "deny_extension":
            return a.ticket_deny_extension(ticket, actor=world.supervisor, note=DENY_NOTE)
        case "reply":
            _assist_first(ticket)
            return a.ticket_reply(ticket, actor=staff, reply=plan.template.answer or plan.leaf.reply)
        case "reply_again":
            _assist_first(ticket)
            return a.ticket_reply(ticket, actor=staff, reply=f"{REPLY_AGAIN}{plan.leaf.reply}")
        case "reopen":
            return a.ticket_reopen(ticket, actor=operator, note=REOPEN_NOTES[pick % len(REOPEN_NOTES)])
        case "close":
            note = CLOSE_NOTES[plan.satisfaction]
            return a.ticket_close(ticket, actor=operator, satisfaction=plan.satisfaction, note=note)
    raise ValueError(f"unknown demo step {action!r}")


ASSIST_INPUT = "我单位已配合现场核查，相关情况已向主办单位反馈。"


def _assist_first(ticket: Ticket) -> None:
    """In joint handling (联办) each assisting department adds its input before the lead department replies."""
    from routing.actions import ticket_assist_input
    from routing.selectors import ticket_assist_missing

    for department in ticket_assist_missing(ticket):
        staff = department.staff.filter(is_active=True).order_by("pk").first()
        ticket_assist_input(ticket, actor=staff, department=department, text=ASSIST_INPUT)


def _create(plan: _Plan, world: _World, operator: User, *, register: bool) -> Ticket:
    citizen = world.citizens[plan.citizen] if plan.citizen is not None else None
    caller = plan.caller
    if citizen is not None and plan.channel in ("phone", "app", "web"):
        phone = citizen.phones.first()
        caller = phone.number if phone else ""
    online = plan.channel in ("web", "app", "open311")
    return actions.ticket_create(
        actor=None if online else operator,  # online submissions arrive through the API
        register=register,
        kind=plan.template.kind,
        channel=plan.channel,
        title=plan.template.title,
        description=plan.description,
        address=plan.address,
        district=world.districts[plan.district.code],
        category=world.categories[plan.leaf.code],
        urgency="urgent" if plan.urgent else "normal",
        citizen=citizen,
        caller_number=caller,
        external_ref=plan.ref,
    )
