"""The status API against a hostile web page on the same machine: forged Host
(DNS rebinding), foreign Origin, "simple" text/plain requests, a missing token,
oversized bodies. A real aiohttp server on loopback, real HTTP requests; each
refusal is checked to have said nothing and stored nothing."""

import asyncio
import json
import socket

import httpx
import pytest
from test_turns import Canned, service

from assistant.core.config import StatusApiConfig
from assistant.core.errors import ConfigError
from assistant.core.events import EventName, SpeechStarted
from assistant.daemon.status import CLIENT_QUEUE, StatusApi

SAY = {"text": "Give me one tip for a good squat."}
pytestmark = pytest.mark.asyncio(loop_scope="session")  # the loop of the fixture that starts the server


@pytest.fixture
async def api(tmp_path, monkeypatch):
    monkeypatch.setenv("COACH_TOKEN", "s3cret-token")

    async def start(**cfg):
        bus, store, llm_service, tally = service(tmp_path, embedded=Canned())
        status = StatusApi(StatusApiConfig(enabled=True, port=0, **cfg), bus, llm_service.accepts,
                           pairing=tmp_path / "pairing.json")
        await status.start()
        runner = asyncio.ensure_future(llm_service.run())
        started.append((status, runner, store))
        status.tally, status.store, status.llm = tally, store, llm_service
        status.base = f"http://127.0.0.1:{status.port}"
        return status

    started: list = []
    yield start
    for status, runner, store in started:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        await status.close()
        store.close()


async def nothing_said_or_stored(status) -> None:
    await asyncio.sleep(0.2)
    assert status.tally.names[EventName.SPEECH_DETECTED] == 0
    assert status.store.flush(5) and status.store.last(10) == []


@pytest.mark.parametrize("headers", [
    {"Host": "evil.example:{port}"},  # DNS rebinding: a hostile name that resolves to 127.0.0.1
    {"Host": "127.0.0.1:1"},  # another port
    {"Host": "localhost.evil.example:{port}"},
    {"Origin": "http://evil.example"},
    {"Origin": "null"},  # a sandboxed iframe or a file:// page
    {"Origin": "https://127.0.0.1.evil.example"},
    {"Origin": "http://localhost:3000"},  # a page this machine serves on another port: another origin
], ids=["foreign-host", "wrong-port", "lookalike-host", "foreign-origin", "null-origin", "lookalike-origin",
        "another-local-origin"])
async def test_requests_from_elsewhere_are_refused_with_403(api, headers):
    status = await api()
    headers = {k: v.format(port=status.port) for k, v in headers.items()}
    async with httpx.AsyncClient(base_url=status.base, timeout=10) as client:
        for method, path in (("GET", "/health"), ("GET", "/events"), ("GET", "/metrics"), ("POST", "/say")):
            response = await client.request(method, path, headers=headers, json=SAY)
            assert response.status_code == 403, (method, path)
            assert "not allowed" in response.json()["error"]
    await nothing_said_or_stored(status)


async def test_a_simple_cross_origin_post_cannot_make_the_coach_speak(api):
    status = await api()
    async with httpx.AsyncClient(base_url=status.base, timeout=10) as client:
        # fetch(url, {method: "POST", mode: "no-cors", body: "..."}) from a page: text/plain, no preflight
        plain = await client.post("/say", content=SAY["text"], headers={"Content-Type": "text/plain;charset=UTF-8"})
        form = await client.post("/say", data={"text": SAY["text"]})
        assert (plain.status_code, form.status_code) == (415, 415) and "application/json" in plain.json()["error"]
        for bad in ({"text": 5}, {"text": ["a"]}, ["text"], {"text": "   "}, {"text": "\ud800 hi"}):
            response = await client.post("/say", content=json.dumps(bad),  # "\ud800" escaped, as a client sends it
                                         headers={"Content-Type": "application/json"})
            assert response.status_code == 400, bad
        big = await client.post("/say", json={"text": "x" * 20_000})
        assert big.status_code == 413
        assert (await client.get("/nope")).status_code == 404
    await nothing_said_or_stored(status)


