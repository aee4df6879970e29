"""Every IVR prompt the bridge plays: its sound name and its words in each language.

Sound files live under Asterisk's sounds directory as <language>/<name>.<format>, e.g.
zh/hotline/welcome.wav; `manage.py make_prompts` renders them from these texts, and the
admin's menus refer to them by name. Asterisk picks the language from the channel's
CHANNEL(language), which the dialplan sets (zh by default).
"""

from typing import NamedTuple


class Prompt(NamedTuple):
    name: str
    zh: str
    en: str


PROMPTS: dict[str, Prompt] = {
    p.name: p
    for p in [
        Prompt(
            "hotline/welcome",
            "您好，欢迎致电12345政务服务便民热线。",
            "Welcome to the 12345 government service hotline.",
        ),
        Prompt(
            "hotline/main-menu",
            "咨询请按1，投诉请按2，建议请按3，求助请按4，举报请按5，查询办理进度请按8，人工服务请按0。",
            "For a consultation press 1, a complaint 2, a suggestion 3, a help request 4, a report 5. "
            "To check the progress of a ticket press 8. For an operator press 0.",
        ),
        Prompt("hotline/invalid", "输入有误，请重新选择。", "Sorry, that is not an option. Please try again."),
        Prompt("hotline/to-operator", "正在为您转接人工服务，请稍候。", "Connecting you to an operator, please hold."),
        Prompt("hotline/your-ticket-number", "您的工单编号是", "Your ticket number is"),
        Prompt(
            "hotline/enter-ticket-number",
            "请输入工单编号，以井号键结束。",
            "Please key in your ticket number, followed by the hash key.",
        ),
        Prompt(
            "hotline/ticket-not-found",
            "对不起，没有找到这个工单编号。",
            "Sorry, we could not find that ticket number.",
        ),
        Prompt("hotline/ticket-status-is", "该工单当前状态为", "The status of this ticket is"),
        Prompt("hotline/status-registered", "已受理，等待派单。", "registered, waiting to be dispatched."),
        Prompt("hotline/status-dispatched", "已派发至承办单位。", "dispatched to the department."),
        Prompt("hotline/status-accepted", "承办单位正在办理。", "being handled by the department."),
        Prompt("hotline/status-replied", "已办结，等待回访。", "answered by the department; we will call you back."),
        Prompt("hotline/status-closed", "已办结。", "closed."),
        Prompt("hotline/status-reopened", "正在重新办理。", "being handled again."),
        Prompt("hotline/status-cancelled", "已撤销。", "cancelled."),
        Prompt("hotline/status-other", "正在处理中。", "in progress."),
        Prompt("hotline/handled-by", "承办单位是", "It is handled by"),
        Prompt("hotline/deadline-is", "办理时限为", "The deadline is"),
        Prompt("hotline/goodbye", "感谢您的来电，再见。", "Thank you for calling. Goodbye."),
        Prompt(
            "hotline/service-busy",
            "系统繁忙，正在为您转接人工服务。",
            "Our system is busy; connecting you to an operator.",
        ),
        Prompt(
            "hotline/callback-intro",
            "您好，这里是12345热线回访，请对办理结果进行评价：满意请按1，基本满意请按2，不满意请按3。",
            "This is the 12345 hotline calling back about your ticket. Press 1 if you are satisfied, "
            "2 if basically satisfied, 3 if unsatisfied.",
        ),
        Prompt("hotline/thank-you", "谢谢您的评价。", "Thank you for your rating."),
    ]
}

# Department names are spoken as hotline/dept-<code> (rendered by make_prompts from the
# departments table); a department with no recording is skipped, never spelled out.
STATUS_PROMPTS = {
    "registered": "hotline/status-registered",
    "returned": "hotline/status-registered",
    "dispatched": "hotline/status-dispatched",
    "accepted": "hotline/status-accepted",
    "extension_requested": "hotline/status-accepted",
    "replied": "hotline/status-replied",
    "closed": "hotline/status-closed",
    "closed_first_contact": "hotline/status-closed",
    "merged": "hotline/status-closed",
    "reopened": "hotline/status-reopened",
    "cancelled": "hotline/status-cancelled",
}


def status_prompt(status: str) -> str:
    return STATUS_PROMPTS.get(status, "hotline/status-other")


def department_prompt(code: str) -> str:
    return f"hotline/dept-{code}"
