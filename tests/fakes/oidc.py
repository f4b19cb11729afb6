"""The test suite's OpenID Connect provider (``oidc_provider.mjs``, node-oidc-provider)
as a child process, and a person's trip through its login page without a browser."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import requests

from tests.conftest import BASE_DIR, ServiceProcess, _free_port

SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
CLIENT_ID = "promptlab-tests"
CLIENT_SECRET = "not-a-real-secret"  # the provider's, made up for the tests
PROVIDER_NAME = "Test ID"


class FakeOIDCProvider:
    def __init__(self, log_dir: Path, redirect_uris: list[str]) -> None:
        self.port = _free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        env = {
            "PATH": os.environ["PATH"],
            "OIDC_FAKE_PORT": str(self.port),
            "OIDC_FAKE_CLIENT_ID": CLIENT_ID,
            "OIDC_FAKE_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_FAKE_REDIRECT_URIS": ",".join(redirect_uris),
            "NODE_PATH": str(BASE_DIR / "node_modules"),
        }
        self.process = ServiceProcess(f"oidc-{self.port}", ["node", str(SCRIPT)], env, log_dir)
        self.process.wait_for(self._answers, timeout=30)

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def settings_env(self, **extra: str) -> dict[str, str]:
        """The environment variables that point PromptLab at this provider."""
        return {
            "OIDC_ISSUER": self.issuer,
            "OIDC_CLIENT_ID": CLIENT_ID,
            "OIDC_CLIENT_SECRET": CLIENT_SECRET,
            "OIDC_PROVIDER_NAME": PROVIDER_NAME,
            **extra,
        }

    def stop(self) -> None:
        self.process.stop()


def sign_in_at_provider(authorize_url: str, login: str) -> str:
    """Follow the provider's redirects from ``authorize_url``, fill its login page as
    ``login``, and return the URL it sends the browser back to (the client's callback)."""
    provider = urlsplit(authorize_url).netloc
    session = requests.Session()
    url, submitted = authorize_url, False
    for _ in range(10):
        response = session.get(url, allow_redirects=False, timeout=10)
        if response.status_code == 200 and not submitted:
            action = re.search(r'<form[^>]*action="([^"]+)"', response.text)
            assert action, f"no login form at {url}: {response.text[:500]}"
            response = session.post(
                urljoin(url, action.group(1)),
                data={"prompt": "login", "login": login, "password": "anything"},
                allow_redirects=False,
                timeout=10,
            )
            submitted = True
        assert response.status_code in (302, 303), f"{response.status_code} at {url}: {response.text[:500]}"
        url = urljoin(url, response.headers["Location"])
        if urlsplit(url).netloc != provider:
            return url
    raise AssertionError("the provider never sent the browser back")