async def test_a_loopback_json_say_is_answered_and_stored(api):
    status = await api()
    async with httpx.AsyncClient(base_url=status.base, timeout=10) as client:
        for host in (f"127.0.0.1:{status.port}", f"localhost:{status.port}", f"[::1]:{status.port}"):
            response = await client.post("/say", json=SAY, headers={"Host": host, "Origin": f"http://{host}"})
            assert response.status_code == 202
    async with asyncio.timeout(30):
        await status.llm.join()
    assert status.tally.names[EventName.RESPONSE_GENERATED] == 3
    assert status.store.flush(5) and [t.heard for t in status.store.last(10)] == [SAY["text"]] * 3


async def test_with_a_token_every_request_needs_it(api):
    status = await api(token_env="COACH_TOKEN", allowed_hosts=("coach.lan",))
    async with httpx.AsyncClient(base_url=status.base, timeout=10) as client:
        for auth in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"}):
            assert (await client.get("/health", headers=auth)).status_code == 401
            assert (await client.post("/say", json=SAY, headers=auth)).status_code == 401
        await nothing_said_or_stored(status)
        good = {"Authorization": "Bearer s3cret-token", "Host": "coach.lan"}
        assert (await client.get("/health", headers=good)).status_code == 200
        assert (await client.post("/say", json=SAY, headers=good)).status_code == 202


async def test_a_token_variable_that_is_not_set_is_a_config_error(tmp_path, monkeypatch):
    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    bus = service(tmp_path)[0]
    with pytest.raises(ConfigError, match="status_api.token_env: the environment variable NO_SUCH_TOKEN_VAR"):
        StatusApi(StatusApiConfig(enabled=True, port=0, token_env="NO_SUCH_TOKEN_VAR"), bus)


