"""A loopback server that speaks Ollama's wire format, its text written by a real
embedded model (llama.cpp). Ollama itself cannot be installed here.

Follows Ollama's documented API (docs/api.md): NDJSON streaming of /api/chat
(``message.content``) and /api/generate (``response``), a final ``done: true``
object with its counts and durations in nanoseconds, ``{"error": "..."}`` bodies
with their status codes (400 missing model, 404 unknown model), an error line
in the middle of a stream, the "load" answer to an empty request, ``format``
("json" or a JSON schema: the reply follows it, through a llama.cpp grammar), /api/tags,
/api/version, and Go's plain "404 page not found" for routes it lacks.

The context window as Ollama keeps it (server/prompt.go, llm/llama_server.go):
``prompt_eval_count`` is the whole prompt's tokens; /api/chat drops the oldest
messages (never a system message, never the last) until the prompt fits
``options.num_ctx``; /api/generate cuts the prompt's beginning, or, with
``--no-context-shift`` (a model family without context shift), refuses with
Ollama's 400 "the prompt is longer than the context length ...".

    python tests/ollama_server.py --port 11434 --model smollm2:135m=/path/model.gguf \
        [--no-chat] [--fail-after N] [--busy-first N] [--delay S] [--first-token-delay S] [--think-tags] [--canned TEXT]
        [--no-context-shift]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from datetime import datetime, timezone

from aiohttp import web
from llama_cpp import Llama

VERSION = "0.12.6"
WINDOW = 4096  # the loopback's llama.cpp context: num_ctx above it is served as this
TOO_LONG = ("the prompt is longer than the context length currently available to the model; shorten the prompt, "
            "adjust the context length in settings, or use a model with a longer context length")


def dump(value: object) -> str:
    """Go's encoding/json: compact, no spaces."""
    return json.dumps(value, separators=(",", ":"))


def reply(value: object, status: int = 200) -> web.Response:
    return web.json_response(value, status=status, dumps=dump)


def now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


