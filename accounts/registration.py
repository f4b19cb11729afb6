"""Registration that does not tell a stranger whether an address has an account.

The site and the API answer every well-formed registration the same way ("we sent you
an e-mail"), and the e-mail says what happened: a link that finishes creating a new
account, or, for an address that already has one, a note that it does. Both paths send
one message, so neither is measurably slower.

Registering asks for the address only; the password is chosen on the page the e-mailed
link opens (``finish``). Whoever registers an address is not necessarily its owner, and
a password chosen at registration would be the registrant's: when the owner followed
the genuine link, the account would be activated (and the owner signed in, so nothing
looks wrong) with a stranger's password. Only the person who reads the mailbox chooses
it. Until then the account is inactive (``awaiting_confirmation``) with an unusable
password, so nobody can sign in to it. Registering a pending address again sends a new
link and changes nothing: every link sent stays good until one of them is used (which
changes the password and so the token), so a stranger who registers the address cannot
cancel the owner's link either.
"""

from __future__ import annotations

import logging
import smtplib
from urllib.parse import urlencode

from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode

from .models import User

logger = logging.getLogger(__name__)


class ConfirmationTokenGenerator(PasswordResetTokenGenerator):
    """A link that works once: finishing the account (password, is_active) changes the
    hash. Valid for Django's PASSWORD_RESET_TIMEOUT (3 days)."""

    key_salt = "accounts.registration.ConfirmationTokenGenerator"

    def _make_hash_value(self, user: User, timestamp: int) -> str:  # type: ignore[override]
        return f"{user.pk}{user.password}{user.is_active}{user.awaiting_confirmation}{timestamp}{user.email}"


confirmation_tokens = ConfirmationTokenGenerator()


def register(request: HttpRequest, email: str, next_url: str = "") -> None:
    """Create a pending account (or send a pending one a new link), or tell an existing
    account's owner; by e-mail. No password is taken: see the module's docstring.
    ``next_url`` (a path on this site, checked by the caller) is where either e-mail's
    link leads afterwards: the page that sent the person to register."""
    email = User.objects.normalize_email(email).lower()
    existing = User.objects.filter(email__iexact=email).first()
    if existing is not None and not existing.awaiting_confirmation:
        sign_in_url = _with_next(_absolute(request, "accounts:login"), next_url)
        _send(request, existing, "already_registered", {"sign_in_url": sign_in_url})
        return
    user = existing
    if user is None:
        user = User(email=email, is_active=False, awaiting_confirmation=True)
        user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:
            return  # the same address registered concurrently: that registration sends the mail
    _send(request, user, "confirm", {"confirm_url": _with_next(confirmation_url(request, user), next_url)})


def confirmation_url(request: HttpRequest, user: User) -> str:
    uidb64 = urlsafe_base64_encode(force_bytes(user.pk))
    token = confirmation_tokens.make_token(user)
    return request.build_absolute_uri(reverse("accounts:confirm", kwargs={"uidb64": uidb64, "token": token}))


def _with_next(url: str, next_url: str) -> str:
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def pending_user_for(uidb64: str, token: str) -> User | None:
    """The account a confirmation link is for, if the link is (still) good."""
    try:
        pk = int(urlsafe_base64_decode(uidb64).decode())
    except (ValueError, UnicodeDecodeError, OverflowError):
        return None
    user = User.objects.filter(pk=pk, awaiting_confirmation=True).first()
    if user is None or not confirmation_tokens.check_token(user, token):
        return None
    return user


def finish(user: User, name: str, password: str) -> bool:
    """Activate a pending account with the password its mailbox's owner chose. False if
    it was finished meanwhile (the same link posted twice at once): only one wins."""
    with transaction.atomic():
        locked = User.objects.select_for_update().filter(pk=user.pk, awaiting_confirmation=True).first()
        if locked is None or locked.password != user.password:
            return False
        user.name = name
        user.set_password(password)
        user.is_active = True
        user.awaiting_confirmation = False
        user.save(update_fields=["name", "password", "is_active", "awaiting_confirmation"])
    return True


def _absolute(request: HttpRequest, url_name: str) -> str:
    return request.build_absolute_uri(reverse(url_name))


def _send(request: HttpRequest, user: User, kind: str, context: dict[str, str]) -> None:
    """One message in the request's language. A mail server that fails is logged, not
    shown: the answer must not differ, and the person can register again."""
    context = {**context, "user": user, "site": request.get_host()}
    subject = render_to_string(f"accounts/email/{kind}_subject.txt", context).strip()
    body = render_to_string(f"accounts/email/{kind}.txt", context)
    try:
        send_mail(subject, body, None, [user.email])
    except (smtplib.SMTPException, OSError):
        logger.exception("Could not send the %s e-mail for a registration", kind)
