"""Token counts for fitting the context: the model's own count where a backend can
give one, a calibrated estimate where it cannot.

- The embedded model counts with its own tokenizer, in process (microseconds).
- An OpenAI-compatible server is asked when the prompt nears its budget:
  llama.cpp's server answers ``POST /tokenize``, llama-cpp-python's
  ``POST /extras/tokenize/count``; other servers answer neither.
- For a server that counts nothing (Ollama, a hosted API), the estimate is
  corrected by what the server reported it read for the previous prompt
  (Ollama's ``prompt_eval_count``, OpenAI's ``usage.prompt_tokens``).
- A refusal for length tells the server's real window, when it names it.

The estimate: ``CHARS_PER_TOKEN`` was measured with SmolLM2's tokenizer on this
project's own prompts, where the history is full of numbers and short lines
("Log 3 sets of 12 squats at 72 kilos"): 2.19 characters per token, against the
four of ordinary English prose. The margin keeps it an overestimate.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable

CHARS_PER_TOKEN = 2.0  # measured 2.19 on the project's prompts (SmolLM2), rounded down for a margin
PER_MESSAGE = 6  # tokens a chat template spends around a message when the backend cannot say
CACHED = 2048  # texts whose count is kept (a context holds a few dozen; the rest is history scrolling by)
ASKED_AT_ONCE = 4  # requests to a server's tokenizer in flight at once
REMOTE_FROM = 0.6  # ask a server to count once the estimate passes this share of the budget
RATIO_RANGE = (0.5, 3.0)  # how far a server's own reports may move the estimate


def estimate(text: str) -> int:
    """A count that errs high for this project's prompts (see the module's docstring)."""
    return math.ceil(len(text) / CHARS_PER_TOKEN) + 1


class TokenCounter:
    """How many tokens a text is for one backend. ``exact``: an in-process tokenizer;
    ``remote``: a server's tokenizer, asked one text at a time (None when it has
    none). ``per_message`` and ``base`` are the chat template's own tokens: around
    each message, and once per prompt (the generation prompt)."""

    def __init__(
        self,
        exact: Callable[[str], int] | None = None,
        remote: Callable[[str], Awaitable[int | None]] | None = None,
        per_message: int = PER_MESSAGE,
        base: int = 4,
        per_role: dict[str, int] | None = None,
    ):
        self.exact = exact
        self.remote = remote
        self.per_message = per_message
        self.per_role = per_role or {}  # a role's own overhead where it differs ("assistant" is two tokens in ChatML)
        self.base = base
        self.ratio = 1.0  # learned: from the server's reports (estimates), from a refusal (any count)
        self.limit: int | None = None  # the server's window, once a refusal named it
        self.answered = 0  # the longest prompt the server has answered
        self._counted: OrderedDict[str, int] = OrderedDict()  # the server's own counts

    def __call__(self, text: str) -> int:
        if self.exact is not None:
            count = self.exact(text)
        elif (known := self._counted.get(text)) is not None:
            self._counted.move_to_end(text)
            count = known
        else:
            count = estimate(text)
        return count if self.ratio == 1.0 else math.ceil(count * self.ratio)

    def refused(self, counted: int, asked: int | None) -> None:
        """A server refused a prompt for length that this counter made ``counted``
        tokens and the server ``asked``: when the server counted more, counts follow it."""
        if asked is not None and counted > 0 and asked > counted:
            self.ratio = min(self.ratio * asked / counted, RATIO_RANGE[1])

    @property
    def counts_exactly(self) -> bool:
        return self.exact is not None

    def message(self, message: dict[str, str]) -> int:
        """A message's tokens, its chat template's around it included."""
        return self(message["content"]) + self.per_role.get(message["role"], self.per_message)

    def total(self, messages: Iterable[dict[str, str]]) -> int:
        """The prompt's size as this counter sees it: what trimming kept under the budget."""
        return self.base + sum(map(self.message, messages))

    async def prepare(self, texts: Iterable[str], budget: int) -> None:
        """Ask the server to count ``texts`` when their estimate nears ``budget`` (far
        below it, the estimate is safe and costs no round trip). Asked in order, a few
        at a time: cancelled midway, the counts already given are kept."""
        if self.exact is not None or self.remote is None:
            return
        texts = list(dict.fromkeys(texts))
        if sum(self(t) + self.per_message for t in texts) < budget * REMOTE_FROM:
            return
        missing = iter([t for t in texts if t not in self._counted])
        remote = self.remote

        async def worker() -> None:
            for text in missing:
                count = await remote(text)
                if count is None:
                    self.remote = None  # this server has no tokenizer to ask: estimates from now on
                    return
                self._counted[text] = count
                while len(self._counted) > CACHED:
                    self._counted.popitem(last=False)

        async with asyncio.TaskGroup() as group:
            for _ in range(ASKED_AT_ONCE):
                group.create_task(worker())

    def reported(self, messages: list[dict[str, str]], prompt_tokens: int) -> None:
        """The server read ``prompt_tokens`` for ``messages``: estimates follow it, up at
        once (an undercount is what overflows), down slowly."""
        if self.exact is not None or prompt_tokens <= 0:
            return
        overhead = self.base + sum(self.per_role.get(m["role"], self.per_message) for m in messages)
        counted = self.total(messages) - overhead  # the ratio scales what is said, not the template
        if counted <= 0 or prompt_tokens <= overhead:
            return
        target = self.ratio * (prompt_tokens - overhead) / counted
        self.ratio = target if target > self.ratio else 0.8 * self.ratio + 0.2 * target
        self.ratio = min(max(self.ratio, RATIO_RANGE[0]), RATIO_RANGE[1])


