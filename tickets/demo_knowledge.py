"""The demo city's knowledge base: articles on policies, office hours and fees, loaded idempotently.

Seed text for tickets.demo.load_demo (most of this module is data). Titles that match a demo
consultation's title are the articles its first-contact answer uses.
"""

from typing import NamedTuple

from . import actions
from .models import Article, Category, User


class ArticleData(NamedTuple):
    category: str  # a demo leaf category's code, or "" for none
    title: str
    question: str
    answer: str
    keywords: str = ""
    published: bool = True


# fmt: off
ARTICLES: tuple[ArticleData, ...] = (
    ArticleData("licences", "市政务服务中心办公时间",
                "市政务服务中心几点上班？周末能不能办事？",
                "惠州市政务服务中心（惠城区江北）对外办公时间为周一至周五上午9:00—12:00、下午14:00—17:30，"
                "法定节假日休息；每周六上午设综合窗口，可办理部分高频事项。多数事项可通过广东政务服务网、"
                "粤省事小程序网上办理，无需到现场。",
                "上班时间 办公时间 周末 节假日 办事大厅"),
    ArticleData("household-registration", "居民身份证办理收费标准",
                "办身份证要多少钱？丢了补办收费吗？",
                "居民身份证首次申领和有效期满换领收取工本费20元；丢失补领或损坏换领收取40元；临时居民身份证"
                "收取10元。16周岁以下、低保对象等可按规定减免。可到户籍所在地或居住地派出所户政窗口办理，"
                "收费以窗口公示为准。",
                "身份证 工本费 补办 临时身份证 费用"),
    ArticleData("household-registration", "普通护照办理费用和时限",
                "办护照多少钱？多久能拿到？",
                "普通护照申请费每本120元（首次申领、换发、补发均同）。材料齐全的，出入境管理部门一般在7个工作日"
                "内审批签发，可选择邮寄送达。已实行全国通办，凭居民身份证即可在惠州出入境窗口申请。",
                "护照 出入境 费用 多久 办证"),
    ArticleData("household-registration", "新生儿如何办理入户",
                "孩子出生后怎么在惠州上户口？需要哪些材料？",
                "持出生医学证明、父母双方户口簿和居民身份证、结婚证，到父亲或母亲户口所在地派出所户政窗口办理；"
                "也可通过粤省事预约。出生登记一般在出生后一个月内办理。",
                "上户口 出生登记 入户 新生儿 户口"),
    ArticleData("household-registration", "人才引进入户条件",
                "本科毕业在惠州工作，能不能把户口迁过来？",
                "具有全日制大专以上学历，或具有中级以上职称、技师以上职业资格，并在惠州就业或创业的，可申请人才"
                "引进入户。需提供学历（职称）证书、劳动合同或营业执照、社保缴费记录等，具体条件以公安户政部门"
                "公布为准。",
                "人才入户 落户 迁户口 学历 职称"),
    ArticleData("housing-fund", "租房提取公积金需要什么材料",
                "在惠州租房，能不能每月提公积金交房租？",
                "本人及配偶在惠州无自有住房且租房自住的，可申请提取住房公积金支付房租，每年可提取一次或按月提取，"
                "额度按规定标准执行。通过惠州住房公积金网上服务大厅、粤省事或窗口申请，需身份证和本人银行卡；"
                "办理不收取任何费用。",
                "公积金 提取 租房 房租 材料"),
    ArticleData("housing-fund", "公积金贷款额度如何计算",
                "买首套房公积金能贷多少？",
                "公积金贷款额度与借款人缴存余额、缴存时间、还款能力相关，并不得超过规定的最高贷款限额；首套房"
                "双职工缴存家庭的限额高于单职工家庭。可在住房公积金管理中心官网或公积金App在线试算。",
                "公积金贷款 额度 首套房 最高限额 试算"),
    ArticleData("licences", "个体工商户营业执照如何办理",
                "想开小吃店，个体户营业执照怎么办？要钱吗？",
                "可通过广东政务服务网“开办企业”专区或到政务服务中心市场主体登记窗口办理，需经营者身份证和经营场所"
                "证明。材料齐全的一般当场或一个工作日内办结，营业执照免费发放。从事餐饮的还需办理食品经营许可。",
                "营业执照 个体户 开店 工商登记 食品经营许可 免费"),
    ArticleData("social-assistance", "如何申请最低生活保障",
                "家里收入低，怎么申请低保？",
                "向户籍所在地街道办事处（乡镇人民政府）提出申请，也可通过粤省事在线申请，经入户调查、民主评议和"
                "公示后由民政部门审批。家庭月人均收入低于当地低保标准且财产状况符合规定的可获批。",
                "低保 最低生活保障 救助 困难家庭"),
    ArticleData("social-assistance", "高龄津贴如何申请",
                "老人满80岁有没有补贴？怎么申请？",
                "具有本市户籍、年满80周岁的老年人可申请高龄津贴，按年龄段按月发放。携带老人身份证、户口簿和银行卡"
                "到户籍所在地社区居委会或村委会申请，也可在粤省事办理。",
                "高龄津贴 老人补贴 长寿金 80岁"),
    ArticleData("property-registration", "二手房过户需要什么材料",
                "买二手房怎么过户？要准备什么？",
                "一般需买卖双方身份证明、不动产权证书、房屋买卖合同、完税证明，婚姻状况证明等。可通过惠州不动产"
                "登记网上预约，在不动产登记中心“一窗受理”，税费和登记费以窗口核定为准，住宅登记费每件80元。",
                "过户 二手房 不动产 房产证 登记费"),
    ArticleData("social-insurance", "灵活就业人员如何参加养老保险",
                "没有单位，自己怎么交养老保险？",
                "户籍或居住在本市的灵活就业人员，可通过粤税通、粤省事或社保经办窗口办理参保登记，自行选择缴费"
                "基数档次，按月或按年缴纳。缴费满15年且达到退休年龄的，可按月领取养老金。",
                "灵活就业 养老保险 社保 个人缴费 自己交"),
    ArticleData("employment-services", "失业保险金如何申领",
                "被公司辞退了，能不能领失业金？",
                "非因本人意愿中断就业、失业前已缴纳失业保险满一年并已办理失业登记的，可申领失业保险金。通过广东"
                "人社App、粤省事或社保经办窗口申请，无需单位出具证明；领取期限按累计缴费时间计算。",
                "失业金 失业保险 辞退 申领"),
    ArticleData("school-admission", "随迁子女积分入学需要哪些材料",
                "外地户口孩子在惠州读公办小学，要准备什么？",
                "随迁子女按积分制申请公办学校学位，一般需父母居住证、在惠就业或经营证明、社保缴纳证明、住房证明"
                "和孩子户口簿等。每年春季由区教育局公布申请时间，须在规定时间内网上申报，逾期不受理。",
                "积分入学 随迁子女 外地户口 学位 居住证"),
    ArticleData("school-admission", "小学一年级新生报名时间",
                "一年级什么时候报名？",
                "公办小学一年级新生报名一般在每年5月至6月，由各县（区）教育局公布具体时间和招生范围。户籍生和"
                "随迁子女分批网上报名，请关注所在县（区）教育局官网或公众号。",
                "一年级 报名 招生 小学 时间"),
    ArticleData("vaccination", "新生儿疫苗在哪里接种",
                "孩子出生后在哪里打预防针？",
                "新生儿在出生医院接种首剂乙肝疫苗和卡介苗，之后持预防接种证到居住地所属社区卫生服务中心（乡镇"
                "卫生院）预防接种门诊按程序接种。免疫规划疫苗免费，非免疫规划疫苗自愿自费。",
                "疫苗 打针 预防接种 新生儿 免费"),
    ArticleData("vaccination", "成人HPV疫苗如何预约",
                "HPV疫苗在哪里约？多少钱？",
                "可通过“粤苗”小程序或各社区卫生服务中心预约，按预约时间携带身份证到接种门诊接种。HPV疫苗为非"
                "免疫规划疫苗，自愿自费，价格以接种单位公示为准；符合条件的适龄女孩可参加免费接种项目。",
                "HPV 宫颈癌疫苗 预约 粤苗 自费"),
    ArticleData("medical-insurance", "异地就医如何备案",
                "去外地看病，医保怎么备案才能直接结算？",
                "可通过国家医保服务平台App、粤医保或粤省事办理异地就医备案，长期异地居住和临时外出就医均可线上"
                "备案，备案后在开通直接结算的定点医院持医保电子凭证或社保卡直接结算。",
                "异地就医 医保备案 跨省 直接结算"),
    ArticleData("medical-insurance", "新生儿如何参加医保",
                "刚出生的孩子怎么买医保？",
                "新生儿在出生后90天内参加城乡居民医保的，自出生之日起享受待遇。办理户口后可通过粤税通、粤省事或"
                "社区窗口参保缴费。",
                "新生儿 医保 参保 城乡居民医保"),
    ArticleData("utility-bills", "阶梯电价如何计算",
                "电费为什么这个月这么贵？阶梯电价怎么算？",
                "居民用电实行阶梯电价，按年度或月度用电量分三档计价，用电越多超出部分单价越高；夏季空调用电多时"
                "容易进入高档。可在“南网在线”App查询用电明细和各档电价，以供电部门公布标准为准。",
                "电费 阶梯电价 电价 南网在线"),
    ArticleData("gas", "燃气费如何缴纳",
                "燃气费在哪里交？",
                "可通过燃气公司微信公众号、支付宝生活缴费或营业厅缴纳；也可签约银行代扣。欠费停气的，缴清费用后"
                "一般在24小时内恢复供气，抢修请拨打燃气公司24小时服务电话。",
                "燃气费 煤气费 缴费 停气"),
    ArticleData("rubbish-collection", "大件家具如何处理",
                "旧沙发旧床垫不要了怎么扔？",
                "大件垃圾不能随意堆放在垃圾桶旁。可联系小区物业或社区预约上门收运，也可送至街道大件垃圾临时"
                "投放点，部分区域提供免费回收服务。",
                "大件垃圾 旧家具 沙发 床垫 回收"),
    ArticleData("", "12345热线受理范围和工单查询",
                "12345能管什么？怎么查我反映的问题办得怎么样了？",
                "12345热线受理企业和群众对政务服务、公共服务的咨询、投诉、求助、建议和举报，7×24小时服务；"
                "110、119、120等紧急事项请直接拨打相应电话。查询办理进度可拨打12345按8输入工单编号，或在“惠州"
                "12345”公众号查询。",
                "12345 受理范围 工单查询 进度 热线"),
    ArticleData("licences", "春节假期政务服务安排（草稿）",
                "春节期间政务服务中心开不开门？",
                "春节假期期间政务服务中心暂停现场办理，网上办事渠道正常运行；具体安排待市政府办公室通知后更新。",
                "春节 假期 放假 政务服务中心", published=False),
)
# fmt: on


def load_articles(categories: dict[str, Category], supervisor: User) -> tuple[dict[str, Article], int]:
    """Create the missing demo articles (by title) as the supervisor; return them all by title, and how many are new."""
    existing = {article.title: article for article in Article.objects.filter(title__in=[a.title for a in ARTICLES])}
    created = 0
    for data in ARTICLES:
        if data.title in existing:
            continue
        existing[data.title] = actions.article_create(
            actor=supervisor,
            title=data.title,
            question=data.question,
            answer=data.answer,
            category=categories.get(data.category),
            keywords=data.keywords,
            is_published=data.published,
        )
        created += 1
    return existing, created
