"""The coach's page, served by the status API at ``/`` (static files in
``daemon/web``: no build step, no third-party script), and the JSON API it
reads under ``/api/``:

    GET  /api/now                 state, the last words heard and said, timers, the led session
    GET  /api/log?exercise=       entries by day (the last 90), the exercises logged
    GET  /api/chart/NAME.svg      volume, best (estimated one-rep max), distance, latency (``charts``)
    GET  /api/you                 facts, profile, the plan
    GET  /api/turns               the last 100 turns since the start, their latency, p50 and p95
    POST /api/fact/delete         {"id": N}: a fact forgotten
    POST /api/log/delete          {"id": N}: a log entry removed
    POST /api/profile             {"key": K, "value": V}: an interview answer changed

Live updates come over ``/events`` (SSE); nothing polls. Every ``/api/``
request carries the page's token in ``X-Coach-Token`` (a header no other origin
can send without a CORS preflight, which is never granted); the status API's
guard checks Host and Origin first (``status.StatusApi.refusal``).
"""

from __future__ import annotations

import hmac
import json
import math
import statistics
import time
from collections import OrderedDict
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from aiohttp import web

from assistant.core.bus import Bus
from assistant.core.errors import StoreError
from assistant.core.events import Event, ResponseChunk, ResponseGenerated, SpeakingStarted, SpeechDetected
from assistant.daemon import charts
from assistant.skills import interview
from assistant.skills.workout_replies import describe

if TYPE_CHECKING:
    from assistant.daemon.app import Assistant

LOG_DAYS = 90  # the log view's reach
TURNS_SHOWN = 100
HEADERS = {  # every response of the page and its API
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC = {"app.js": "text/javascript", "pair.js": "text/javascript", "style.css": "text/css",
          "icon.svg": "image/svg+xml"}


def _id(body: dict[str, Any]) -> int | None:
    """The row ``body`` names: a whole number a database row can have (not true, not 1.5, not 10**30)."""
    row = body.get("id")
    return row if type(row) is int and 0 < row < 2**63 else None


def _percentiles(ordered: list[float]) -> tuple[float, float]:
    """The median and the 95th percentile (nearest rank) of ``ordered`` (0, 0 when empty)."""
    if not ordered:
        return 0.0, 0.0
    return round(statistics.median(ordered), 1), ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]


def _unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return False
    return True


def json_error(status: int, message: str) -> web.Response:
    """A refusal, as JSON (the status API's guard adds ``HEADERS`` to every response)."""
    return web.json_response({"error": message}, status=status)


