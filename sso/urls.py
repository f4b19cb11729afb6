from __future__ import annotations

from django.urls import path

from . import views

app_name = "sso"

urlpatterns = [
    path("begin/", views.BeginSignIn.as_view(), name="begin"),
    # The redirect URI registered with the provider: <site>/sso/callback/.
    path("callback/", views.FinishSignIn.as_view(), name="callback"),
]
