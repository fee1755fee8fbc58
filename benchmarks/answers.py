"""Does the offline coach say something short and sensible? Asks 20 coaching
questions of each embedded model and prints, per model and setting, sentences
per reply, how many replies repeat a sentence, how many carry markup, and the
time per reply.

"raw" is the model as llama.cpp serves it by default (the system prompt only,
temperature 0.7, no repeat penalty, no guard); "coach" is what the daemon does
(worked examples, repeat penalty, top-p/top-k, at most three sentences, cut at
the first repeated sentence), through LLMService itself.

    .venv/bin/python benchmarks/answers.py [--models smollm2-135m gemma3-270m] [--seed 7]

``--judge``: what the answers say, on ``answers_questions.yaml`` (coaching questions
written blind to the knowledge base, each with the facts a correct answer holds and
the claims it must not make): for the embedded model raw, the embedded coach without
the knowledge base and as shipped, and a server model (the Ollama wire-format server
on loopback, the same small model) without and with grounding. Prints correct, wrong
(a claim it must not make), "don't know" (right for a question outside coaching),
incomplete, sentences of the worked examples leaked into another question's answer,
and the time to the first words.

    .venv/bin/python benchmarks/answers.py --judge [--model smollm2-135m] [--show] [--questions FILE] [--shipped]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from assistant.core import models  # noqa: E402
from assistant.core.bus import Bus  # noqa: E402
from assistant.core.config import EmbeddedConfig, LlmConfig, LlmOptions, PersonaConfig  # noqa: E402
from assistant.core.errors import ConfigError  # noqa: E402
from assistant.core.events import ResponseChunk
from assistant.llm.prompt import render_system_prompt  # noqa: E402
from assistant.llm.service import LLMService  # noqa: E402
from assistant.speech.text import _sentence_words, repeats, split_sentences  # noqa: E402

QUESTIONS = [
    "I ran 5 km this morning and my knee hurts a little. What should I do?",
    "How long should I rest between sets of squats?",
    "What should I eat before a morning run?",
    "How do I warm up before lifting weights?",
    "Is it okay to train when my legs are still sore?",
    "How many push-ups should a beginner do?",
    "What is a good stretch for tight hamstrings?",
    "How do I breathe while running?",
    "How often should I train each week?",
    "What should I drink after a hard workout?",
    "How do I keep my back straight during a deadlift?",
    "I feel tired today. Should I still go to the gym?",
    "How can I improve my plank?",
    "What is a good pace for my first 10k?",
    "How much sleep do I need when I train hard?",
    "My calves cramp when I run. What can I do?",
    "How do I start running if I have never run before?",
    "What should I do on a rest day?",
    "How do I stay motivated to exercise?",
    "Can you give me a quick cool-down after cycling?",
]
MARKUP = re.compile(r"<[^>]*>|\[/?INST\]|<<?/?SYS>>?|\*\*|```|^#+ |^\s*[-*] |\|", re.M)


@dataclass
class Row:
    label: str
    sentences: list[int]
    repeated: int
    markup: int
    seconds: list[float]
    note: str = ""


def measure(label: str, replies: list[tuple[str, float]]) -> Row:
    counts, repeated, markup = [], 0, 0
    for text, _ in replies:
        sentences = split_sentences(text)
        counts.append(len(sentences))
        words = [_sentence_words(s) for s in sentences]
        repeated += any(repeats(w, earlier) for i, w in enumerate(words) for earlier in words[:i])
        markup += bool(MARKUP.search(text))
    return Row(label, counts, repeated, markup, [s for _, s in replies])


def raw_replies(name: str, system: str, seed: int, questions: list[str] = QUESTIONS) -> list[tuple[str, float]]:
    from llama_cpp import Llama

    llama = Llama(model_path=str(models.gguf_model(name)), n_ctx=2048, verbose=False)
    out = []
    for question in questions:
        started = time.perf_counter()
        reply = llama.create_chat_completion(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
            max_tokens=150, temperature=0.7, seed=seed,
        )
        out.append((reply["choices"][0]["message"]["content"] or "", time.perf_counter() - started))
    return out


async def coach_replies(name: str, seed: int) -> list[tuple[str, float]]:
    cfg = LlmConfig(endpoints=(), embedded=EmbeddedConfig(model=name), options=LlmOptions(seed=seed))
    service = LLMService(config=cfg, bus=Bus())
    out = []
    try:
        for question in QUESTIONS:
            started = time.perf_counter()
            reply = await service.generate_async(question)
            service.history.clear()  # each question on its own, as in the raw run
            out.append((reply, time.perf_counter() - started))
    finally:
        await service.aclose()
    return out


JUDGED = Path(__file__).with_name("answers_questions.yaml")
DONT_KNOW = re.compile(r"can't answer|cannot answer|not sure|don't know|do not know", re.I)


def verdict(item: dict, reply: str) -> str:
    """correct, wrong, dont_know or incomplete, by the question's own facts and claims."""
    said_dont_know = bool(DONT_KNOW.search(reply))
    if item.get("expect") == "dont_know":
        return "correct" if said_dont_know else "wrong"
    if any(re.search(p, reply, re.I) for p in item.get("must_not", ())):
        return "wrong"
    if all(any(re.search(p, reply, re.I) for p in group) for group in item.get("must", ())):
        return "correct"
    return "dont_know" if said_dont_know else "incomplete"


def leaked(question: str, reply: str) -> bool:
    """A sentence of a worked example in the answer to another question."""
    from assistant.llm.embedded import EXAMPLES

    return any(asked != question and sentence.lower() in reply.lower()
               for asked, answer in EXAMPLES for sentence in split_sentences(answer))


