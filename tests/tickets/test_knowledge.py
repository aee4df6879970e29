"""The knowledge base: Chinese search on SQLite and PostgreSQL, who reads and who writes, first-contact answers."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from dashboards.models import OutboxEvent
from tickets import actions
from tickets.errors import NotAllowed
from tickets.models import Action, Article, Status, Ticket, TimelineEntry
from tickets.selectors import articles_search

pytestmark = pytest.mark.django_db

KNOWLEDGE = "/api/knowledge/"
on_postgresql = pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm ranking and index")


@pytest.fixture
def articles(supervisor, category_tree):
    """Three published articles and one draft, written by the supervisor."""

    def write(title, question, answer, category, keywords="", published=True):
        return actions.article_create(
            actor=supervisor,
            title=title,
            question=question,
            answer=answer,
            category=category_tree[category],
            keywords=keywords,
            is_published=published,
        )

    return {
        "water": write(
            "停水通知在哪里查询",
            "家里突然停水了，什么时候恢复？",
            "计划停水信息提前一天在市水务集团公众号发布；突发停水可拨打供水服务热线查询恢复时间。",
            "water_cut",
            "停水 供水 恢复",
        ),
        "power": write(
            "阶梯电价如何计算",
            "这个月电费为什么这么贵？",
            "居民用电实行阶梯电价，按年度用电量分三档计价，用电越多超出部分单价越高。",
            "power_cut",
            "电费 电价",
        ),
        "lights": write(
            "路灯不亮找谁报修",
            "小区门口的路灯坏了很久",
            "市政道路路灯由城市管理部门维护，可拨打12345或城管热线报修，一般三个工作日内修复。",
            "street_lights",
            "路灯 报修",
        ),
        "draft": write(
            "春节假期政务服务安排（草稿）",
            "春节期间政务服务中心开不开门？",
            "春节假期期间暂停现场办理，网上办事渠道正常运行。",
            "utilities",
            published=False,
        ),
    }


def titles(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["title"] for row in response.json()["results"]]


# --- search -------------------------------------------------------------------------------------


def test_a_phrase_inside_an_answer_finds_the_article(api, operator, articles):
    response = api.as_user(operator).get(KNOWLEDGE, {"q": "按年度用电量"})
    assert titles(response) == ["阶梯电价如何计算"]
    assert response.json()["results"][0]["match"] == "exact"


def test_every_word_of_the_query_must_appear(operator, articles):
    assert [a.title for a in articles_search(operator, "停水 公众号")] == ["停水通知在哪里查询"]
    assert [a.title for a in articles_search(operator, "三个工作日 城管")] == ["路灯不亮找谁报修"]


def test_keywords_and_the_question_are_searched_too(operator, articles):
    assert [a.title for a in articles_search(operator, "电费")] == ["阶梯电价如何计算"]  # keywords and question
    assert [a.title for a in articles_search(operator, "坏了很久")] == ["路灯不亮找谁报修"]


def test_latin_letters_match_whatever_their_case(operator, supervisor, articles):
    actions.article_update(articles["power"], actor=supervisor, keywords="电费 电价 APP")
    assert [a.title for a in articles_search(operator, "app")] == ["阶梯电价如何计算"]
    assert [a.title for a in articles_search(operator, "App")] == ["阶梯电价如何计算"]


def test_the_title_ranks_before_the_answer(operator, supervisor, articles):
    # "报修" is in the lights article's title; put it in another article's answer only.
    actions.article_update(articles["water"], actor=supervisor, answer="水管爆裂也可以拨打供水热线报修。")
    assert [a.title for a in articles_search(operator, "报修")] == ["路灯不亮找谁报修", "停水通知在哪里查询"]


def test_a_query_written_differently_offers_near_matches(api, operator, articles):
    # "停水恢复时间" is not written anywhere as such; the water article holds most of its pairs.
    response = api.as_user(operator).get(KNOWLEDGE, {"q": "停水恢复时间"})
    assert titles(response)[0] == "停水通知在哪里查询"
    assert response.json()["results"][0]["match"] == "near"
    assert titles(api.get(KNOWLEDGE, {"q": "燃气"})) == []


def test_a_category_narrows_the_search_to_its_subtree(api, operator, articles, category_tree):
    response = api.as_user(operator).get(KNOWLEDGE, {"category": category_tree["utilities"].pk})
    assert sorted(titles(response)) == ["停水通知在哪里查询", "阶梯电价如何计算"]
    response = api.get(KNOWLEDGE, {"category": category_tree["urban"].pk, "q": "路灯"})
    assert titles(response) == ["路灯不亮找谁报修"]


def test_without_a_query_the_most_used_come_first(api, operator, articles, make_ticket):
    for _ in range(2):
        actions.ticket_close_first_contact(make_ticket(kind="consultation"), actor=operator, article=articles["lights"])
    assert titles(api.as_user(operator).get(KNOWLEDGE))[0] == "路灯不亮找谁报修"


def test_a_bad_search_parameter_is_a_400(api, operator, articles):
    response = api.as_user(operator).get(KNOWLEDGE, {"category": "999999"})
    assert response.status_code == 400 and "category" in response.json()["error"]["fields"]
    response = api.get(KNOWLEDGE, {"q": "长" * 101})
    assert response.status_code == 400 and "q" in response.json()["error"]["fields"]


@pytest.mark.postgres
@on_postgresql
def test_postgresql_ranks_by_trigram_similarity(operator, supervisor, articles):
    actions.article_create(
        actor=supervisor,
        title="停水期间如何取水",
        question="长时间没有水怎么办？",
        answer="超过十二小时的，供水企业会在小区设置临时供水点。",
        is_published=True,
    )
    found = list(articles_search(operator, "停水"))
    # Both titles start with 停水; the first also has it as a keyword of its own.
    assert [a.title for a in found] == ["停水通知在哪里查询", "停水期间如何取水"]
    assert found[0].rank > found[1].rank > 0
    assert [a.title for a in articles_search(operator, "停水通知")] == ["停水通知在哪里查询"]


@pytest.mark.postgres
@on_postgresql
def test_postgresql_serves_the_substring_match_from_the_trigram_index(articles):
    sql, params = Article.objects.filter(search_text__contains="公众号").values("pk").query.sql_with_params()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a test table is tiny: ask whether the index can serve
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "tickets_article_search_trgm" in plan, plan


# --- who reads, who writes ----------------------------------------------------------------------


def test_operators_and_departments_read_published_articles_only(api, operator, water_staff, articles):
    for user in (operator, water_staff):
        listed = titles(api.as_user(user).get(KNOWLEDGE, {"q": "春节"}))
        assert listed == []
        assert api.get(f"{KNOWLEDGE}{articles['draft'].pk}/").status_code == 404
        assert api.get(f"{KNOWLEDGE}{articles['water'].pk}/").status_code == 200


def test_supervisors_see_drafts_and_filter_by_publication(api, supervisor, articles):
    api.as_user(supervisor)
    assert titles(api.get(KNOWLEDGE, {"q": "春节"})) == ["春节假期政务服务安排（草稿）"]
    assert titles(api.get(KNOWLEDGE, {"published": "false"})) == ["春节假期政务服务安排（草稿）"]
    assert len(titles(api.get(KNOWLEDGE, {"published": "true"}))) == 3


def test_anonymous_requests_are_refused(articles):
    assert APIClient().get(KNOWLEDGE).status_code == 401
    assert APIClient().get(f"{KNOWLEDGE}{articles['water'].pk}/").status_code == 401


def test_operators_and_departments_cannot_write(api, operator, water_staff, articles, category_tree):
    body = {"title": "新文章", "question": "问题", "answer": "答案", "category": category_tree["water_cut"].pk}
    for user in (operator, water_staff):
        api.as_user(user)
        response = api.post(KNOWLEDGE, body, format="json")
        assert response.status_code == 403, response.content
        response = api.patch(f"{KNOWLEDGE}{articles['water'].pk}/", {"answer": "改掉"}, format="json")
        assert response.status_code == 403, response.content
    assert not Article.objects.filter(title="新文章").exists()
    assert Article.objects.get(pk=articles["water"].pk).answer.startswith("计划停水")
    with pytest.raises(NotAllowed):
        actions.article_update(articles["water"], actor=operator, answer="改掉")


def test_a_supervisor_writes_and_publishes_through_the_api(api, supervisor, operator, category_tree):
    api.as_user(supervisor)
    body = {
        "title": "居住证如何办理",
        "question": "外地人怎么办居住证？",
        "answer": "在惠州居住满半年的，可到社区申领。",
    }
    response = api.post(KNOWLEDGE, {**body, "category": category_tree["urban"].pk}, format="json")
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["is_published"] is False and created["updated_by"] == "supervisor"
    assert titles(api.as_user(operator).get(KNOWLEDGE, {"q": "居住证"})) == []
    response = api.as_user(supervisor).patch(f"{KNOWLEDGE}{created['id']}/", {"is_published": True}, format="json")
    assert response.status_code == 200 and response.json()["is_published"] is True
    assert titles(api.as_user(operator).get(KNOWLEDGE, {"q": "居住证"})) == ["居住证如何办理"]
    events = list(OutboxEvent.objects.filter(type__startswith="knowledge.").values_list("type", "payload"))
    assert [kind for kind, _payload in events] == ["knowledge.create", "knowledge.update"]
    assert events[1][1]["changed"] == ["is_published"] and events[1][1]["published"] is True


def test_an_article_needs_a_title_question_and_answer(api, supervisor):
    response = api.as_user(supervisor).post(KNOWLEDGE, {"title": "只有标题"}, format="json")
    assert response.status_code == 400
    assert {"question", "answer"} <= set(response.json()["error"]["fields"])


def test_reading_an_article_counts_a_view_but_a_supervisors_proofreading_does_not(api, operator, supervisor, articles):
    url = f"{KNOWLEDGE}{articles['power'].pk}/"
    api.as_user(operator).get(url)
    api.get(url)
    api.as_user(supervisor).get(url)
    assert Article.objects.get(pk=articles["power"].pk).view_count == 2


def test_the_admin_lets_a_supervisor_search_and_edit_articles(client, supervisor, articles):
    client.force_login(supervisor)
    listing = client.get(reverse("admin:tickets_article_changelist"), {"q": "年度用电"}).content.decode()
    assert "阶梯电价如何计算" in listing and "停水通知在哪里查询" not in listing
    url = reverse("admin:tickets_article_change", args=[articles["water"].pk])
    page = client.get(url)
    assert page.status_code == 200
    form = {
        "title": "停水通知在哪里查询",
        "question": "家里突然停水了？",
        "answer": "以水务集团公众号发布为准。",
        "keywords": "停水",
        "is_published": "on",
    }
    response = client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    article = Article.objects.get(pk=articles["water"].pk)
    assert article.answer == "以水务集团公众号发布为准。" and article.updated_by == supervisor
    assert article.category is None
    assert OutboxEvent.objects.filter(type="knowledge.update").exists()


def test_an_operator_does_not_enter_the_knowledge_admin(client, operator):
    client.force_login(operator)
    response = client.get(reverse("admin:tickets_article_changelist"))
    assert response.status_code in (302, 403)


# --- the answer used is recorded on the ticket --------------------------------------------------


def close_url(ticket: Ticket) -> str:
    return f"/api/tickets/{ticket.number}/close-first-contact/"


def test_closing_with_an_article_records_it_and_counts_the_use(api, operator, articles, make_ticket):
    ticket = make_ticket(kind="consultation", title="电费咨询")
    article = articles["power"]
    response = api.as_user(operator).post(close_url(ticket), {"article": article.pk}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == Status.CLOSED_FIRST_CONTACT
    assert (body["article"], body["article_title"]) == (article.pk, "阶梯电价如何计算")
    assert body["answer"] == article.answer  # no answer typed: the article's
    ticket.refresh_from_db()
    assert ticket.article == article and ticket.status == Status.CLOSED_FIRST_CONTACT
    entry = TimelineEntry.objects.filter(ticket=ticket).last()
    assert entry.action == Action.CLOSE_FIRST_CONTACT
    assert entry.data == {"article": article.pk, "article_title": "阶梯电价如何计算"}
    assert Article.objects.get(pk=article.pk).use_count == 1
    event = OutboxEvent.objects.filter(type="ticket.close_first_contact").last()
    assert "article" in event.payload["changed"]


def test_the_operators_own_words_are_kept_beside_the_article(operator, articles, make_ticket):
    ticket = make_ticket(kind="consultation")
    closed = actions.ticket_close_first_contact(
        ticket, actor=operator, answer="已告知市民阶梯电价分三档。", article=articles["power"]
    )
    assert closed.answer == "已告知市民阶梯电价分三档。" and closed.article == articles["power"]


@pytest.mark.parametrize("which", ["unknown", "draft", "not_a_number"])
def test_a_bad_article_is_refused_and_nothing_changes(api, operator, articles, make_ticket, ticket_state, which):
    ticket = make_ticket(kind="consultation")
    before = ticket_state(ticket)
    counts = dict(Article.objects.values_list("pk", "use_count"))
    article = {"unknown": 999999, "draft": articles["draft"].pk, "not_a_number": "x"}[which]
    response = api.as_user(operator).post(close_url(ticket), {"answer": "已答复", "article": article}, format="json")
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "invalid" and list(body["fields"]) == ["article"]
    assert ticket_state(ticket) == before
    assert Ticket.objects.get(pk=ticket.pk).article_id is None
    assert dict(Article.objects.values_list("pk", "use_count")) == counts


def test_an_article_unpublished_meanwhile_is_refused_by_the_action(operator, supervisor, articles, make_ticket):
    ticket = make_ticket(kind="consultation")
    stale = Article.objects.get(pk=articles["water"].pk)  # the form loaded it published
    actions.article_update(articles["water"], actor=supervisor, is_published=False)
    with pytest.raises(ValidationError) as raised:
        actions.ticket_close_first_contact(ticket, actor=operator, article=stale)
    assert "article" in raised.value.message_dict
    assert Ticket.objects.get(pk=ticket.pk).status == Status.REGISTERED
    assert Article.objects.get(pk=stale.pk).use_count == 0


def test_a_refused_transition_counts_no_use(api, operator, articles, make_ticket):
    ticket = make_ticket(Status.DISPATCHED)
    response = api.as_user(operator).post(close_url(ticket), {"article": articles["power"].pk}, format="json")
    assert response.status_code == 409
    assert Article.objects.get(pk=articles["power"].pk).use_count == 0


def test_without_an_answer_or_an_article_the_answer_is_required(api, operator, make_ticket):
    ticket = make_ticket(kind="consultation")
    response = api.as_user(operator).post(close_url(ticket), {}, format="json")
    assert response.status_code == 400 and list(response.json()["error"]["fields"]) == ["answer"]


def test_a_department_never_sees_a_draft_through_a_ticket(api, water_staff, articles):
    # Department staff read the knowledge base like operators: published only.
    response = api.as_user(water_staff).get(KNOWLEDGE, {"published": "false"})
    assert titles(response) == []
