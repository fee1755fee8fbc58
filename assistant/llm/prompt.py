"""What a model is shown: the system prompt (the configured template, the
persona, what the user told the coach about themselves, the facts kept and the
week's training) and the part of the conversation that fits its window."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence

from assistant.core.config import LlmConfig, PersonaConfig
from assistant.core.errors import ConfigError, LlmError
from assistant.llm import grounding
from assistant.llm.backend import Backend
from assistant.llm.context import Window, turn_messages
from assistant.llm.conversation import Conversation
from assistant.llm.grounding import Knowledge
from assistant.llm.tokens import PER_MESSAGE, estimate

logger = logging.getLogger(__name__)


def render_system_prompt(template: str, persona: PersonaConfig, about: str = "") -> str:
    """The system prompt: the template with the persona's name, style and goals
    filled in, then ``about``, the user's profile as the interview renders it
    (``interview.render``); the persona alone for a user with no profile."""
    goals = f"The user's goals: {'; '.join(persona.goals)}. Keep them in mind. " if persona.goals else ""
    style = persona.style.strip()
    prompt = template.format(name=persona.name.strip(), style=style, goals=goals).replace("  ", " ").strip()
    return f"{prompt}\n\n{about}" if about else prompt


class Prompter:
    """Builds each backend's prompt from the conversation. The app fills in the
    hooks (``Coaching.inform``): ``knowledge`` (beside a server model's
    question), ``profile`` and ``about`` (the interview's answers, as data for
    the knowledge base's answers and as the prompt says them), ``notes``
    (the facts the user asked to keep, as the system prompt says them: lasting),
    ``facts`` (all of them, the older ones given beside a question they bear on)
    and ``training`` (the week's
    log: passing, it changes with every logged set)."""

    def __init__(self, cfg: LlmConfig, persona: PersonaConfig, conversation: Conversation):
        self.cfg = cfg
        self.persona = persona
        self.conversation = conversation
        self.knowledge: Knowledge | None = None
        self.profile: Callable[[], Mapping[str, str]] = dict
        self.about: Callable[[], str] = str
        self.notes: Callable[[], str] = str
        self.facts: Callable[[], Sequence[str]] = tuple
        self.training: Callable[[], str] = str
        self.clock: Callable[[], float] = time.monotonic
        self._windows: dict[tuple[int, int], Window] = {}  # per room and backend: the part of the conversation it sees

    def reconfigure(self, cfg: LlmConfig, persona: PersonaConfig) -> None:
        """A reloaded config: the new prompt and new backends from the next turn on."""
        self.cfg, self.persona = cfg, persona
        self._windows.clear()

    def system(self) -> str:
        """The system prompt: persona and profile, then what the coach knows; the
        parts that change least come first, so a server's prompt cache holds."""
        lasting, passing = self.parts()
        return f"{lasting}\n\n{passing}" if passing else lasting

    def parts(self) -> tuple[str, str]:
        """(persona, profile and facts; the week's training): see context.Window."""
        base = render_system_prompt(self.cfg.system_prompt, self.persona, self.about())
        notes = self.notes()
        return (f"{base}\n\n{notes}" if notes else base), self.training()

    def budget(self, backend: Backend) -> int:
        """Prompt tokens ``backend`` is given: its window (the config's, or the smaller
        one a refusal named) less room for the reply, no more than it reads fast
        enough, less what it adds itself."""
        options = self.cfg.options
        window = min(options.context_tokens, backend.counter.limit or options.context_tokens)
        tokens = window - options.max_tokens
        if backend.prompt_tokens_max is not None:
            tokens = min(tokens, backend.prompt_tokens_max)
        return tokens - backend.reserved - backend.counter.base

    def window(self, backend: Backend) -> Window:
        return self._windows.setdefault((id(self.conversation), id(backend)), Window())

    def messages(self, text: str, backend: Backend | None, lasting: str | None = None, passing: str | None = None,
                 budget: int | None = None) -> list[dict[str, str]]:
        """The prompt for ``text`` as ``backend`` sees it (None: no backend, sized by
        estimates for the configured window)."""
        if lasting is None or passing is None:
            lasting, passing = self.parts()
        if self.knowledge is not None and text and (backend is None or backend.api != "embedded"):
            text = self._grounded(self.knowledge, text, lasting)
        history, first = self.conversation.turns, self.conversation.first
        if backend is None:
            return Window().messages(lasting, passing, history, first, text,
                                     self.cfg.options.context_tokens - self.cfg.options.max_tokens,
                                     estimate, lambda m: estimate(m["content"]) + PER_MESSAGE, self.clock())
        counter = backend.counter
        return self.window(backend).messages(lasting, passing, history, first, text,
                                             self.budget(backend) if budget is None else budget, counter,
                                             counter.message, self.clock())

    def _grounded(self, knowledge: Knowledge, text: str, lasting: str) -> str:
        """``text`` with the knowledge base's entries and the user's older notes
        that bear on it, after the stable prefix (a server's cache still holds)."""
        parts = [notes] if (notes := knowledge.grounding(text)) else []
        older = [fact for fact in self.facts() if f'"{fact}"' not in lasting]  # the prompt has the newest
        if told := knowledge.bearing(text, older):
            parts.append(f"{grounding.TOLD} " + "; ".join(f'"{fact}"' for fact in told) + ".")
        return "\n\n".join((*parts, f"The question: {text}")) if parts else text

    async def prompt(self, backend: Backend, text: str, reserve: int = 0) -> list[dict[str, str]]:
        """``messages``, after the backend counted what it can: the embedded model
        is loaded (its tokenizer counts), a server with a tokenizer is asked when the
        prompt nears its budget (within the connect timeout; estimates otherwise)."""
        async with asyncio.timeout(self.cfg.timeouts.first_token):
            await backend.prepare()
        lasting, passing = self.parts()
        budget = self.budget(backend) - reserve
        texts = [lasting, f"{lasting}\n\n{passing}", text, self.window(backend).system]
        shown = 0
        for turn in reversed(self.conversation.turns):  # the newest turns, as many as could be shown
            contents = [m["content"] for m in turn_messages(turn)]
            texts += contents
            shown += sum(map(estimate, contents))
            if shown > 2 * budget:
                break
        try:
            async with asyncio.timeout(self.cfg.timeouts.connect):
                await backend.counter.prepare(texts, budget)
        except (TimeoutError, LlmError, ConfigError) as err:
            logger.warning("llm: %s did not count the prompt (%s); it is sized by an estimate",
                           backend.endpoint, err or "timed out")
        return self.messages(text, backend, lasting, passing, budget)