async def judged_replies(llm: LLMService, questions: list[str]) -> list[tuple[str, float]]:
    """Each question on its own; the time to its first words."""
    out = []
    first: list[float] = []
    await llm.generate_async("Hello.")  # the model loaded and warm before the first question is timed
    llm.history.clear()
    llm.bus.observe(lambda at, e: first.append(time.perf_counter()) if isinstance(e, ResponseChunk) else None)
    for question in questions:
        first.clear()
        started = time.perf_counter()
        reply = await llm.generate_async(question)
        llm.history.clear()
        out.append((reply, (first[0] if first else time.perf_counter()) - started))
    await llm.aclose()
    return out


def judge(model: str, seed: int, show: bool, server: bool, path: Path = JUDGED, shipped_only: bool = False) -> None:
    import yaml
    from servers import ollama

    from assistant.core.config import EndpointConfig
    from assistant.llm.grounding import knowledge

    items = yaml.safe_load(path.read_text())["questions"]
    questions = [item["q"] for item in items]
    options = LlmOptions(seed=seed)

    def embedded(known: bool) -> LLMService:
        llm = LLMService(config=LlmConfig(endpoints=(), embedded=EmbeddedConfig(model=model), options=options),
                         bus=Bus())
        llm.prompter.knowledge = knowledge() if known else None
        return llm

    runs: dict[str, list[tuple[str, float]]] = {}
    if not shipped_only:
        system = render_system_prompt(LlmConfig().system_prompt, PersonaConfig())
        runs[f"{model} raw"] = raw_replies(model, system, seed, questions)
        runs[f"{model} coach, no knowledge base"] = asyncio.run(judged_replies(embedded(False), questions))
    runs[f"{model} coach as shipped"] = asyncio.run(judged_replies(embedded(True), questions))
    for known in (False, True) if server else ():
        with ollama(names=("coach",)) as loopback:  # a fresh server for each setting
            llm = LLMService(config=LlmConfig(endpoints=(EndpointConfig(url=loopback.url, models=("coach",)),),
                                              embedded=EmbeddedConfig(enabled=False), options=options), bus=Bus())
            llm.prompter.knowledge = knowledge() if known else None
            runs[f"loopback server ({model}), {'grounded' if known else 'not grounded'}"] = \
                asyncio.run(judged_replies(llm, questions))
    print(f"\n{len(items)} coaching questions ({path.name}), seed {seed}\n")
    print("| model, setting | correct | wrong or unsafe | don't know | incomplete | leaked example sentences"
          " | first words, s (median) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label, replies in runs.items():
        verdicts = [verdict(item, reply) for item, (reply, _) in zip(items, replies, strict=True)]
        leaks = sum(leaked(q, reply) for q, (reply, _) in zip(questions, replies, strict=True))
        n = len(items)
        print(f"| {label} | {verdicts.count('correct')} ({100 * verdicts.count('correct') / n:.0f} %)"
              f" | {verdicts.count('wrong')} | {verdicts.count('dont_know')} | {verdicts.count('incomplete')}"
              f" | {leaks} | {statistics.median(s for _, s in replies):.2f} |")
        if show:
            for item, (reply, _), v in zip(items, replies, verdicts, strict=True):
                print(f"  [{v}] {item['q']!r}: {reply!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["smollm2-135m", "gemma3-270m"])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", action="store_true", help="print every reply")
    parser.add_argument("--judge", action="store_true", help="judge what the answers say (answers_questions.yaml)")
    parser.add_argument("--model", default="smollm2-135m", help="the model --judge asks")
    parser.add_argument("--server", action="store_true", help="--judge: also a loopback server, without and with "
                        "grounding (in this session every request to it timed out after the in-process runs)")
    parser.add_argument("--questions", type=Path, default=JUDGED, help="--judge: the questions (answers_heldout.yaml: "
                        "60 more, written blind to the knowledge base and to the first set, never tuned against)")
    parser.add_argument("--shipped", action="store_true", help="--judge: the coach as shipped only")
    args = parser.parse_args()
    if args.judge:
        judge(args.model, args.seed, args.show, args.server, args.questions, args.shipped)
        return
    system = render_system_prompt(LlmConfig().system_prompt, PersonaConfig())
    rows: list[Row] = []
    for name in args.models:
        raw = raw_replies(name, system, args.seed)
        rows.append(measure(f"{name} raw", raw))
        try:
            from assistant.llm.embedded import EmbeddedBackend

            EmbeddedBackend(EmbeddedConfig(model=name), 512)  # refused here if it is a base model
            coached = asyncio.run(coach_replies(name, args.seed))
            rows.append(measure(f"{name} coach", coached))
        except ConfigError as err:
            coached = []
            rows.append(Row(f"{name} coach", [], 0, 0, [], note=f"refused: {err}"))
        if args.show:
            for question, (a, _), (b, _) in zip(QUESTIONS, raw, coached or [("", 0.0)] * len(QUESTIONS), strict=True):
                print(f"Q: {question}\n  raw:   {a!r}\n  coach: {b!r}")
    print(f"\n{len(QUESTIONS)} coaching questions, seed {args.seed}\n")
    print("| model, setting | sentences per reply (median, max) | replies with a repeated sentence "
          "| replies with markup | s per reply (median) |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        if row.note:
            print(f"| {row.label} | {row.note} | | | |")
            continue
        print(f"| {row.label} | {statistics.median(row.sentences):.0f}, {max(row.sentences)} "
              f"| {row.repeated} of {len(row.sentences)} | {row.markup} of {len(row.sentences)} "
              f"| {statistics.median(row.seconds):.2f} |")


if __name__ == "__main__":
    main()
