from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import exceptions, generics, mixins, permissions, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from promptlab import ratelimits
from promptlab.api import AuthAttemptThrottle

from .. import registration
from ..models import PersonalToken
from ..refresh_tokens import FamilyTokenObtainPairSerializer, FamilyTokenRefreshSerializer
from .serializers import (
    PersonalTokenSerializer,
    RegisterSerializer,
    RegistrationAcceptedSerializer,
    UserSerializer,
)


@extend_schema_view(post=extend_schema(summary="Register an address"))
class RegisterView(generics.GenericAPIView):
    """Ask for an account, by address only. The answer is the same whether or not the
    address has one (202): an e-mail to the address holds a link to a page where its
    owner chooses the password (a browser step), or says that it already has one. Sign
    in with POST auth/token once the password is chosen."""

    serializer_class = RegisterSerializer
    permission_classes = (permissions.AllowAny,)
    authentication_classes = ()
    throttle_classes = (AuthAttemptThrottle,)

    @extend_schema(responses={202: RegistrationAcceptedSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        registration.register(request._request, serializer.validated_data["email"])
        detail = _("We sent an e-mail to this address. Follow the link in it to finish creating the account.")
        return Response({"detail": detail}, status=status.HTTP_202_ACCEPTED)


class GuardedSignInMixin:
    """A sign-in door: failures are counted and back off per account
    (``ratelimits.SignInAttempt``); a refused attempt is a 429 with ``Retry-After``."""

    account_field: str | None = "email"
    throttle_classes = ()  # the attempt below is the throttle: it needs the outcome

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = request.data
        account = data.get(self.account_field) if self.account_field and isinstance(data, Mapping) else None
        attempt = ratelimits.SignInAttempt.begin(request._request, account)
        if attempt.refusal is not None:
            ratelimits.note_limit(request, attempt.refusal)
            raise exceptions.Throttled(wait=attempt.refusal.reset, detail=request._request.sign_in_refusal)
        try:
            response = super().post(request, *args, **kwargs)  # type: ignore[misc]
        except Exception:
            attempt.failed()
            raise
        if response.status_code == status.HTTP_200_OK:
            attempt.succeeded()
        else:
            attempt.failed()
        return response


@extend_schema_view(post=extend_schema(summary="Sign in: get JWTs"))
class TokenView(GuardedSignInMixin, TokenObtainPairView):
    """Email and password → a short-lived access JWT and a refresh JWT."""

    serializer_class = FamilyTokenObtainPairSerializer


@extend_schema_view(post=extend_schema(summary="Refresh the JWTs"))
class TokenRefresh(GuardedSignInMixin, TokenRefreshView):
    """A refresh JWT → a new access JWT and a new refresh JWT; the old refresh token stops working.
    Sending an already used refresh token again revokes every token rotated from it, and
    a password change revokes them all."""

    serializer_class = FamilyTokenRefreshSerializer

    account_field = None  # failures counted per address only


@extend_schema_view(get=extend_schema(summary="Get the signed-in account"))
class MeView(generics.RetrieveAPIView):
    """The signed-in account."""

    serializer_class = UserSerializer

    def get_object(self) -> Any:
        return self.request.user


@extend_schema_view(
    list=extend_schema(summary="List your personal API tokens"),
    create=extend_schema(summary="Create a personal API token"),
    destroy=extend_schema(summary="Revoke a personal API token"),
)
class PersonalTokenViewSet(
    mixins.ListModelMixin, mixins.CreateModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet
):
    """Personal API tokens for long-running scripts: created here, shown once, revoked with DELETE."""

    serializer_class = PersonalTokenSerializer

    def get_queryset(self) -> Any:
        return PersonalToken.objects.filter(user=self.request.user).prefetch_related("templates")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        expires_at = serializer.validated_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise serializers.ValidationError({"expires_at": [_("Must be in the future.")]})
        token, raw = PersonalToken.issue(
            request.user,
            serializer.validated_data["name"],
            expires_at,
            serializer.validated_data.get("templates", ()),
            scope=serializer.validated_data["scope"],
            workspace=serializer.validated_data.get("workspace"),
        )
        data = self.get_serializer(token, context={**self.get_serializer_context(), "raw_token": raw}).data
        return Response(data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: PersonalToken) -> None:
        instance.revoke()  # kept, revoked, so its use shows up as revoked rather than unknown
