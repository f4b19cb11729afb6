"""What accounts tells the layers above it (they listen; accounts imports none of them)."""

from __future__ import annotations

from django.dispatch import Signal

# A person signed in through the API with their password (POST auth/token): the site's
# and the admin's sign-ins send Django's user_logged_in, which a session needs and JWTs
# don't. Sent with ``request`` and ``user``.
signed_in_through_api = Signal()

# Tokens revoked in bulk (a new password ends them all), which sends no post_save. Sent
# with ``user``, ``tokens`` (the PersonalToken rows, revoked_at set) and ``reason``.
tokens_revoked = Signal()