async def test_a_client_that_never_reads_events_holds_a_bounded_queue(api):
    status = await api()
    reader = socket.create_connection(("127.0.0.1", status.port))
    reader.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    reader.sendall(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{status.port}\r\n\r\n".encode())
    for _ in range(100):
        if status.clients:
            break
        await asyncio.sleep(0.05)
    for i in range(20_000):
        status.bus.emit(SpeechStarted(i, float(i)))
        if i % 500 == 0:
            await asyncio.sleep(0)  # let the server write what the socket takes
    assert [queue.qsize() <= CLIENT_QUEUE for queue in status.clients] == [True]
    reader.close()


async def test_a_taken_port_is_one_config_error(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    bus = service(tmp_path)[0]
    with pytest.raises(ConfigError, match=r"status_api.port: cannot listen on 127.0.0.1:\d+: .*in use"):
        await StatusApi(StatusApiConfig(enabled=True, port=holder.getsockname()[1]), bus).start()
    holder.close()



async def test_health_says_when_a_lost_device_is_reopening():  # async, as the module marks it
    from assistant.core.events import ErrorOccurred, Listening, SpeakingFinished
    from assistant.daemon.status import Metrics

    metrics = Metrics()
    metrics(0.0, Listening("microphone"))
    metrics(1.0, ErrorOccurred("llm", "server down"))
    assert metrics.state == "listening" and metrics.errors == 1  # not a device: still listening
    metrics(2.0, ErrorOccurred("playback", "speaker 'x': stopped playing (device gone?)"))
    metrics(2.1, SpeakingFinished(1, interrupted=True, audio_s=0.4))  # the reply it cut short ends
    assert metrics.state == "reopening audio" and metrics.errors == 2
    metrics(5.0, Listening("microphone"))
    assert metrics.state == "listening"


async def test_the_page_is_served_with_its_token_and_a_strict_policy_and_its_api_needs_the_token(api):
    """``/``: the page, its token in it, a Content-Security-Policy without inline
    script, no framing; its script and style the same; ``/api/`` refuses a
    request without the token (401), answers 503 until the coach is loaded,
    takes JSON only; nothing else is served from ``/static/``."""
    status = await api()
    async with httpx.AsyncClient(base_url=status.base, timeout=10) as client:
        page = await client.get("/")
        assert page.status_code == 200 and f'content="{status.page.token}"' in page.text
        policy = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy and "frame-ancestors 'none'" in policy
        assert page.headers["X-Frame-Options"] == "DENY" and page.headers["X-Content-Type-Options"] == "nosniff"
        for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
            served = await client.get(f"/static/{name}")
            assert served.status_code == 200 and served.headers["Content-Type"].startswith(kind)
            assert served.headers["Cross-Origin-Resource-Policy"] == "same-origin"
        assert (await client.get("/static/../status.py")).status_code == 404
        assert (await client.get("/static/index.html")).status_code == 404
        assert (await client.get("/api/you")).status_code == 401
        token = {"X-Coach-Token": status.page.token}
        assert (await client.get("/api/you", headers=token)).status_code == 503  # no coach in this test
        ours = {**token, "Origin": status.base}
        refused = await client.post("/api/fact/delete", content=b'{"id": 1}',
                                    headers={**ours, "Content-Type": "text/plain"})
        assert refused.status_code == 415
        no_origin = await client.post("/api/fact/delete", json={"id": 1}, headers=token)
        assert no_origin.status_code == 403  # every browser sends its Origin with a change
        nested = await client.post("/say", content=b"[" * 5000 + b"]" * 5000,
                                   headers={"Content-Type": "application/json"})
        assert nested.status_code == 400  # too deep for the parser: not JSON we take, and no traceback
        odd = await client.get("/api/you", headers={"X-Coach-Token": b"\xff\xfe", "Authorization": b"\xff"})
        assert odd.status_code in (400, 401)  # refused, never a 500
        health = await client.get("/health")
        assert health.headers["Content-Security-Policy"] == policy  # every response


async def test_a_question_while_the_coach_loads_is_refused_not_lost(tmp_path):
    """Before the coach is wired (its models loading), /say answers 503: the
    question would otherwise reach a bus nobody answers on yet."""
    bus = service(tmp_path)[0]
    said: list = []
    bus.on(EventName.SPEECH_DETECTED, said.append)
    status = StatusApi(StatusApiConfig(enabled=True, port=0), bus)
    await status.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{status.port}", timeout=10) as client:
            response = await client.post("/say", json=SAY)
        assert response.status_code == 503 and "starting" in response.json()["error"]
        assert said == []
    finally:
        await status.close()


async def test_beyond_loopback_a_screen_must_pair_with_the_code_and_guessing_is_limited(tmp_path):
    """status_api.host beyond loopback: nothing is served to a browser that has
    not paired (the page sends it to /pair); the code from the log pairs it (a
    cookie, HttpOnly, SameSite=Strict); five wrong codes in a minute stop even
    the right one."""
    from assistant.daemon.pairing import TRIES

    bus = service(tmp_path)[0]
    status = StatusApi(StatusApiConfig(enabled=True, host="0.0.0.0", allow_remote=True, port=0), bus,
                       pairing=tmp_path / "pairing.json")
    await status.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{status.port}", timeout=10) as client:
            page = await client.get("/")
            assert page.status_code == 303 and page.headers["Location"] == "/pair"
            for path in ("/api/now", "/events", "/health"):
                assert (await client.get(path)).status_code == 401, path
            assert (await client.post("/say", json=SAY)).status_code == 401
            form = await client.get("/pair")
            assert form.status_code == 200 and "/static/pair.js" in form.text
            assert (await client.get("/static/pair.js")).status_code == 200
            code = status.pairing.code
            wrong = f"{(int(code) + 1) % 10 ** len(code):0{len(code)}d}"
            ours = {"Origin": f"http://127.0.0.1:{status.port}"}
            assert (await client.post("/pair", json={"code": code})).status_code == 403  # no Origin: refused
            assert (await client.post("/pair", json={"code": wrong}, headers=ours)).status_code == 403
            paired = await client.post("/pair", json={"code": status.pairing.spoken}, headers=ours)
            assert paired.status_code == 200
            cookie = paired.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            assert (await client.get("/")).status_code == 200  # the cookie, from here on
            assert (await client.get("/api/now", headers={"X-Coach-Token": status.page.token})).status_code == 200
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{status.port}", timeout=10) as guesser:
            ours = {"Origin": f"http://127.0.0.1:{status.port}"}
            for _ in range(TRIES - 1):
                assert (await guesser.post("/pair", json={"code": wrong}, headers=ours)).status_code == 403
            limited = await guesser.post("/pair", json={"code": code}, headers=ours)
            assert limited.status_code == 429  # five wrong in a minute from this address: even the right one waits
            assert (await guesser.get("/api/now")).status_code == 401
    finally:
        await status.close()
