"""What an adversarial user found, each case reproduced on the real command:
bad input ends in one line and exit 2; every question gets an answer (or the
apology) and a stored row; no traceback in the log."""

import asyncio
import json
import logging
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest
from aiohttp import web
from helpers import ROOT, run_cli, write_config
from servers import free_port, ollama
from test_daemon import daemon, read_events, silence, wait_event

from assistant.core.bus import Bus
from assistant.core.config import EndpointConfig, LlmConfig, LlmRetries, LlmTimeouts
from assistant.core.events import EventName

SAMPLE = ROOT / "samples" / "question.wav"


def one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:abc", "http://[::1"])
def test_a_url_that_cannot_work_is_one_line_and_exit_2(tmp_path, url):
    config = write_config(tmp_path / "c.yaml", f"llm:\n  endpoints: [{{url: '{url}'}}]\n")
    for args in (("run", "--config", config, "--input", SAMPLE, "--output", tmp_path / "o.wav"),
                 ("ask", "--config", config, "hello")):
        result = run_cli(*args, timeout=60)
        assert result.code == 2 and "llm.endpoints[0].url: not a URL" in one_line(result)
    flag = run_cli("ask", "--config", "/dev/null", "--llm-url", url, "hello", timeout=60)
    assert flag.code == 2 and "--llm-url" in one_line(flag)
    checked = run_cli("diagnose", "--json", "--config", config, timeout=120)
    config_check = [c for c in json.loads(checked.stdout) if c["name"] == "config"][0]
    assert config_check["status"] == "fail" and "llm.endpoints[0].url" in config_check["detail"]
    assert "ExceptionGroup" not in checked.stdout + checked.stderr


def test_a_second_daemon_on_a_taken_status_port_is_one_line_and_exit_2(tmp_path):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    config = write_config(tmp_path / "c.yaml", f"status_api: {{enabled: true, port: {port}}}\n")
    try:
        result = run_cli("run", "--config", config, "--input", SAMPLE, "--output", tmp_path / "o.wav", timeout=60)
    finally:
        holder.close()
    assert result.code == 2 and f"status_api.port: cannot listen on 127.0.0.1:{port}" in one_line(result)


def test_sigterm_while_the_models_load_stops_cleanly(tmp_path):
    events = tmp_path / "e.jsonl"
    proc = daemon("run", "--input", silence(tmp_path / "s.wav", 5), "--output", tmp_path / "o.wav", "--events",
                  events, state=tmp_path)
    try:
        time.sleep(1.0)  # inside start-up: imports, then the models
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    names = [e["event"] for e in read_events(events)]
    assert names == [] or names[-1] == "SYSTEM_STOPPED"  # the event log may not be open yet at 1 s
    events = tmp_path / "e2.jsonl"
    proc = daemon("run", "--input", silence(tmp_path / "s.wav", 5), "--output", tmp_path / "o.wav", "--events",
                  events, state=tmp_path)
    try:
        deadline = time.monotonic() + 30
        while not events.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGTERM)  # the event log is open: the models are loading
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stopped = read_events(events)
    assert stopped[-1]["event"] == "SYSTEM_STOPPED" and stopped[-1]["data"]["reason"] == "SIGTERM"


