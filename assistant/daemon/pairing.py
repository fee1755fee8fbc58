"""Pairing a screen on the LAN. When the status API listens beyond loopback
(``status_api.host`` with ``allow_remote``), a browser is served only once it
is paired: it opens ``/pair``, types the six-digit code the daemon prints at
start (and ``assistant diagnose`` shows), and gets a cookie (``HttpOnly``,
``SameSite=Strict``) that stays valid across restarts. The code is new at each
start; wrong codes are limited to ``TRIES`` a minute. An API client may send
the bearer token instead (``status_api.token_env``).

The code and the cookie's secret are kept in ``pairing.json`` beside the
history database, readable by its owner only."""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import time
from collections import deque
from pathlib import Path

from aiohttp import web

from assistant.core.config import Settings
from assistant.store.history import default_path

logger = logging.getLogger(__name__)

COOKIE = "coach_pair"
TRIES = 5  # wrong codes a minute, then /pair refuses every code (429) until the minute is over
KEPT_S = 365 * 86400  # a paired screen's cookie


def pairing_path(settings: Settings) -> Path:
    history = Path(settings.history.path).expanduser() if settings.history.path else default_path()
    return history.parent / "pairing.json"


def stored_code(path: Path) -> str | None:
    """The running daemon's code (for ``diagnose``), or None."""
    try:
        return str(json.loads(path.read_text())["code"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


class Pairing:
    def __init__(self, path: Path):
        """A new code; the secret kept from the last start (or made now)."""
        self.path = path
        secret = None
        try:
            secret = json.loads(path.read_text()).get("secret")
        except (OSError, ValueError, AttributeError):
            pass
        self.secret = secret if isinstance(secret, str) and len(secret) >= 32 else secrets.token_urlsafe(32)
        self.code = f"{secrets.randbelow(1_000_000):06d}"
        self._wrong: deque[float] = deque(maxlen=TRIES)  # when the last wrong codes came
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(descriptor, "w") as out:
                json.dump({"code": self.code, "secret": self.secret}, out)
        except OSError as err:  # pairing still works for this run; diagnose cannot show the code
            logger.warning("status API: cannot store the pairing code in %s: %s", path, err)

    @property
    def spoken(self) -> str:
        return f"{self.code[:3]} {self.code[3:]}"

    def paired(self, request: web.Request) -> bool:
        return hmac.compare_digest(request.cookies.get(COOKIE, "").encode(), self.secret.encode())

    def pair(self, code: object) -> tuple[int, str]:
        """(status, message) for a code given to /pair."""
        now = time.monotonic()
        if len(self._wrong) == TRIES and now - self._wrong[0] < 60:
            return 429, f"{TRIES} wrong codes in a minute: wait a minute, then type the code again"
        typed = "".join(ch for ch in str(code) if ch.isdigit())
        if not hmac.compare_digest(typed.encode(), self.code.encode()):
            self._wrong.append(now)
            return 403, "wrong code: it is in the coach's log, and in 'assistant diagnose'"
        return 200, "paired"

    def cookie(self, response: web.Response) -> web.Response:
        response.set_cookie(COOKIE, self.secret, max_age=KEPT_S, httponly=True, samesite="Strict", path="/")
        return response

    def routes(self, app: web.Application, page: str, headers: dict[str, str]) -> None:
        """``GET /pair`` (``page``: its HTML) and ``POST /pair`` {"code": "123456"}."""

        async def form(request: web.Request) -> web.Response:
            return web.Response(text=page, content_type="text/html", headers=headers)

        async def submit(request: web.Request) -> web.Response:
            if request.content_type != "application/json":
                return web.json_response({"error": 'JSON only: {"code": "123456"}'}, status=415, headers=headers)
            try:
                body = json.loads(await request.read())
            except (ValueError, UnicodeDecodeError):
                body = None
            status, message = self.pair(body.get("code") if isinstance(body, dict) else None)
            answer = web.json_response({"ok": True} if status == 200 else {"error": message}, status=status,
                                       headers=headers)
            if status == 200:
                logger.info("status API: a screen paired (%s)", request.remote)
                return self.cookie(answer)
            logger.warning("status API: a wrong pairing code from %s", request.remote)
            return answer

        app.router.add_get("/pair", form)
        app.router.add_post("/pair", submit)
