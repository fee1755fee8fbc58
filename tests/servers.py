"""Real servers on loopback for the LLM tests: the Ollama wire-format server in
this folder, llama-cpp-python's OpenAI server, a port that never answers."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx

from assistant.core import models

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def smollm2() -> str:
    return str(models.gguf_model("smollm2-135m"))


def gemma3() -> str:
    return str(models.gguf_model("gemma3-270m"))


def wait_until_up(url: str, proc: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up in {seconds} s")


@contextmanager
def process(argv: list[str], ready_url: str):
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until_up(ready_url, proc)
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


@contextmanager
def ollama(*flags: str, names: tuple[str, ...] = ("smollm2:135m",), canned: str | None = None):
    """``canned``: reply with this text, word by word, instead of running the model."""
    port = free_port()
    argv = [sys.executable, str(HERE / "ollama_server.py"), "--port", str(port), *flags]
    if canned is not None:
        argv += ["--canned", canned]
    for name in names:
        argv += ["--model", f"{name}={smollm2() if canned is None else '-'}"]
    url = f"http://127.0.0.1:{port}"
    with process(argv, url + "/api/version") as proc:
        proc.url = url  # type: ignore[attr-defined]
        yield proc


def recorded(server) -> list[dict]:
    """Every generation request the loopback Ollama kept, in order."""
    return httpx.get(server.url + "/debug/requests").json()


def read_ahead(request: dict) -> bool:
    """A request that only reads the conversation while the coach is quiet (one
    token generated: ``HttpBackend.prefill``), not a question asked."""
    return (request.get("options") or {}).get("num_predict") == 1


def asked(server) -> list[dict]:
    """The requests that asked the model something: ``recorded`` without reading ahead."""
    return [r for r in recorded(server) if not read_ahead(r)]


@contextmanager
def openai_server(tmp: Path):
    """llama-cpp-python's own OpenAI-compatible server, two bundled models, two names."""
    port = free_port()
    config = {
        "host": "127.0.0.1",
        "port": port,
        "models": [
            {"model": smollm2(), "model_alias": "smollm2", "n_ctx": 2048, "n_threads": 2, "verbose": False},
            {"model": gemma3(), "model_alias": "gemma3", "n_ctx": 2048, "n_threads": 2, "verbose": False},
        ],
    }
    path = tmp / "llama_server.json"
    path.write_text(json.dumps(config))
    url = f"http://127.0.0.1:{port}"
    with process([sys.executable, "-m", "llama_cpp.server", "--config_file", str(path)], url + "/v1/models") as proc:
        proc.url = url  # type: ignore[attr-defined]
        yield proc


@contextmanager
def silent_server():
    """Accepts connections and never answers a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


def dead_url() -> str:
    return f"http://127.0.0.1:{free_port()}"
