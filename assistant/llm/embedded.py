"""The in-process model: llama.cpp through llama-cpp-python, streamed from a
worker thread into the event loop."""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
from collections.abc import AsyncGenerator
from pathlib import Path
from struct import error as struct_error
from typing import TYPE_CHECKING

from assistant.core import models
from assistant.core.config import EmbeddedConfig, LlmOptions
from assistant.core.errors import ConfigError, LlmError
from assistant.core.workers import Foreground
from assistant.llm.backend import Delta
from assistant.llm.tokens import TokenCounter, too_long

if TYPE_CHECKING:
    from llama_cpp import Llama

logger = logging.getLogger(__name__)

_DONE = object()

# The longest prompt given to the model: what it reads in this long, at the rate
# measured when it first reads one (on 2 cores SmolLM2-135M reads about 440 tokens
# a second). Most turns read only their new tokens (the prefix is cached); the whole
# prompt is read again only when the system prompt's lasting part changes, or after
# SNAPSHOT_S (assistant.llm.context).
PREFILL_S = 1.5
MIN_PROMPT_TOKENS = 512  # however slow the machine: a system prompt, a few turns and a question

# Worked examples placed after the system prompt: a 135M model copies their
# length and tone far better than it follows a rule about them.
EXAMPLES = (
    ("How long should I rest between sets of squats?",
     "Rest about two minutes between heavy sets, and one minute for lighter ones. "
     "Start the next set when your breathing has settled."),
    ("My shoulder feels tight after push-ups. What should I do?",
     "Stop the push-ups for today and stretch the shoulder gently. "
     "If it still hurts tomorrow, rest it and ask a physiotherapist."),
    ("What should I eat before a morning run?",
     "Have something light an hour before, like a banana or toast with honey. "
     "Drink a glass of water too."),
)


_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def gguf_keys(path: Path) -> set[str]:
    """The metadata keys of a GGUF file, read from its header without loading it."""
    import struct

    with path.open("rb") as f:
        def read(fmt: str):
            return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]

        def skip(kind: int) -> None:
            if kind == _STRING:
                f.seek(read("<Q"), 1)
            elif kind == _ARRAY:
                inner, count = read("<I"), read("<Q")
                if inner in _SCALARS:
                    f.seek(struct.calcsize(_SCALARS[inner]) * count, 1)
                else:
                    for _ in range(count):
                        skip(inner)
            elif kind in _SCALARS:
                f.seek(struct.calcsize(_SCALARS[kind]), 1)
            else:
                raise ValueError(f"unknown GGUF value type {kind}")

        if f.read(4) != b"GGUF":
            raise ValueError("not a GGUF file")
        version = read("<I")
        if version < 2:
            raise ValueError(f"GGUF version {version} is too old")
        read("<Q")  # tensors
        keys = set()
        for _ in range(read("<Q")):
            keys.add(f.read(read("<Q")).decode("utf-8", "replace"))
            skip(read("<I"))
        return keys


