"""What LLMService adds to time-to-first-token over a bare client.

Starts a local server (llama-cpp-python's OpenAI server and the Ollama
wire-format server from tests/, both on the bundled SmolLM2), then alternates,
request by request, a bare httpx streaming client and LLMService.generate_async
on the same prompt, and prints the median and p90 time to first token of each
and the median difference.

    .venv/bin/python benchmarks/llm_overhead.py [--requests 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from servers import ollama, openai_server  # noqa: E402

from assistant.core.bus import Bus  # noqa: E402
from assistant.core.config import EndpointConfig, LlmConfig, LlmOptions  # noqa: E402
from assistant.core.events import ResponseChunk
from assistant.llm.service import LLMService  # noqa: E402

PROMPT = "Name one stretch for the calves."
SYSTEM = "You are a coach. Answer briefly."
MESSAGES = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}]  # what the service sends
OPTIONS = LlmOptions(temperature=0.0, max_tokens=8, seed=1)


async def bare_openai(client: httpx.AsyncClient, url: str, model: str) -> float:
    body = {"model": model, "messages": MESSAGES, "stream": True,
            "max_tokens": OPTIONS.max_tokens, "temperature": OPTIONS.temperature, "seed": OPTIONS.seed}
    started = time.perf_counter()
    first = None
    async with client.stream("POST", f"{url}/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if first is None and line.startswith("data: {"):
                delta = json.loads(line[6:])["choices"][0]["delta"].get("content")
                if delta:
                    first = time.perf_counter() - started
    return first * 1000


async def bare_ollama(client: httpx.AsyncClient, url: str, model: str) -> float:
    body = {"model": model, "messages": MESSAGES, "stream": True,
            "options": {"temperature": OPTIONS.temperature, "num_predict": OPTIONS.max_tokens, "seed": OPTIONS.seed}}
    started = time.perf_counter()
    first = None
    async with client.stream("POST", f"{url}/api/chat", json=body) as response:
        async for line in response.aiter_lines():
            if first is None and json.loads(line).get("message", {}).get("content"):
                first = time.perf_counter() - started
    return first * 1000


async def through_service(llm: LLMService) -> float:
    first: list[float] = []
    started = time.perf_counter()
    llm.bus.observe(lambda at, e: first.append(time.perf_counter()) if isinstance(e, ResponseChunk) else None)
    await llm.generate_async(PROMPT)
    llm.bus._observers.clear()
    llm.history.clear()  # the same prompt every time, as for the bare client
    return (first[0] - started) * 1000


async def measure(name: str, url: str, model: str, bare, requests: int) -> tuple[str, list[float], list[float]]:
    cfg = LlmConfig(endpoints=(EndpointConfig(url=url, models=(model,)),), options=OPTIONS, system_prompt=SYSTEM)
    llm = LLMService(config=cfg, bus=Bus())
    bare_ms, service_ms = [], []
    async with httpx.AsyncClient(timeout=60) as client:
        await bare(client, url, model)  # warm both paths once
        await through_service(llm)
        for _ in range(requests):
            bare_ms.append(await bare(client, url, model))
            service_ms.append(await through_service(llm))
    await llm.aclose()
    return name, bare_ms, service_ms


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, openai_server(Path(tmp)) as server:
        rows.append(await measure("openai (llama_cpp.server)", server.url, "smollm2", bare_openai, args.requests))
    with ollama() as server:
        rows.append(await measure("ollama-chat (tests/ollama_server.py)", server.url, "smollm2:135m", bare_ollama,
                                  args.requests))
    print(f"\n{'server':<38} {'n':>3} | {'bare median':>11} {'p90':>7} | {'service median':>14} {'p90':>7} | "
          f"{'added (median of differences)':>29}")
    for name, bare_ms, service_ms in rows:
        added = statistics.median(s - b for s, b in zip(service_ms, bare_ms))
        print(f"{name:<38} {len(bare_ms):>3} | {statistics.median(bare_ms):>8.1f} ms {p90(bare_ms):>4.0f} ms | "
              f"{statistics.median(service_ms):>11.1f} ms {p90(service_ms):>4.0f} ms | {added:>26.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
