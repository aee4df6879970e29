"""The knowledge base's endpoints (/api/knowledge/) with their serializers: one subdomain, one module."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from .. import actions
from ..actions.knowledge import ARTICLE_FIELDS
from ..models import Article, Category
from ..selectors import article_get_for, articles_search, articles_visible_to
from .serializers import ErrorSerializer

QUERY_MAX = 100


class ArticleSerializer(serializers.ModelSerializer):
    category_name = serializers.SerializerMethodField()
    updated_by = serializers.SerializerMethodField()
    match = serializers.SerializerMethodField(
        help_text="In a search: `exact` (contains every word) or `near` (nothing did; these hold most of it)."
    )

    class Meta:
        model = Article
        fields = [
            "id",
            "title",
            "question",
            "answer",
            "category",
            "category_name",
            "keywords",
            "is_published",
            "use_count",
            "view_count",
            "updated_by",
            "updated_at",
            "created_at",
            "match",
        ]
        read_only_fields = fields

    def get_match(self, obj: Article) -> str | None:
        return getattr(obj, "match", None)

    def get_category_name(self, obj: Article) -> str | None:
        return str(obj.category) if obj.category_id else None

    def get_updated_by(self, obj: Article) -> str | None:
        if obj.updated_by_id is None:
            return None
        return obj.updated_by.get_full_name() or obj.updated_by.username


class ArticleWriteSerializer(serializers.ModelSerializer):
    category = serializers.PrimaryKeyRelatedField(
        queryset=Category.objects.filter(is_active=True), required=False, allow_null=True
    )

    class Meta:
        model = Article
        fields = list(ARTICLE_FIELDS)


class SearchParams(serializers.Serializer):
    q = serializers.CharField(required=False, allow_blank=True, default="", max_length=QUERY_MAX)
    category = serializers.PrimaryKeyRelatedField(queryset=Category.objects.all(), required=False, default=None)
    published = serializers.BooleanField(required=False, allow_null=True, default=None)


INVALID = OpenApiResponse(ErrorSerializer, description="Invalid input; `fields` names each field.")
FORBIDDEN = OpenApiResponse(ErrorSerializer, description="Only supervisors and administrators maintain articles.")
NOT_FOUND = OpenApiResponse(ErrorSerializer, description="No such article, or a draft you may not read.")


class ArticleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    viewsets.GenericViewSet,
):
    """Knowledge base (知识库): question/answer articles operators answer citizens with.

    Everyone at the hotline and department staff read published articles; supervisors and
    administrators also see drafts, and write through POST and PATCH (or the admin).
    """

    serializer_class = ArticleSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Article.objects.none()
        return articles_visible_to(self.request.user)

    def get_object(self) -> Article:
        return article_get_for(self.request.user, self.kwargs["pk"])

    @extend_schema(
        parameters=[
            OpenApiParameter("q", str, description="Words or a phrase; every word must appear (Chinese: as written)."),
            OpenApiParameter("category", int, description="A category and its subcategories."),
            OpenApiParameter("published", bool, description="Supervisors: only published or only draft articles."),
        ],
        responses={200: ArticleSerializer(many=True), 400: INVALID},
    )
    def list(self, request: Request, format: str | None = None) -> Response:
        """Search, best match first; without `q` the most used articles first."""
        params = SearchParams(data=request.query_params)
        params.is_valid(raise_exception=True)
        found = articles_search(request.user, params.validated_data["q"], category=params.validated_data["category"])
        if params.validated_data["published"] is not None:
            found = found.filter(is_published=params.validated_data["published"])
        page = self.paginate_queryset(found)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(responses={200: ArticleSerializer, 404: NOT_FOUND})
    def retrieve(self, request: Request, pk: str, format: str | None = None) -> Response:
        """One article; a read by anyone but its maintainers counts as a view."""
        article = self.get_object()
        if not request.user.has_perm("tickets.change_article"):
            actions.article_viewed(article)
        return Response(self.get_serializer(article).data)

    @extend_schema(request=ArticleWriteSerializer, responses={201: ArticleSerializer, 400: INVALID, 403: FORBIDDEN})
    def create(self, request: Request, format: str | None = None) -> Response:
        form = ArticleWriteSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        article = actions.article_create(actor=request.user, **form.validated_data)
        return Response(self._out(article), status=status.HTTP_201_CREATED)

    @extend_schema(
        request=ArticleWriteSerializer, responses={200: ArticleSerializer, 400: INVALID, 403: FORBIDDEN, 404: NOT_FOUND}
    )
    def partial_update(self, request: Request, pk: str, format: str | None = None) -> Response:
        article = self.get_object()
        form = ArticleWriteSerializer(article, data=request.data, partial=True)
        form.is_valid(raise_exception=True)
        article = actions.article_update(article, actor=request.user, **form.validated_data)
        return Response(self._out(article))

    def _out(self, article: Article) -> dict:
        return self.get_serializer(articles_visible_to(self.request.user).get(pk=article.pk)).data