def with_examples(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """The worked examples, right after the system prompt (a stable, cacheable prefix)."""
    head = messages[:1] if messages and messages[0]["role"] == "system" else []
    shots = [{"role": role, "content": text} for q, a in EXAMPLES for role, text in (("user", q), ("assistant", a))]
    return [*head, *shots, *messages[len(head):]]


class EmbeddedBackend:
    api = "embedded"

    def __init__(self, cfg: EmbeddedConfig, context_tokens: int, foreground: Foreground | None = None):
        """Checks the model file (fast); ``prepare`` loads it. ``foreground``: generation
        holds still between tokens while a reply's first sentence is synthesized."""
        self.cfg = cfg
        self.foreground = foreground or Foreground()
        self.context_tokens = context_tokens
        self.path = self.check(cfg)
        self.model = cfg.model
        self.endpoint = f"embedded:{self.path.name}"
        self.llama: Llama | None = None
        self.counter = TokenCounter()  # estimates until the model is loaded, then its own tokenizer
        self.prompt_tokens_max: int | None = None  # set by PREFILL_S once a first prefill was timed
        self.reads_ahead = True
        self._loading: asyncio.Future[None] | None = None
        self._lock = threading.Lock()  # a Llama runs one generation at a time

    @property
    def models(self) -> tuple[str, ...]:
        return (self.model,)

    async def prepare(self) -> None:
        """Load the model once, in a worker thread; callers that time out leave it loading."""
        if self.llama is not None:
            return
        if self._loading is None or (self._loading.done() and self._loading.exception() is not None):
            self._loading = asyncio.ensure_future(asyncio.to_thread(self.load))
        await asyncio.shield(self._loading)

    def load(self) -> None:
        """Load the model now, in this thread (start-up loads it alongside the others)."""
        if self.llama is not None:
            return
        try:
            from llama_cpp import Llama

            llama = Llama(
                model_path=str(self.path),
                n_ctx=self.context_tokens,
                n_threads=self.cfg.threads or os.cpu_count() or 2,
                verbose=False,
            )
        except Exception as err:
            raise LlmError(f"llm.embedded.model: cannot load {self.path}: {err}") from err
        self.counter = self._counter(llama)
        self.llama = llama
        logger.info("llm: embedded model %s loaded", self.path.name)

    @staticmethod
    def _counter(llama: Llama) -> TokenCounter:
        """The model's own tokenizer, and its chat template's tokens around a message
        and once per prompt (SmolLM2's ChatML: 5 and 3)."""
        def count(text: str) -> int:
            return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            return TokenCounter(exact=count)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        def token_text(token: int) -> str:
            return llama._model.token_get_text(token) if token != -1 else ""

        formatter = Jinja2ChatFormatter(template, token_text(llama.token_eos()), token_text(llama.token_bos()))

        def prompt(messages: list[tuple[str, str]]) -> int:
            rendered = formatter(messages=[{"role": role, "content": text} for role, text in messages])
            return len(llama.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special,
                                      special=True))

        # Measured on real messages, not on "x": a message's last characters and the
        # template's newline after it can share a token, or not.
        head = [("system", "Be brief.")]
        alone = prompt(head) - count("Be brief.")
        per_role = {}
        for role in ("system", "user", "assistant"):
            sample = [(role, text) for pair in EXAMPLES for text in pair]
            spent = prompt(head + sample) - prompt(head) - sum(count(text) for _, text in sample)
            per_role[role] = math.ceil(spent / len(sample))
        return TokenCounter(exact=count, per_message=per_role["user"], per_role=per_role,
                            base=alone - per_role["system"])

    @property
    def reserved(self) -> int:
        """Tokens this backend adds to every prompt: the worked examples."""
        return sum(self.counter.message(m) for m in with_examples([]))

    def _timed(self, tokens: int, seconds: float) -> None:
        """A first prefill from an empty cache took ``seconds`` for ``tokens``: the
        longest prompt from now on is what reads in PREFILL_S at that rate."""
        if self.prompt_tokens_max is not None or tokens < 64 or seconds <= 0:
            return
        rate = tokens / seconds
        self.prompt_tokens_max = max(MIN_PROMPT_TOKENS, min(int(rate * PREFILL_S), self.context_tokens))
        logger.info("llm: embedded model reads %.0f tokens/s: prompts of at most %d tokens",
                    rate, self.prompt_tokens_max)

    def forget(self) -> None:
        return None  # nothing to detect again: the model is in this process

    async def prefill(self, model: str, messages: list[dict[str, str]]) -> None:
        await self.prepare()
        started = time.perf_counter()
        await asyncio.to_thread(self._prefill, messages)
        logger.debug("llm: embedded model read %d messages in %.0f ms", len(messages),
                     (time.perf_counter() - started) * 1000)

    def _prefill(self, messages: list[dict[str, str]]) -> None:
        assert self.llama is not None
        with self._lock:
            cold = self.llama.n_tokens == 0
            started = time.perf_counter()
            done = self.llama.create_chat_completion(messages=with_examples(messages), max_tokens=1)
            if cold:
                self._timed(int(done["usage"]["prompt_tokens"]), time.perf_counter() - started)

    @staticmethod
    def check(cfg: EmbeddedConfig) -> Path:
        """The model's file, once it is known to be a chat model (fast: reads the header)."""
        path = models.gguf_model(cfg.model)
        if path is None:
            raise LlmError(f"llm.embedded.model: no model {cfg.model!r} (bundled name, or path to a .gguf)")
        path = Path(path)
        try:
            chat = "tokenizer.chat_template" in gguf_keys(path)
        except (OSError, ValueError, struct_error) as err:
            raise ConfigError(f"llm.embedded.model: {path} is not a readable GGUF model: {err}") from err
        if not chat:
            # llama.cpp would fall back to a generic chat format the model never saw:
            # a base model then writes markup and unrelated text.
            raise ConfigError(
                f"llm.embedded.model: {path.name} is a base model (no chat template in the GGUF), "
                "not a chat model; use smollm2-135m or an instruction-tuned GGUF"
            )
        return path

    async def stream(
        self, model: str, messages: list[dict[str, str]], options: LlmOptions, schema: dict | None = None
    ) -> AsyncGenerator[Delta, None]:
        await self.prepare()
        llama = self.llama
        assert llama is not None
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()

        def put(item: object) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed while we generated
                stop.set()

        def work() -> None:
            with self._lock:
                try:
                    structured = {"response_format": {"type": "json_object", "schema": schema}} if schema else {}
                    sent = messages if schema else with_examples(messages)  # a grammar, not examples
                    cold, started = llama.n_tokens == 0, time.perf_counter()
                    chunks = llama.create_chat_completion(
                        messages=sent,
                        **structured,
                        stream=True,
                        max_tokens=options.max_tokens,
                        temperature=options.temperature,
                        top_p=options.top_p,
                        top_k=options.top_k,
                        repeat_penalty=options.repeat_penalty,
                        seed=options.seed,
                    )
                    produced, prompt = 0, self.counter.total(sent)
                    for chunk in chunks:
                        if stop.is_set():
                            break
                        text = chunk["choices"][0]["delta"].get("content")
                        if text:
                            if not produced and cold:
                                self._timed(prompt, time.perf_counter() - started)
                            produced += 1
                            put(Delta(text=text, prompt_tokens=prompt if produced == 1 else 0))
                        self.foreground.wait()  # before the next token is computed
                    put(Delta(done=True, prompt_tokens=prompt, completion_tokens=produced))
                except Exception as err:
                    put(LlmError(f"embedded model {self.path.name}: {err}", too_long=too_long(str(err))))
                finally:
                    put(_DONE)

        worker = loop.run_in_executor(None, work)
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    return
                if isinstance(item, LlmError):
                    raise item
                assert isinstance(item, Delta)
                yield item
        finally:
            stop.set()  # the thread stops at its next token and releases the model
            worker.add_done_callback(lambda f: f.exception())

    async def aclose(self) -> None:
        return None
