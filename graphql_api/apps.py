from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GraphQLApiConfig(AppConfig):
    name = "graphql_api"
    verbose_name = _("GraphQL")
