"""HTTP language-model servers: Ollama chat, Ollama generate, OpenAI-compatible.

``detect`` finds what a URL speaks without generating tokens: Ollama answers
``/api/version`` (llama.cpp's server, a look-alike, answers ``/api/tags`` and
``/api/chat`` but not that); an Ollama without ``/api/chat`` speaks generate
only; anything else answering ``/v1/models`` speaks OpenAI. Ollama also answers
``/v1/*``, which is why it is asked first.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import AsyncGenerator
from contextlib import aclosing
from dataclasses import dataclass
from typing import cast

import httpx
from httpx_sse import EventSource, SSEError, aconnect_sse

from assistant.core.config import EndpointConfig, LlmConfig, LlmOptions
from assistant.core.errors import LlmError
from assistant.llm.backend import Delta
from assistant.llm.tokens import TokenCounter, too_long

logger = logging.getLogger(__name__)

_UNLOADED = frozenset(("0", "0s", "0m", "0h"))  # keep_alive: the model unloaded after each request


def base_url(url: str) -> str:
    """``http://h:p/v1/`` and ``http://h:p/`` both become ``http://h:p``."""
    url = url.rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def http_error(err: Exception, where: str) -> LlmError:
    """Translate an httpx failure once, marking what a retry may fix."""
    if isinstance(err, httpx.ConnectTimeout):
        return LlmError(f"{where}: connect timeout", endpoint_down=True)
    if isinstance(err, httpx.ConnectError):
        return LlmError(f"{where}: connection refused or unreachable", endpoint_down=True)
    if isinstance(err, (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)):
        return LlmError(f"{where}: connection dropped ({type(err).__name__})", transient=True)
    if isinstance(err, httpx.TimeoutException):
        return LlmError(f"{where}: timed out", transient=True)
    return LlmError(f"{where}: {err}")


def status_error(status: int, body: str, where: str, key_hint: str = "") -> LlmError:
    try:
        message = json.loads(body).get("error", body)
        if isinstance(message, dict):  # OpenAI: {"error": {"message": ...}}
            message = message.get("message", str(message))
    except (ValueError, AttributeError):
        message = body
    long = status in (400, 413, 422, 500) and too_long(f"{message} {body}")
    transient = (status >= 500 or status in (408, 429)) and not long
    hint = f" ({key_hint})" if key_hint and status in (401, 403) else ""
    # a refusal for length keeps the numbers it names (the window, the prompt's size)
    detail = str(message).strip()[:200] + (f" {body[:300]}" if long and body not in str(message) else "")
    return LlmError(f"{where}: HTTP {status}: {detail}{hint}", transient=transient, too_long=long)


def key_problem(cfg: EndpointConfig) -> str | None:
    """Why no API key will be sent although the config names a variable for one."""
    if cfg.api_key_env and not os.environ.get(cfg.api_key_env):
        return f"api_key_env names ${cfg.api_key_env}, which is not set"
    return None


def key_hint(cfg: EndpointConfig) -> str:
    """What to check when the server refuses the key: named in 401 and 403 errors."""
    return key_problem(cfg) or (f"the key comes from ${cfg.api_key_env}" if cfg.api_key_env
                                else "no api_key_env is set for this endpoint")


@dataclass
class ServerInfo:
    api: str
    version: str | None
    models: list[str]

    def has(self, model: str) -> bool:
        """Ollama lists "llama3.2:3b" and "qwen:latest"; a bare name means ":latest"."""
        return model in self.models or f"{model}:latest" in self.models


async def _get_json(client: httpx.AsyncClient, url: str, key_hint: str = "") -> object | None:
    response = await client.get(url)
    if response.status_code in (401, 403):
        raise status_error(response.status_code, response.text, url, key_hint)
    if response.status_code != 200:
        return None
    try:
        return response.json()
    except ValueError:
        return None


def _json_error(response: httpx.Response) -> bool:
    try:
        return "error" in response.json()
    except (ValueError, TypeError):
        return False


