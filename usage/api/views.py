from __future__ import annotations

from types import SimpleNamespace

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ..figures import GROUPINGS, grouped, total
from ..scope import visible_rollups
from .serializers import StatsQuerySerializer, StatsSerializer

# A date or a date-time: JSON Schema's formats name one or the other, not either.
MOMENT = {
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$",
}


class StatsView(APIView):
    """Usage figures of the caller's runs (staff: everyone's), grouped over a period."""

    @extend_schema(
        operation_id="stats",
        summary="Usage statistics",
        description=(
            "Runs finished, tokens, cost, what the cache and coalescing saved, and time to first token "
            "and duration percentiles, per day, hour, template, model or person. Jobs count in the hour "
            "they were submitted in; the range is widened to whole hours. Queued and running jobs are "
            "not counted until they finish."
        ),
        parameters=[
            OpenApiParameter("from", OpenApiTypes.DATETIME, description="ISO 8601 date or date-time."),
            OpenApiParameter(
                "to", OpenApiTypes.DATETIME, description="ISO 8601 date or date-time (excluded)."
            ),
            OpenApiParameter("group_by", OpenApiTypes.STR, enum=list(GROUPINGS), default="day"),
        ],
        responses={200: StatsSerializer},
    )
    def get(self, request: Request) -> Response:
        query = StatsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        period, grouping = query.validated_data["period"], query.validated_data["group_by"]
        groups = grouped(visible_rollups(request.user), period, grouping)
        stats = SimpleNamespace(
            start=period.start, end=period.end, group_by=grouping, groups=groups, total=total(groups)
        )
        return Response(StatsSerializer(stats).data)