class Page:
    def __init__(self, bus: Bus, token: str, state: Any):
        """``token``: the page's, written into it; ``state``: the status API's
        metrics (listening, hearing, thinking ...)."""
        self.token = token
        self.state = state
        self.coach: Assistant | None = None  # once the models are loaded
        self.heard = self.said = ""
        self.turns: OrderedDict[int, dict[str, Any]] = OrderedDict()  # the last TURNS_SHOWN, as they went
        bus.observe(self._observe)

    def _observe(self, at: float, event: Event) -> None:
        """The words heard and said, and each turn's latency from the end of its speech
        (or its typing) to its first word and to its first sound."""
        if isinstance(event, SpeechDetected):
            self.heard = event.text
            self.turns[event.utterance_id] = {"heard": event.text, "reply": "", "room": event.room,
                                              "ended_at": event.speech_ended_at, "first_word_ms": None,
                                              "first_audio_ms": None}
            while len(self.turns) > TURNS_SHOWN:
                self.turns.popitem(last=False)
        elif (turn := self.turns.get(getattr(event, "turn_id", -1))) is not None:
            if isinstance(event, ResponseChunk) and event.text and turn["first_word_ms"] is None:
                turn["first_word_ms"] = round((at - turn["ended_at"]) * 1000, 1)
            elif isinstance(event, SpeakingStarted) and turn["first_audio_ms"] is None:
                turn["first_audio_ms"] = round((at + event.latency_s - turn["ended_at"]) * 1000, 1)
            elif isinstance(event, ResponseGenerated):
                turn["reply"] = event.text
        if isinstance(event, ResponseGenerated):
            self.said = event.text

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_get("/static/{name}", self.static)
        app.router.add_get("/api/now", self.api(self.now, starting=True))
        app.router.add_get("/api/log", self.api(self.log))
        app.router.add_get("/api/chart/{name}.svg", self.api(self.chart))
        app.router.add_get("/api/you", self.api(self.you))
        app.router.add_get("/api/turns", self.api(self.get_turns))
        app.router.add_post("/api/fact/delete", self.api(self.delete_fact))
        app.router.add_post("/api/log/delete", self.api(self.delete_entry))
        app.router.add_post("/api/profile", self.api(self.set_answer))

    # -- the page itself ---------------------------------------------------------------

    @staticmethod
    def text(name: str) -> str:
        """One of the page's files (``daemon/web``)."""
        return (resources.files("assistant.daemon") / "web" / name).read_text()

    async def index(self, request: web.Request) -> web.Response:
        html = self.text("index.html").replace("{{token}}", self.token)
        return web.Response(text=html, content_type="text/html")

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC:
            return json_error(404, f"no {name}")
        return web.Response(text=self.text(name), content_type=STATIC[name])

    def api(self, handler: Any, starting: bool = False) -> Any:
        """``handler`` behind the token check, JSON in (POST) and out, the coach
        ready (or, ``starting``, not yet: then it is given None)."""

        async def checked(request: web.Request) -> web.StreamResponse:
            given = request.headers.get("X-Coach-Token", "").encode("utf-8", "surrogateescape")
            if not hmac.compare_digest(given, self.token.encode()):
                return json_error(401, "missing or wrong X-Coach-Token: use the page the coach serves at /")
            if request.method == "POST" and request.content_type != "application/json":
                return json_error(415, "JSON only")
            if self.coach is None and not starting:
                return json_error(503, "the coach is still starting")
            body: dict[str, Any] = {}
            if request.method == "POST":
                try:
                    body = json.loads(await request.read())
                except (ValueError, UnicodeDecodeError, RecursionError):
                    return json_error(400, "body is not JSON")
                if not isinstance(body, dict):
                    return json_error(400, "body is not a JSON object")
            try:
                return await handler(request, self.coach, body)
            except StoreError as err:
                return json_error(503, str(err))

        return checked

    # -- reading -----------------------------------------------------------------------

    async def now(self, request: web.Request, coach: Assistant | None, body: dict) -> web.Response:
        if coach is None:
            return self._json({"state": self.state.state, "heard": "", "said": "", "timers": [], "session": None,
                               "clock": "wall"})
        timers = []
        for running in coach.timers.timers.values():
            paused = running.paused_at is not None
            left = running.ends_at() - (coach.timers.now() if running.paused_at is None else running.paused_at)
            timers.append({"id": running.id, "kind": running.plan.kind, "label": running.plan.label,
                           "what": running.describe(), "left_s": round(max(0.0, left), 3), "paused": paused,
                           "room": running.room})
        lead = coach.leader.lead
        session = None
        if lead is not None and not lead.finished and (target := lead.target) is not None:
            session = {"exercise": target.exercise, "set": lead.set_no, "sets": target.sets,
                       "reps": target.reps, "what": lead.announce()}
        return self._json({"state": self.state.state, "heard": self.heard, "said": self.said, "timers": timers,
                           "session": session, "clock": coach.timers.clock})

    async def log(self, request: web.Request, coach: Assistant, body: dict) -> web.Response:
        exercise = request.query.get("exercise", "")
        entries = coach.notebook.workouts(time.time() - LOG_DAYS * 86400)
        days: dict[str, list[dict[str, Any]]] = {}
        for logged in reversed(entries):
            if exercise and logged.entry.exercise != exercise:
                continue
            day = datetime.fromtimestamp(logged.at).date().isoformat()
            days.setdefault(day, []).append({"id": logged.id, "at": logged.at, "exercise": logged.entry.exercise,
                                             "text": describe(logged.entry)})
        exercises = sorted({e.entry.exercise for e in entries})
        return self._json({"days": [{"day": d, "entries": e} for d, e in days.items()], "exercises": exercises})

    async def chart(self, request: web.Request, coach: Assistant, body: dict) -> web.Response:
        name, exercise = request.match_info["name"], request.query.get("exercise", "")
        if name == "latency":
            heard = [t for t in self.turns.values() if t["first_audio_ms"] is not None]
            p50, p95 = _percentiles(sorted(t["first_audio_ms"] for t in heard))
            svg = charts.lines(f"From the end of speech, last {len(heard)} turns", {
                "first sound": [(f"{i + 1}", t["first_audio_ms"]) for i, t in enumerate(heard)],
                "first word": [(f"{i + 1}", t["first_word_ms"] or 0.0) for i, t in enumerate(heard)]}, "ms",
                marks=[("p50", p50), ("p95", p95)] if heard else [])
        elif name == "distance":
            svg = charts.bars("Distance per week", charts.weekly_distance(coach.notebook.workouts(0.0)), "km")
        elif name in ("volume", "best") and exercise:
            entries = coach.notebook.workouts_of(exercise)
            if name == "volume":
                points, unit = charts.weekly_volume(entries, exercise)
                svg = charts.bars(f"{exercise.capitalize()}: volume per week", points, unit)
            else:
                svg = charts.lines(f"{exercise.capitalize()}: best estimated one-rep max",
                                   {"one-rep max": charts.best_per_day(entries, exercise)}, "kg")
        else:
            return json_error(404, f"no chart {name!r} (volume and best need ?exercise=)")
        return web.Response(text=svg, content_type="image/svg+xml")

    async def you(self, request: web.Request, coach: Assistant, body: dict) -> web.Response:
        facts = [{"id": f.id, "text": f.text, "at": f.at} for f in coach.notebook.facts()]
        profile = coach.notebook.profile()
        answers = [{"key": q.key, "label": q.label, "value": profile.get(q.key, "")} for q in interview.QUESTIONS]
        plan = coach.coaching.planner.current()
        return self._json({"facts": facts, "profile": answers,
                           "plan": coach.coaching.planner.show("week") if plan is not None else ""})

    async def get_turns(self, request: web.Request, coach: Assistant, body: dict) -> web.Response:
        turns = list(self.turns.values())
        heard = sorted(t["first_audio_ms"] for t in turns if t["first_audio_ms"] is not None)
        p50, p95 = _percentiles(heard)
        return self._json({"turns": turns, "p50_ms": p50 if heard else None, "p95_ms": p95 if heard else None})

    # -- changing --------------------------------------------------------------------------

    async def delete_fact(self, request: web.Request, coach: Assistant, body: dict) -> web.Response:
        if (fact_id := _id(body)) is None:
            return json_error(400, 'give the fact as {"id": N}')
        return self._done(coach.coaching.forget_fact(fact_id), f"no fact {fact_id}")

    async def delete_entry(self, request: web.Request, coach: Assistant, body: dict) -> web.Response:
        if (entry_id := _id(body)) is None:
            return json_error(400, 'give the entry as {"id": N}')
        return self._done(coach.coaching.remove_entry(entry_id), f"no log entry {entry_id}")

    async def set_answer(self, request: web.Request, coach: Assistant, body: dict) -> web.Response:
        key, value = body.get("key"), body.get("value")
        if key not in interview.KEYS or not isinstance(value, str) or len(value) > 500 or not _unicode(value):
            return json_error(400, f'give {{"key": one of {", ".join(interview.KEYS)}, "value": "..."}}')
        coach.coaching.set_answer(key, value.strip())
        return self._json({"ok": True})

    def _done(self, done: bool, missing: str) -> web.Response:
        return self._json({"ok": True}) if done else json_error(404, missing)

    @staticmethod
    def _json(data: dict[str, Any]) -> web.Response:
        return web.json_response(data)