async def detect(client: httpx.AsyncClient, url: str, key_hint: str = "") -> ServerInfo:
    """What ``url`` speaks, its version and its models; raises LlmError if unreachable."""
    root = base_url(url)
    try:
        version = await _get_json(client, f"{root}/api/version", key_hint)
        if isinstance(version, dict) and "version" in version:
            tags = await _get_json(client, f"{root}/api/tags", key_hint)
            models = [m.get("name", "") for m in tags.get("models", [])] if isinstance(tags, dict) else []
            # No model named: Ollama answers with a JSON error at once, generating nothing;
            # a server without the route answers with its plain "404 page not found".
            chat = await client.post(f"{root}/api/chat", json={"model": "", "messages": [], "stream": False})
            missing = chat.status_code in (404, 405, 501) and not _json_error(chat)
            api = "ollama-generate" if missing else "ollama-chat"
            return ServerInfo(api, str(version["version"]), models)
        listing = await _get_json(client, f"{root}/v1/models", key_hint)
        if isinstance(listing, dict) and isinstance(listing.get("data"), list):
            return ServerInfo("openai", None, [str(m.get("id", "")) for m in listing["data"]])
    except httpx.HTTPError as err:
        raise http_error(err, root) from err
    raise LlmError(f"{root}: answers HTTP but speaks neither Ollama's API nor OpenAI's (/v1/models)")


def _generate_prompt(messages: list[dict[str, str]]) -> tuple[str, str]:
    """(system, prompt) for /api/generate, which takes no message list."""
    system = messages[0]["content"] if messages and messages[0]["role"] == "system" else ""
    rest = messages[1:] if system else messages
    if len(rest) == 1:
        return system, rest[0]["content"]
    lines = [f"{'User' if m['role'] == 'user' else 'Coach'}: {m['content']}" for m in rest]
    return system, "Conversation so far:\n" + "\n".join(lines[:-1]) + f"\n\nUser: {rest[-1]['content']}"


