"""One endpoint, probed for ``assistant diagnose``: reachable, what it speaks,
its version and models, and the primary model's first token."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field, replace

from assistant.core.errors import LlmError
from assistant.llm.servers import HttpBackend


@dataclass
class EndpointReport:
    """What ``probe`` found at one endpoint: the same for ``assistant diagnose`` and
    ``Failover.diagnose``."""

    url: str
    reachable: bool = False
    answers: bool = True  # False: it takes connections and never answers
    api: str | None = None
    version: str | None = None
    models_available: list[str] = field(default_factory=list)
    models: dict[str, bool] = field(default_factory=dict)  # each configured model: on the server?
    first_token_ms: float | None = None  # the primary model, a one-word prompt
    first_token_error: str | None = None
    error: str | None = None


async def probe(backend: HttpBackend, detect_s: float, first_token_s: float) -> EndpointReport:
    """Reachable, what it speaks, its version and models, whether the configured
    models are there, and (when they all are) the primary model's first token."""
    report = EndpointReport(backend.endpoint)
    try:
        async with asyncio.timeout(detect_s):
            backend.forget()
            info = await backend.ensure_detected()
    except TimeoutError:
        report.answers = False
        report.error = f"accepts connections but does not answer within {detect_s:g} s"
        return report
    except LlmError as err:
        report.error = str(err)
        return report
    report.reachable, report.api, report.version = True, info.api, info.version
    report.models_available = list(info.models)
    report.models = {m: info.has(m) for m in backend.cfg.models}
    if not backend.cfg.models or not all(report.models.values()):
        return report
    model = backend.cfg.models[0]
    options = replace(backend.llm.options, max_tokens=4, temperature=0.0)
    started = time.perf_counter()
    stream = backend.stream(model, [{"role": "user", "content": "Say: ok"}], options)
    try:
        async with asyncio.timeout(first_token_s):
            async for delta in stream:
                if delta.text or delta.done:
                    break
        report.first_token_ms = round((time.perf_counter() - started) * 1000, 1)
    except TimeoutError:
        report.first_token_error = f"{model}: no token within {first_token_s:g} s"
    except LlmError as err:
        report.first_token_error = f"{model}: {err}"
    finally:
        await stream.aclose()
    return report
