"""Pairing a screen on the LAN. When the status API listens beyond loopback
(``status_api.host`` with ``allow_remote``), a browser is served only once it
is paired: it opens ``/pair``, types the ten-digit code the daemon prints at
start (and ``assistant diagnose`` shows), and gets a cookie (``HttpOnly``,
``SameSite=Strict``) that stays valid across restarts. The code is new at each
start; wrong codes are limited to ``TRIES`` a minute from one address and
``ALL_TRIES`` from all (ten digits at 30 a minute: one chance in 230,000 a
day), so a guesser on the LAN neither finds it nor locks others out. An API
client may send the bearer token instead (``status_api.token_env``). Deleting
``pairing.json`` and restarting unpairs every screen.

The code and the cookie's secret are kept in ``pairing.json`` beside the
history database, readable by its owner only."""

from __future__ import annotations

import hmac
import json
import logging
import os
import secrets
import time
from collections import OrderedDict, deque
from pathlib import Path

from aiohttp import web

from assistant.core.config import Settings
from assistant.store.history import default_path

logger = logging.getLogger(__name__)

COOKIE = "coach_pair"
DIGITS = 10
TRIES = 5  # wrong codes a minute from one address, then /pair refuses it (429) until the minute is over
ALL_TRIES = 30  # ... and from every address together
ADDRESSES_KEPT = 256  # addresses whose wrong codes are counted, the most recent
KEPT_S = 365 * 86400  # a paired screen's cookie


def pairing_path(settings: Settings | None = None) -> Path:
    """``pairing.json`` beside the history database (the default one without ``settings``)."""
    history = Path(settings.history.path).expanduser() if settings and settings.history.path else default_path()
    return history.parent / "pairing.json"


def spoken(code: str) -> str:
    """"012 345 6789": how the code is shown."""
    return f"{code[:3]} {code[3:6]} {code[6:]}"


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
        self.code = f"{secrets.randbelow(10 ** DIGITS):0{DIGITS}d}"
        self._wrong: deque[float] = deque(maxlen=ALL_TRIES)  # when the last wrong codes came, from anyone
        self._wrong_from: OrderedDict[str, deque[float]] = OrderedDict()  # ... by address (bounded)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(descriptor, 0o600)  # a file already there keeps its mode otherwise
            with os.fdopen(descriptor, "w") as out:
                json.dump({"code": self.code, "secret": self.secret}, out)
        except OSError as err:  # pairing still works for this run; diagnose cannot show the code
            logger.warning("status API: cannot store the pairing code in %s: %s", path, err)

    @property
    def spoken(self) -> str:
        return spoken(self.code)

    def paired(self, request: web.Request) -> bool:
        given = request.cookies.get(COOKIE, "").encode("utf-8", "surrogateescape")
        return hmac.compare_digest(given, self.secret.encode())

    def pair(self, code: object, address: str) -> tuple[int, str]:
        """(status, message) for a code given to /pair from ``address``."""
        now = time.monotonic()
        mine = self._wrong_from.setdefault(address, deque(maxlen=TRIES))
        self._wrong_from.move_to_end(address)
        while len(self._wrong_from) > ADDRESSES_KEPT:
            self._wrong_from.popitem(last=False)
        for wrong, most in ((mine, TRIES), (self._wrong, ALL_TRIES)):
            if len(wrong) == most and now - wrong[0] < 60:
                return 429, f"{len(wrong)} wrong codes in a minute: wait a minute, then type the code again"
        typed = "".join(ch for ch in str(code)[:64] if ch in "0123456789")
        if not hmac.compare_digest(typed.encode(), self.code.encode()):
            mine.append(now)
            self._wrong.append(now)
            return 403, "wrong code: it is in the coach's log, and in 'assistant diagnose'"
        return 200, "paired"

    def cookie(self, response: web.Response) -> web.Response:
        response.set_cookie(COOKIE, self.secret, max_age=KEPT_S, httponly=True, samesite="Strict", path="/")
        return response

    def routes(self, app: web.Application, page: str) -> None:
        """``GET /pair`` (``page``: its HTML) and ``POST /pair`` {"code": "123456"}."""

        async def form(request: web.Request) -> web.Response:
            return web.Response(text=page, content_type="text/html")

        async def submit(request: web.Request) -> web.Response:
            if request.content_type != "application/json":
                return web.json_response({"error": 'JSON only: {"code": "123456"}'}, status=415)
            try:
                body = json.loads(await request.read())
            except (ValueError, UnicodeDecodeError, RecursionError):
                body = None
            status, message = self.pair(body.get("code") if isinstance(body, dict) else None, request.remote or "")
            answer = web.json_response({"ok": True} if status == 200 else {"error": message}, status=status)
            if status == 200:
                logger.info("status API: a screen paired (%s)", request.remote)
                return self.cookie(answer)
            logger.warning("status API: a wrong pairing code from %s", request.remote)
            return answer

        app.router.add_get("/pair", form)
        app.router.add_post("/pair", submit)