class HttpBackend:
    """One endpoint, speaking one of the three protocols once detected."""

    def __init__(self, cfg: EndpointConfig, llm: LlmConfig, api_key: str | None = None):
        self.cfg = cfg
        self.llm = llm
        self.endpoint = base_url(cfg.url)
        self.api: str = cfg.api  # "auto" until detected
        self.detected: ServerInfo | None = None if cfg.api == "auto" else ServerInfo(cfg.api, None, [])
        key = api_key or (os.environ.get(cfg.api_key_env) if cfg.api_key_env else None)
        self.key_hint = "" if api_key else key_hint(cfg)
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        t = llm.timeouts
        # Read deadlines (first token, between tokens, total) are kept by LLMService.
        self._connect = lambda: httpx.AsyncClient(  # noqa: E731
            timeout=httpx.Timeout(connect=t.connect, read=None, write=t.connect, pool=t.connect), headers=headers)
        self.client = self._connect()
        self._stale: list[httpx.AsyncClient] = []  # replaced after a failure, closed at the next prepare
        self.options = self._runner_options(llm.options)
        self.schema_in_json_object = False  # structured output: this server refused OpenAI's json_schema form
        self.counter = TokenCounter(remote=self._tokenize)
        self.prompt_tokens_max: int | None = None
        # a hosted endpoint (an API key) bills every request; keep_alive 0 would load and unload for each read
        self.reads_ahead = key is None and llm.keep_alive.strip() not in _UNLOADED
        self._tokenizer: str | None = None  # the route this server counts tokens at, once found

    @staticmethod
    def _runner_options(options: LlmOptions) -> dict[str, object]:
        """The same Ollama runner options every time: a changed num_ctx reloads the model."""
        out: dict[str, object] = {
            "temperature": options.temperature,
            "num_predict": options.max_tokens,
            "num_ctx": options.context_tokens,
            "repeat_penalty": options.repeat_penalty,
            "top_p": options.top_p,
            "top_k": options.top_k,
        }
        if options.seed is not None:
            out["seed"] = options.seed
        return out

    async def ensure_detected(self) -> ServerInfo:
        if self.detected is None:
            self.detected = await detect(self.client, self.cfg.url, self.key_hint)
            self.api = self.detected.api
            logger.info("llm: %s speaks %s (version %s)", self.endpoint, self.api, self.detected.version or "?")
        return self.detected

    @property
    def models(self) -> tuple[str, ...]:
        return self.cfg.models

    @property
    def reserved(self) -> int:
        return 0

    async def _tokenize(self, text: str) -> int | None:
        """The server's own count of ``text``: llama.cpp's server (``/tokenize``) or
        llama-cpp-python's (``/extras/tokenize/count``), the endpoint's first model's
        tokenizer; None when it offers neither (Ollama does not)."""
        await self.ensure_detected()
        if self.api != "openai":
            return None
        routes = [self._tokenizer] if self._tokenizer else ["/tokenize", "/extras/tokenize/count"]
        for route in routes:
            try:
                count = await self._count(route, text)
            except (httpx.HTTPError, ValueError, KeyError, TypeError) as err:
                logger.debug("llm: %s%s does not count tokens: %s", self.endpoint, route, err)
                continue
            self._tokenizer = route
            return count
        logger.info("llm: %s has no tokenizer to ask; its prompts are sized by an estimate", self.endpoint)
        return None

    async def _count(self, route: str, text: str) -> int:
        if route == "/tokenize":
            body: dict[str, object] = {"content": text, "add_special": False}
        else:
            body = {"input": text, "model": (self.cfg.models or ("",))[0]}
        response = await self.client.post(self.endpoint + route, json=body)
        response.raise_for_status()
        data = response.json()
        return int(data["count"]) if "count" in data else len(data["tokens"])

    async def prepare(self) -> None:
        while self._stale:
            await self._stale.pop().aclose()
        await self.ensure_detected()

    def forget(self) -> None:
        """After a failure: detect again next time (auto endpoints only), on new
        connections (a server that broke a stream may have closed the one kept alive)."""
        if self.cfg.api == "auto":
            self.detected = None
            self.api = "auto"
        self._stale.append(self.client)
        self.client = self._connect()

    async def prefill(self, model: str, messages: list[dict[str, str]]) -> None:
        """Read ``messages`` (the prompt so far, up to the next question) into the
        server's prompt cache with one token generated, so that the next question
        costs only its own words: the server keeps the longest prefix it has read
        (llama.cpp's and Ollama's runners do). Without messages, Ollama only loads
        the model."""
        await self.ensure_detected()
        if messages:
            if self.api == "ollama-generate":  # its prompt ends "User: " where the question will go
                messages = [*messages, {"role": "user", "content": ""}]
            one = dataclasses.replace(self.llm.options, max_tokens=1)
            async with aclosing(self.stream(model, messages, one)) as deltas:
                async for _ in deltas:
                    pass
        elif self.api.startswith("ollama"):
            path = "/api/chat" if self.api == "ollama-chat" else "/api/generate"
            body: dict[str, object] = {"model": model, "keep_alive": self.llm.keep_alive, "options": self.options,
                                       "stream": False}
            if self.api == "ollama-chat":
                body["messages"] = []
            else:
                body["prompt"] = ""
            try:
                response = await self.client.post(self.endpoint + path, json=body)
            except httpx.HTTPError as err:
                raise http_error(err, self.endpoint) from err
            if response.status_code != 200:
                raise status_error(response.status_code, response.text, f"{self.endpoint}{path}", self.key_hint)

    async def stream(
        self, model: str, messages: list[dict[str, str]], options: LlmOptions, schema: dict | None = None
    ) -> AsyncGenerator[Delta, None]:
        await self.ensure_detected()
        try:
            # Each generator inside is closed here, in this task: left to the garbage
            # collector, httpx would close its response from another task, or none.
            inner = self._openai if self.api == "openai" else self._ollama
            async with aclosing(inner(model, messages, options, schema)) as deltas:
                async for delta in deltas:
                    yield delta
        except httpx.HTTPError as err:
            raise http_error(err, self.endpoint) from err

    async def _ollama(self, model: str, messages: list[dict[str, str]], options: LlmOptions,
                      schema: dict | None = None) -> AsyncGenerator[Delta, None]:
        body: dict[str, object] = {
            "model": model,
            "stream": True,
            "keep_alive": self.llm.keep_alive,
            "options": self._runner_options(options),  # num_ctx stays the config's: the model is not reloaded
            "think": self.llm.think,
        }
        if schema is not None:
            body["format"] = schema
        if self.api == "ollama-chat":
            path, body["messages"] = "/api/chat", messages
        else:
            path = "/api/generate"
            body["system"], body["prompt"] = _generate_prompt(messages)
        where = f"{self.endpoint}{path} ({model})"
        async with self.client.stream("POST", self.endpoint + path, json=body) as response:
            if response.status_code != 200:
                raise status_error(response.status_code, (await response.aread()).decode(errors="replace"), where,
                                   self.key_hint)
            # an async generator, typed as an iterator by httpx
            async with aclosing(cast(AsyncGenerator[str, None], response.aiter_lines())) as lines:
                async for line in lines:
                    if not line.strip():
                        continue
                    try:
                        data = json.loads(line)
                    except ValueError as err:
                        raise LlmError(f"{where}: not an NDJSON line: {line[:80]!r}", transient=True) from err
                    if "error" in data:
                        long = too_long(str(data["error"]))
                        raise LlmError(f"{where}: error in stream: {data['error']}", transient=not long, too_long=long)
                    # message.content (chat) or response (generate); message.thinking is never spoken.
                    text = data.get("message", {}).get("content", "") if "message" in data else data.get("response", "")
                    if data.get("done"):
                        yield Delta(text=text or "", done=True, prompt_tokens=int(data.get("prompt_eval_count") or 0),
                                    completion_tokens=int(data.get("eval_count") or 0))
                        return
                    if text:
                        yield Delta(text=text)

    async def _openai(
        self, model: str, messages: list[dict[str, str]], options: LlmOptions, schema: dict | None = None
    ) -> AsyncGenerator[Delta, None]:
        body: dict[str, object] = {
            "model": model,
            "messages": messages,
            "stream": True,
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "stream_options": {"include_usage": True},
        }
        if options.seed is not None:
            body["seed"] = options.seed
        if schema is not None:  # OpenAI's form; llama.cpp's servers (and Anyscale's) take a schema in json_object
            body["response_format"] = {"type": "json_object", "schema": schema} if self.schema_in_json_object else \
                {"type": "json_schema", "json_schema": {"name": "reply", "schema": schema, "strict": True}}
        where = f"{self.endpoint}/v1/chat/completions ({model})"
        async with aconnect_sse(self.client, "POST", self.endpoint + "/v1/chat/completions", json=body) as source:
            response = source.response
            text = "" if response.status_code == 200 else (await response.aread()).decode(errors="replace")
            # llama-cpp-python's server answers the OpenAI form with a 500 naming response_format
            refused = schema is not None and not self.schema_in_json_object and (
                response.status_code in (400, 422) or (response.status_code == 500 and "response_format" in text))
            if not refused:
                if response.status_code != 200:
                    raise status_error(response.status_code, text, where, self.key_hint)
                async with aclosing(self._events(source, where)) as deltas:
                    async for delta in deltas:
                        yield delta
        if refused:  # this server refused OpenAI's form of a schema: the other one, from now on
            self.schema_in_json_object = True
            logger.info("llm: %s takes a schema in json_object", self.endpoint)
            async with aclosing(self._openai(model, messages, options, schema)) as deltas:
                async for delta in deltas:
                    yield delta

    @staticmethod
    async def _events(source: EventSource, where: str) -> AsyncGenerator[Delta, None]:
        produced, usage = 0, {}  # type: tuple[int, dict[str, int]]
        try:
            async with aclosing(source.aiter_sse()) as events:
                async for event in events:
                    if event.data.strip() == "[DONE]":
                        yield Delta(done=True, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                                    completion_tokens=int(usage.get("completion_tokens") or produced))
                        return
                    try:
                        data = json.loads(event.data)
                    except ValueError as err:
                        raise LlmError(f"{where}: not a JSON event: {event.data[:80]!r}", transient=True) from err
                    if "error" in data:
                        raise status_error(500, event.data, where)
                    usage = data.get("usage") or usage
                    for choice in data.get("choices") or []:
                        # reasoning_content / reasoning deltas are never spoken
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            produced += 1
                            yield Delta(text=text)
        except SSEError as err:
            raise LlmError(f"{where}: not an event stream: {err}") from err

    async def aclose(self) -> None:
        for client in [self.client, *self._stale]:
            await client.aclose()