def test_a_locked_history_file_delays_the_row_not_the_answer(tmp_path):
    """Another process holds BEGIN EXCLUSIVE on the history while a question
    comes, and lets go only 1.5 s after the answer (60 s at most): the answer
    does not wait for the lock, however long the models take to load."""
    state = tmp_path / "state"
    path = state / "assistant" / "history.sqlite3"
    assert run_cli("history", state=state).code == 0  # creates the database
    ready, released, events = tmp_path / "locked", tmp_path / "released", tmp_path / "e.jsonl"
    locker = subprocess.Popen([sys.executable, "-c", (
        "import sqlite3, sys, time, pathlib\n"
        f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "db.execute('BEGIN EXCLUSIVE')\n"
        f"pathlib.Path({str(ready)!r}).touch()\n"
        f"events, deadline = pathlib.Path({str(events)!r}), time.monotonic() + 60\n"
        "while time.monotonic() < deadline and not (events.exists() and 'RESPONSE_GENERATED' in events.read_text()):\n"
        "    time.sleep(0.05)\n"
        "time.sleep(1.5)\n"
        f"pathlib.Path({str(released)!r}).write_text(repr(time.time()))\n"
        "db.execute('COMMIT')\n")])
    try:
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        config = write_config(tmp_path / "c.yaml", "llm:\n  endpoints: []\n  options: {max_tokens: 60, seed: 1}\n"
                                                   "  knowledge: false\n")
        result = run_cli("run", "--config", config, "--input", SAMPLE, "--output", tmp_path / "o.wav",
                         events=events, state=state, timeout=180)
    finally:
        locker.wait(timeout=90)
    assert result.code == 0 and "Traceback" not in result.stderr, result.stderr
    generated = result.named("RESPONSE_GENERATED")
    assert len(generated) == 1 and generated[0]["data"]["api"] == "embedded" and generated[0]["data"]["text"]
    errors = [e["data"] for e in result.named("ERROR_OCCURRED")]
    assert [e["source"] for e in errors] == ["history"] and "locked" in errors[0]["message"]
    assert generated[0]["time"] < float(released.read_text()) - 1  # answered while the lock was held
    turns = json.loads(run_cli("history", "--json", state=state).stdout)
    assert [(t["heard"].lower().startswith("how long"), t["reply"]) for t in turns] == [
        (True, generated[0]["data"]["text"])]


def test_a_burst_of_500_say_requests_gets_500_answers_and_500_rows(tmp_path):
    """The daemon, from a file (every question answered in turn), a fast loopback
    LLM, the real TTS into a WAV."""
    port = free_port()
    state = tmp_path / "state"
    with ollama(canned="Rest two minutes.", names=("coach",)) as server:
        config = write_config(tmp_path / "c.yaml", (
            f"llm:\n  endpoints: [{{url: '{server.url}', models: [coach]}}]\n"
            f"status_api: {{enabled: true, port: {port}}}\n"))
        events = tmp_path / "e.jsonl"
        log = (tmp_path / "log").open("w")
        proc = daemon("run", "--config", config, "--input", silence(tmp_path / "s.wav", 600), "--realtime",
                      "--output", tmp_path / "o.wav", "--events", events, state=state, log=log)
        try:
            wait_event(events, "SYSTEM_STARTED", proc=proc)
            base = f"http://127.0.0.1:{port}"

            async def burst(size: int, start: int) -> list[int]:
                async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=size)) as client:
                    replies = await asyncio.gather(*[client.post(base + "/say", json={"text": f"question {start + i}"})
                                                     for i in range(size)])
                return [r.status_code for r in replies]

            statuses = []
            for start, size in ((0, 100), (100, 200), (300, 200)):
                statuses += asyncio.run(burst(size, start))
                # at most 50 left waiting before the next burst of 200: never over the 256 a daemon accepts,
                # however fast it answers (100 left, as before, counted on answering 44 during the burst)
                while len([e for e in read_events(events) if e["event"] == "RESPONSE_GENERATED"]) < start + size - 50:
                    time.sleep(0.2)
            assert statuses == [202] * 500
            wait_event(events, "RESPONSE_GENERATED", lambda e: True, timeout=300, proc=proc)
            deadline = time.monotonic() + 300
            while len([e for e in read_events(events) if e["event"] == "RESPONSE_GENERATED"]) < 500:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            log.close()
    seen = read_events(events)
    detected = [e["data"]["utterance_id"] for e in seen if e["event"] == "SPEECH_DETECTED"]
    generated = [e["data"]["turn_id"] for e in seen if e["event"] == "RESPONSE_GENERATED"]
    assert len(detected) == 500 and sorted(generated) == sorted(detected)
    turns = json.loads(run_cli("history", "--json", "--last", "1000", state=state).stdout)
    assert len(turns) == 500 and all(t["reply"] == "Rest two minutes." for t in turns)
    assert "Traceback" not in (tmp_path / "log").read_text()