class Server:
    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.paths = dict(spec.split("=", 1) for spec in args.model)
        self.llamas: dict[str, Llama] = {}
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # every generation request body, for the tests to read
        self.loads = 0  # load requests (no messages, no prompt), which generate nothing
        self.busy_left = args.busy_first

    def llama(self, name: str) -> Llama:
        path = self.paths[name]
        if path not in self.llamas:
            self.llamas[path] = Llama(model_path=path, n_ctx=WINDOW, n_threads=2, verbose=False)
        return self.llamas[path]

    def prompt_tokens(self, model: str, messages: list[dict]) -> int:
        """The prompt's tokens as the model reads it, its chat template included."""
        if self.args.canned is not None:
            return sum(len(m.get("content", "")) // 4 + 4 for m in messages)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        llama = self.llama(model)
        text = llama._model.token_get_text
        formatter = Jinja2ChatFormatter(llama.metadata["tokenizer.chat_template"], text(llama.token_eos()),
                                        text(llama.token_bos()))
        rendered = formatter(messages=messages)
        return len(llama.tokenize(rendered.prompt.encode(), add_bos=not rendered.added_special, special=True))

    def fit(self, model: str, messages: list[dict], num_ctx: int, chat: bool) -> tuple[list[dict], int] | None:
        """What Ollama gives the model of ``messages`` within ``num_ctx`` and its count;
        None when it refuses instead (generate, no context shift)."""
        limit = min(num_ctx, WINDOW)
        count = self.prompt_tokens(model, messages)
        if chat:  # chatPrompt: whole messages from the front, keeping system messages and the last
            while count > limit:
                oldest = next((i for i, m in enumerate(messages[:-1]) if m["role"] != "system"), None)
                if oldest is None:
                    break
                messages = messages[:oldest] + messages[oldest + 1:]
                count = self.prompt_tokens(model, messages)
        if count >= limit:
            if self.args.no_context_shift:
                return None
            while count >= limit and len(messages[-1]["content"]) > 1:  # the prompt's beginning is cut
                last = messages[-1]["content"]
                messages = [*messages[:-1], {**messages[-1], "content": last[len(last) // 4:]}]
                count = self.prompt_tokens(model, messages)
        return messages, count

    async def not_found(self, request: web.Request) -> web.Response:
        return web.Response(status=404, text="404 page not found", content_type="text/plain")

    async def root(self, request: web.Request) -> web.Response:
        return web.Response(text="Ollama is running")

    async def version(self, request: web.Request) -> web.Response:
        return reply({"version": VERSION})

    async def tags(self, request: web.Request) -> web.Response:
        models = [
            {"name": name, "model": name, "modified_at": now(), "size": 98362432,
             "digest": f"{abs(hash(name)):064x}"[:64],
             "details": {"format": "gguf", "family": "llama", "parameter_size": "135M", "quantization_level": "Q4_1"}}
            for name in self.paths
        ]
        return reply({"models": models})

    async def openai_models(self, request: web.Request) -> web.Response:  # Ollama answers /v1/* too
        data = [{"id": n, "object": "model", "created": int(time.time()), "owned_by": "library"} for n in self.paths]
        return reply({"object": "list", "data": data})

    async def debug_requests(self, request: web.Request) -> web.Response:
        return reply(self.requests)

    async def debug_loads(self, request: web.Request) -> web.Response:
        return reply({"loads": self.loads})

    async def chat(self, request: web.Request) -> web.StreamResponse:
        return await self.generate(request, chat=True)

    async def generate(self, request: web.Request, chat: bool = False) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            return reply({"error": "invalid character in request body"}, status=400)
        model = body.get("model") or ""
        if not model:
            return reply({"error": "model is required"}, status=400)
        if model not in self.paths:
            return reply({"error": f'model "{model}" not found, try pulling it first'}, status=404)
        field = "message" if chat else "response"
        if chat:
            messages = body.get("messages") or []
        else:
            messages = [{"role": "system", "content": body["system"]}] if body.get("system") else []
            if body.get("prompt"):
                messages.append({"role": "user", "content": body["prompt"]})
        if not messages or (not chat and not body.get("prompt")):  # a load request: nothing generated
            self.loads += 1
            if self.args.canned is None:
                await asyncio.to_thread(self.llama, model)
            empty = {"role": "assistant", "content": ""} if chat else ""
            return reply({"model": model, "created_at": now(), field: empty, "done_reason": "load",
                                      "done": True})
        self.requests.append({"path": request.path, **body})
        del self.requests[: -self.args.keep_requests]
        if self.busy_left > 0:
            self.busy_left -= 1
            return reply({"error": "server busy, please try again.  maximum pending requests exceeded"},
                                     status=503)
        options = body.get("options") or {}
        stream = body.get("stream", True)
        structure = body.get("format")  # "json", or a JSON schema the reply must follow
        if structure not in (None, "", "json") and not isinstance(structure, dict):
            return reply({"error": "invalid JSON schema in format"}, status=400)
        started = time.perf_counter_ns()
        fitted = await asyncio.to_thread(self.fit, model, messages, int(options.get("num_ctx") or 2048), chat)
        if fitted is None:
            return reply({"error": TOO_LONG}, status=400)
        messages, prompt_count = fitted
        chunks = self._generate(model, messages, options, structure)
        if not stream:
            text = "".join([piece async for piece in chunks])
            return reply(self._final(model, field, text, started, chat, prompt_count))
        response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
        await response.prepare(request)
        try:
            return await self._stream(response, chunks, model, field, started, chat, prompt_count)
        finally:
            await chunks.aclose()

    async def _stream(
        self, response: web.StreamResponse, chunks, model: str, field: str, started: int, chat: bool,
        prompt_count: int,
    ) -> web.StreamResponse:
        count = 0
        if self.args.first_token_delay:  # a slow model: the headers go out, the first token takes long
            await response.write(b"")
            await asyncio.sleep(self.args.first_token_delay)
        async for piece in chunks:
            if self.args.fail_after is not None and count >= self.args.fail_after:
                await response.write(dump({"error": "an error was encountered while running the model: "
                                                           "unexpected EOF"}).encode() + b"\n")
                return response
            content = {"role": "assistant", "content": piece} if chat else piece
            line = {"model": model, "created_at": now(), field: content, "done": False}
            await response.write(dump(line).encode() + b"\n")
            count += 1
            if self.args.delay:
                await asyncio.sleep(self.args.delay)
        final = self._final(model, field, "", started, chat, prompt_count)
        final["eval_count"] = count
        await response.write(dump(final).encode() + b"\n")
        await response.write_eof()
        return response

    def _final(self, model: str, field: str, text: str, started: int, chat: bool, prompt_count: int) -> dict:
        total = time.perf_counter_ns() - started
        content = {"role": "assistant", "content": text} if chat else text
        return {"model": model, "created_at": now(), field: content, "done": True, "done_reason": "stop",
                "total_duration": total, "load_duration": 1_000_000, "prompt_eval_count": prompt_count,
                "prompt_eval_duration": total // 10, "eval_count": max(1, len(text) // 4), "eval_duration": total}

    async def _generate(self, model: str, messages: list[dict], options: dict, structure=None):
        if self.args.canned is not None:  # a fixed reply, word by word: a fast peer for soak and burst tests
            for word in self.args.canned.split(" "):
                yield word + " "
            return
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        if self.args.think_tags:
            await queue.put("<think>The user asked a question. Let me plan a reply.</think>")

        stop = threading.Event()  # like Ollama, stop generating when the request is gone

        # Ollama turns a format into a grammar the sampler follows; llama.cpp does the same.
        structured = {}
        if structure:
            schema = {"schema": structure} if isinstance(structure, dict) else {}
            structured = {"response_format": {"type": "json_object", **schema}}

        def work() -> None:
            with self.lock:
                for chunk in self.llama(model).create_chat_completion(
                    messages=messages, stream=True, max_tokens=int(options.get("num_predict", 128)),
                    temperature=float(options.get("temperature", 0.7)), seed=options.get("seed"), **structured,
                ):
                    if stop.is_set():
                        break
                    text = chunk["choices"][0]["delta"].get("content")
                    if text:
                        loop.call_soon_threadsafe(queue.put_nowait, text)
            loop.call_soon_threadsafe(queue.put_nowait, None)

        loop.run_in_executor(None, work)  # ends at the next token once stop is set
        try:
            while (piece := await queue.get()) is not None:
                yield piece
        finally:
            stop.set()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", action="append", required=True, help="NAME=PATH.gguf")
    parser.add_argument("--no-chat", action="store_true", help="an Ollama without /api/chat (generate only)")
    parser.add_argument("--fail-after", type=int, help="send an error line after this many chunks")
    parser.add_argument("--busy-first", type=int, default=0, help="answer the first N requests with 503")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds between chunks")
    parser.add_argument("--first-token-delay", type=float, default=0.0, help="seconds before the first chunk")
    parser.add_argument("--think-tags", action="store_true", help="start every reply with a <think> block")
    parser.add_argument("--canned", help="reply with this text instead of running a model (PATH unused)")
    parser.add_argument("--no-context-shift", action="store_true",
                        help="refuse a generate prompt longer than num_ctx (Ollama's 400) instead of cutting it")
    parser.add_argument("--keep-requests", type=int, default=1000, help="request bodies kept for /debug/requests")
    args = parser.parse_args()
    server = Server(args)
    app = web.Application()
    app.router.add_get("/", server.root)
    app.router.add_get("/api/version", server.version)
    app.router.add_get("/api/tags", server.tags)
    app.router.add_get("/v1/models", server.openai_models)
    app.router.add_get("/debug/requests", server.debug_requests)
    app.router.add_get("/debug/loads", server.debug_loads)
    app.router.add_post("/api/generate", server.generate)
    if not args.no_chat:
        app.router.add_post("/api/chat", server.chat)
    app.router.add_route("*", "/{tail:.*}", server.not_found)
    web.run_app(app, host=args.host, port=args.port, print=lambda *a: print("ready", flush=True))


if __name__ == "__main__":
    main()
