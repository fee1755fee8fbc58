"""The in-process model: llama.cpp through llama-cpp-python, streamed from a
worker thread into the event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path

from . import models
from .config import EmbeddedConfig, LlmOptions
from .errors import LlmError
from .llm_types import Delta

logger = logging.getLogger(__name__)

_DONE = object()


class EmbeddedBackend:
    api = "embedded"

    def __init__(self, cfg: EmbeddedConfig, context_tokens: int):
        path = models.gguf_model(cfg.model)
        if path is None:
            raise LlmError(f"llm.embedded.model: no model {cfg.model!r} (bundled name, or path to a .gguf)")
        self.path = Path(path)
        self.model = cfg.model
        self.endpoint = f"embedded:{self.path.name}"
        try:
            from llama_cpp import Llama

            self.llama = Llama(
                model_path=str(self.path),
                n_ctx=context_tokens,
                n_threads=cfg.threads or os.cpu_count() or 2,
                verbose=False,
            )
        except Exception as err:
            raise LlmError(f"llm.embedded.model: cannot load {self.path}: {err}") from err
        self._lock = threading.Lock()  # a Llama runs one generation at a time
        logger.info("llm: embedded model %s loaded", self.path.name)

    def prefill(self, messages: list[dict[str, str]]) -> None:
        """Evaluate a prompt once so that the next one sharing its prefix (the system
        prompt and the resumed history) only pays for its new tokens."""
        with self._lock:
            self.llama.create_chat_completion(messages=messages, max_tokens=1)

    async def stream(
        self, model: str, messages: list[dict[str, str]], options: LlmOptions
    ) -> AsyncIterator[Delta]:
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
                    chunks = self.llama.create_chat_completion(
                        messages=messages,
                        stream=True,
                        max_tokens=options.max_tokens,
                        temperature=options.temperature,
                        seed=options.seed,
                    )
                    produced = 0
                    for chunk in chunks:
                        if stop.is_set():
                            break
                        text = chunk["choices"][0]["delta"].get("content")
                        if text:
                            produced += 1
                            put(Delta(text=text))
                    prompt = max(self.llama.n_tokens - produced, 0)
                    put(Delta(done=True, prompt_tokens=prompt, completion_tokens=produced))
                except Exception as err:
                    put(LlmError(f"embedded model {self.path.name}: {err}"))
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
