"""One streamed attempt at a reply: the deadlines, the reasoning filter and the
reply guard between a backend's deltas and the RESPONSE_CHUNK events."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.core.config import LlmConfig
from assistant.core.errors import LlmError
from assistant.core.events import Event, ResponseChunk, ResponseGenerating
from assistant.llm.backend import Backend
from assistant.speech.text import ReplyGuard, ThinkFilter

logger = logging.getLogger(__name__)


@dataclass
class Attempt:
    """What one streamed attempt produced."""

    text: str = ""
    first_token_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)


async def stream_attempt(
    backend: Backend,
    model: str,
    messages: list[dict[str, str]],
    cfg: LlmConfig,
    attempt: Attempt,
    turn_id: int,
    emit: Callable[[Event], None],
) -> None:
    """One attempt at a reply from one backend: RESPONSE_GENERATING, then a
    RESPONSE_CHUNK per speakable piece, into ``attempt``. Raises LlmError when the
    backend is not ready, the first token or the next one is late, the reply runs
    past ``timeouts.total``, the stream ends without its terminator, or the reply
    is empty. Reasoning is filtered out; the ReplyGuard ends a reply that repeats
    itself (and the embedded model's after ``embedded.max_sentences``)."""
    timeouts = cfg.timeouts
    think = ThinkFilter()
    guard = ReplyGuard(cfg.embedded.max_sentences if backend.api == "embedded" else None)
    try:
        async with asyncio.timeout(timeouts.first_token):
            await backend.prepare()
    except TimeoutError as err:
        raise LlmError(f"no answer within {timeouts.first_token:.1f} s", endpoint_down=True) from err
    emit(ResponseGenerating(turn_id, backend.endpoint, backend.api, model))
    stream = backend.stream(model, messages, cfg.options)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeouts.total
    try:
        while True:
            wait = timeouts.first_token if not attempt.first_token_ms else timeouts.between_tokens
            over_total = deadline - loop.time() <= wait
            wait = min(wait, deadline - loop.time())
            try:
                async with asyncio.timeout(max(wait, 0)):
                    delta = await anext(stream)
            except StopAsyncIteration as err:
                raise LlmError("the stream ended without its terminator", transient=True, dropped=True) from err
            except TimeoutError as err:
                if over_total:
                    raise LlmError(f"the reply took longer than llm.timeouts.total ({timeouts.total:g} s)") from err
                if not attempt.first_token_ms:
                    raise LlmError(f"no first token within {wait:.1f} s", endpoint_down=True) from err
                raise LlmError(f"stalled: no token for {wait:.1f} s") from err
            if delta.prompt_tokens:  # the embedded model says it with its first piece: a reply cut short keeps it
                attempt.prompt_tokens = delta.prompt_tokens
            piece = think.feed(delta.text)
            if delta.done:
                piece += think.flush()
            piece, enough = guard.feed(piece)
            if delta.done and not enough:
                piece += guard.flush()
            if piece and not attempt.text:
                piece = piece.lstrip()
            if piece:
                if not attempt.first_token_ms:
                    attempt.first_token_ms = (time.perf_counter() - attempt.started) * 1000
                attempt.text += piece
                emit(ResponseChunk(turn_id, piece))
            if enough and attempt.text.strip():
                logger.info("llm: reply cut at %s", guard.reason)
                break
            if delta.done:
                attempt.prompt_tokens = delta.prompt_tokens
                attempt.completion_tokens = delta.completion_tokens
                break
    finally:
        await stream.aclose()
    if not attempt.text.strip():
        raise LlmError("the model returned an empty reply")