@pytest.fixture
def refusing_server():
    """An OpenAI-style server that wants a key it never gets."""
    port = free_port()

    async def refuse(request):
        return web.json_response({"error": {"message": "Invalid API Key", "type": "invalid_request_error"}},
                                 status=401)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    runner = web.AppRunner(app)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_an_unset_api_key_variable_is_named_at_start_in_the_401_and_in_diagnose(tmp_path, refusing_server):
    config = write_config(tmp_path / "c.yaml", (
        f"llm:\n  endpoints: [{{url: '{refusing_server}', models: [m], api_key_env: COACH_NO_SUCH_KEY}}]\n"
        "  embedded: {enabled: false}\n"))
    asked = run_cli("ask", "--config", config, "hello", timeout=60)
    assert asked.code == 1
    assert "llm.endpoints[0]: api_key_env names $COACH_NO_SUCH_KEY, which is not set" in asked.stderr
    assert "HTTP 401: Invalid API Key (api_key_env names $COACH_NO_SUCH_KEY" in asked.stderr
    checked = run_cli("diagnose", "--json", "--config", config, timeout=120)
    key = [c for c in json.loads(checked.stdout) if c["name"] == "llm endpoint 0 key"][0]
    assert key["status"] == "warn" and "COACH_NO_SUCH_KEY" in key["detail"]


async def test_a_reply_cut_at_the_total_deadline_says_so():
    from assistant.llm.service import LLMService

    with ollama("--delay", "0.05") as server:
        cfg = LlmConfig(endpoints=(EndpointConfig(url=server.url, models=("smollm2:135m",)),),
                        timeouts=LlmTimeouts(total=0.6), retries=LlmRetries(attempts=1))
        errors = []
        bus = Bus()
        bus.observe(lambda at, e: errors.append(e.message) if e.name is EventName.ERROR_OCCURRED else None)
        service = LLMService(config=cfg, bus=bus)
        async with asyncio.timeout(60):
            await service.generate_async("Tell me a long story about running.")
        await service.aclose()
    assert any("longer than llm.timeouts.total (0.6 s)" in m for m in errors), errors
    assert not any("stalled" in m for m in errors)


async def test_events_clients_that_vanish_leave_no_traceback(tmp_path, caplog):
    from test_turns import service

    from assistant.core.config import StatusApiConfig
    from assistant.core.events import SpeechStarted
    from assistant.daemon.status import StatusApi

    caplog.set_level(logging.DEBUG)
    bus = service(tmp_path)[0]
    api = StatusApi(StatusApiConfig(enabled=True, port=0), bus)
    await api.start()
    for _ in range(5):
        reader, writer = await asyncio.open_connection("127.0.0.1", api.port)
        writer.write(f"GET /events HTTP/1.1\r\nHost: 127.0.0.1:{api.port}\r\n\r\n".encode())
        await reader.readuntil(b": connected")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close
        writer.close()
        for i in range(200):
            bus.emit(SpeechStarted(i, 0.0))
            await asyncio.sleep(0.001)
    await asyncio.sleep(0.2)
    await api.close()
    assert api.clients == set()
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR], caplog.text


def test_diagnose_names_an_unset_token_and_the_pairing_code_of_an_api_beyond_loopback(monkeypatch, tmp_path):
    from dataclasses import replace

    from assistant.cli.diagnose import check_status_api
    from assistant.core.config import Settings, StatusApiConfig
    from assistant.daemon.pairing import Pairing, pairing_path

    monkeypatch.delenv("NO_SUCH_TOKEN_VAR", raising=False)
    unset = check_status_api(replace(Settings(), status_api=StatusApiConfig(enabled=True, token_env="NO_SUCH_TOKEN_VAR")))
    assert unset.status == "fail" and "NO_SUCH_TOKEN_VAR" in unset.detail and unset.fix
    lan = replace(Settings(), status_api=StatusApiConfig(enabled=True, host="0.0.0.0", allow_remote=True),
                  history=replace(Settings().history, path=str(tmp_path / "history.db")))
    before = check_status_api(lan)  # no daemon has run: no code yet
    assert before.status == "pass" and "/pair with the code the daemon prints" in before.detail
    code = Pairing(pairing_path(lan)).code  # as the daemon does at start
    assert f"/pair with code {code[:3]} {code[3:6]} {code[6:]}" in check_status_api(lan).detail
    assert (tmp_path / "pairing.json").stat().st_mode & 0o777 == 0o600
    assert check_status_api(Settings()).status == "pass"