# How servers word a refusal for length, and where they name their window and the
# prompt's size: llama-cpp-python (in process and its server, which words it as
# OpenAI does), llama.cpp's server, Ollama (when it does not truncate), OpenAI, vLLM
# and a few hosted APIs.
_TOO_LONG = re.compile(
    r"context_length_exceeded|maximum context length|exceed_context_size|exceeds the available context"
    r"|exceed context window|larger than the max context size|longer than the context length"
    r"|input length exceeds the context length|longer than the model's context length|prompt is too long"
    r"|exceeds the context window|input exceeds the context",
    re.IGNORECASE,
)
_WINDOW = (
    re.compile(r"maximum context length is (\d+)", re.IGNORECASE),  # OpenAI, vLLM, llama-cpp-python's server
    re.compile(r"context window of (\d+)", re.IGNORECASE),  # llama-cpp-python in process
    re.compile(r"\"n_ctx\"\s*:\s*(\d+)"),  # llama.cpp's server
    re.compile(r"context size \((\d+) tokens\)", re.IGNORECASE),  # llama.cpp's server, in words
    re.compile(r"context length \((\d+) tokens\)", re.IGNORECASE),  # Together
    re.compile(r"tokens > (\d+) maximum", re.IGNORECASE),  # Anthropic
)
_ASKED = (
    re.compile(r"Requested tokens \((\d+)\)"),
    re.compile(r"\"n_prompt_tokens\"\s*:\s*(\d+)"),
    re.compile(r"(?:request|input) \((\d+) tokens\)", re.IGNORECASE),
    re.compile(r"you requested (?:about )?(\d+) tokens", re.IGNORECASE),
    re.compile(r"resulted in (\d+) tokens", re.IGNORECASE),
    re.compile(r"request has (\d+) input tokens", re.IGNORECASE),
    re.compile(r"prompt is too long: (\d+) tokens", re.IGNORECASE),
)


def too_long(message: str) -> bool:
    """Whether an error message is a refusal for the prompt's length."""
    return bool(_TOO_LONG.search(message))


def named_window(message: str) -> int | None:
    """The context window a refusal names, if it names one."""
    for pattern in _WINDOW:
        match = pattern.search(message)
        if match:
            return int(match.group(1))
    return None


def named_request(message: str) -> int | None:
    """The prompt's size in tokens as the refusing server counted it, if it says."""
    for pattern in _ASKED:
        match = pattern.search(message)
        if match:
            return int(match.group(1))
    return None
