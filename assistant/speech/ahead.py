"""The knowledge base's answers start at once: the first piece of each, as the
TTS cuts it, voiced by Piper while nobody speaks and kept on disk, so that
answer's first sound waits for no synthesis (a first piece took Piper 130-250 ms
on two busy cores, most of the time from the first token to the first sound).

Filled one piece at a time, only after ``QUIET_S`` without a question, a reply
or a timer, and never again once every piece is there: about 30 s of Piper
once per voice (and per name the interview gives). Bounded: ``FILES`` pieces at
most, the oldest written dropped first; another voice's folder unused for a month
is deleted."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from assistant.core.events import EventName
from assistant.speech.text import SentenceSplitter

logger = logging.getLogger(__name__)

QUIET_S = 60.0  # nothing heard, said or timed for this long before a piece is voiced
FILES = 800  # pieces kept at most (about 60 KB each): the base's 368 and the honest one, by two names, and room
RECHECK_S = 600.0  # once all are there, the openings are looked at again (a name given since)
STALE_S = 30 * 86_400  # another voice's folder (a setting changed since) unused this long is deleted
ACTIVITY = (EventName.SPEECH_STARTED, EventName.RESPONSE_GENERATING, EventName.SPEAKING_FINISHED,
            EventName.TIMER_STARTED, EventName.TIMER_FINISHED)


def cache_folder(identity: str, cache: Path | None = None) -> Path:
    """Where one voice's pieces are kept (``identity``: the voice files and settings),
    under ``cache`` (``$XDG_CACHE_HOME`` by default)."""
    cache = cache or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "assistant" / "voice" / hashlib.sha1(identity.encode()).hexdigest()[:16]


def openings(answers: Iterable[str]) -> list[str]:
    """The first piece the TTS says of each answer, in order, once each."""
    pieces: dict[str, None] = {}
    for answer in answers:
        splitter = SentenceSplitter(quick_start=True)
        found = splitter.feed(answer) or splitter.flush()  # a reply comes whole, in one chunk
        if found:
            pieces[found[0]] = None
    return list(pieces)


class VoiceAhead:
    """One voice's pieces, on disk: ``get`` for the TTS, ``run`` to fill them."""

    def __init__(self, synthesize: Callable[[str], np.ndarray], folder: Path):
        self.synthesize = synthesize
        self.folder = folder
        self.broken = False  # the folder failed, or the voice: nothing more is tried

    def _path(self, text: str) -> Path:
        return self.folder / f"{hashlib.sha1(text.encode()).hexdigest()}.npy"

    def get(self, text: str) -> np.ndarray | None:
        """``text``'s audio voiced ahead, or None (never an error: the TTS then voices it)."""
        path = self._path(text)
        try:
            audio = np.load(path, allow_pickle=False)
        except OSError:  # not there, or the folder cannot be read
            return None
        except ValueError:  # cut short, or not ours: voiced again
            audio = None
        if audio is not None and audio.dtype == np.int16 and audio.ndim == 1:
            return audio
        with contextlib.suppress(OSError):
            path.unlink()
        return None

    def put(self, text: str, audio: np.ndarray) -> None:
        """Kept whole or not at all, and the oldest dropped past ``FILES``."""
        self.folder.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=self.folder, suffix=".part")  # two daemons never share one
        try:
            with os.fdopen(handle, "wb") as file:
                np.save(file, np.ascontiguousarray(audio, np.int16), allow_pickle=False)
            os.replace(partial, self._path(text))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
        kept = []
        for found in self.folder.glob("*.npy"):
            with contextlib.suppress(FileNotFoundError):  # another daemon's dropped it
                kept.append((found.stat().st_mtime_ns, found))
        for _, old in sorted(kept)[: max(0, len(kept) - FILES)]:
            old.unlink(missing_ok=True)

    async def fill(self, wanted: Iterable[str], quiet: Callable[[], bool], poll_s: float = 1.0) -> int:
        """Voice every ``wanted`` piece not kept yet, one at a time while ``quiet()``;
        how many. Any failure is logged and ends the filling for good."""
        made = 0
        started = time.perf_counter()
        try:
            for text in wanted:
                if await asyncio.to_thread(self._path(text).exists):
                    continue
                while not quiet():
                    await asyncio.sleep(poll_s)
                audio = await asyncio.to_thread(self.synthesize, text)
                await asyncio.to_thread(self.put, text, audio)
                made += 1
        except Exception as err:  # a folder that cannot be written, a voice that fails: voiced as asked
            logger.warning("tts: cannot voice answers ahead in %s (%s); they are voiced as asked", self.folder, err)
            self.broken = True
        if made:
            logger.info("tts: %d first pieces of the knowledge base voiced ahead in %.0f s (%s)", made,
                        time.perf_counter() - started, self.folder)
        return made

    async def run(self, answers: Callable[[], list[str]], quiet: Callable[[], bool]) -> None:
        """Until cancelled or broken: the ``openings`` of ``answers()``, read again every
        ``RECHECK_S`` (a name given since)."""
        while not self.broken:
            try:
                pieces = await asyncio.to_thread(openings, answers())  # 30 ms of splitting: off the loop
            except Exception as err:
                logger.warning("tts: no answers voiced ahead: %s", err)
                return
            await asyncio.to_thread(self.tidy)
            await self.fill(pieces, quiet)
            await asyncio.sleep(RECHECK_S)

    def tidy(self) -> None:
        """This voice's folder marked in use (its daemon touches it every ``RECHECK_S``),
        and the other voices' folders unused for ``STALE_S`` deleted."""
        with contextlib.suppress(OSError):
            os.utime(self.folder)
        try:
            others = [f for f in self.folder.parent.iterdir() if f.is_dir() and f != self.folder]
            for other in others:
                if time.time() - other.stat().st_mtime > STALE_S:
                    shutil.rmtree(other, ignore_errors=True)
        except OSError:  # no cache yet, or not ours to read
            pass
