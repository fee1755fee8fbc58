"""What the daemon is built from, chosen in one place at start-up: the models,
loaded once in parallel threads, and the implementations of the four seams
(`seams`): where audio comes from and goes, what transcribes and what speaks."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from assistant.core.config import Settings
from assistant.core.seams import AudioSink, AudioSource, Synthesizer, Transcriber
from assistant.core.workers import Foreground
from assistant.listen.turn import TurnModel
from assistant.llm.embedded import EmbeddedBackend
from assistant.llm.grounding import knowledge
from assistant.skills.timers import COMMON_CUES
from assistant.skills.timing import FIRST_SENTENCES, THINKING
from assistant.skills.understanding import warm as warm_understanding
from assistant.speech.ahead import VoiceAhead, cache_folder

if TYPE_CHECKING:
    from assistant.remote.satellite import Satellite

OnError = Callable[[str, BaseException | str], None]  # (source, error): logs it and emits ERROR_OCCURRED


@dataclass
class Models:
    """Everything slow to load, loaded once, in parallel threads."""

    transcriber: Transcriber
    synthesizer: Synthesizer
    embedded: EmbeddedBackend | None
    phrases: dict[str, np.ndarray]  # said at once: timer cues and the skill's fixed first sentences
    turns: TurnModel | None = None  # vad.turn: model
    foreground: Foreground = field(default_factory=Foreground)  # the model waits while a first sentence is voiced
    ahead: VoiceAhead | None = None  # the knowledge base's first pieces, voiced ahead (local Piper, offline answers)

    @classmethod
    async def load(cls, settings: Settings, on_error: OnError | None = None) -> Models:
        """``on_error``: told of a remote speech service that fails (stt.uri, tts.uri)."""
        from assistant.speech.tts import PiperSynthesizer
        from assistant.speech.whisper import WhisperTranscriber

        embedded = None
        foreground = Foreground()
        if settings.llm.embedded.enabled:  # a wrong model fails here, before the slow loads
            embedded = EmbeddedBackend(settings.llm.embedded, settings.llm.options.context_tokens, foreground)

        def voice() -> tuple[Synthesizer, dict[str, np.ndarray]]:
            synthesizer = PiperSynthesizer(settings.tts)
            return synthesizer, phrases_of(synthesizer)

        turns = TurnModel(settings.vad.turn_model) if settings.vad.turn == "model" else None
        transcriber, (synthesizer, phrases), _, _, _ = await asyncio.gather(
            asyncio.to_thread(WhisperTranscriber, settings.stt),
            asyncio.to_thread(voice),
            asyncio.to_thread(embedded.load) if embedded is not None else asyncio.sleep(0),
            asyncio.to_thread(warm_understanding),  # the sentence templates, compiled once
            asyncio.to_thread(knowledge),  # the coaching knowledge base, indexed once
        )
        if settings.stt.uri is not None or settings.tts.uri is not None:
            from assistant.remote.speech import remote_parts

            loop = asyncio.get_running_loop()

            def report(source: str, message: str) -> None:  # from the voice's worker threads too
                if on_error is not None:
                    try:
                        loop.call_soon_threadsafe(on_error, source, message)
                    except RuntimeError:  # the loop has closed (the daemon is going): nobody to tell
                        pass

            transcriber, synthesizer = await remote_parts(
                settings.stt.uri, settings.stt.timeout_s, settings.tts.uri, settings.tts.timeout_s,
                settings.stt.language, transcriber, synthesizer, report)
        ahead = None
        if isinstance(synthesizer, PiperSynthesizer) and settings.llm.knowledge and embedded is not None:
            ahead = VoiceAhead(synthesizer.synthesize, cache_folder(synthesizer.identity))
        return cls(transcriber, synthesizer, embedded, phrases, turns, foreground, ahead)


def phrases_of(synthesizer: Synthesizer) -> dict[str, np.ndarray]:
    """What is said at once, voiced ahead: the timers' cues, the skills' fixed
    first sentences, the thinking cues."""
    return {p: synthesizer.synthesize(p) for p in dict.fromkeys(COMMON_CUES + FIRST_SENTENCES + THINKING)}



def open_source(settings: Settings, on_error: OnError, input_file: Path | None = None,
                realtime: bool = False, satellite: Satellite | None = None) -> AudioSource:
    """The configured microphone, or ``input_file`` (decoded now: a bad file fails
    before the models load), or the ``satellite``'s microphone."""
    from assistant.audio.capture import FileSource, MicSource

    if satellite is not None:
        from assistant.remote.satellite_audio import SatelliteSource

        return SatelliteSource(satellite)
    if input_file is None:
        return MicSource(settings.audio.input_device, settings.vad.frame_ms, on_error)
    return FileSource(input_file, settings.vad.frame_ms, realtime=realtime)


def open_sink(settings: Settings, sample_rate: int, on_error: OnError, output_file: Path | None = None, *,
              live: bool, satellite: Satellite | None = None) -> AudioSink:
    """The configured speaker, with the echo canceller's far end when the
    microphone is ``live`` and cancelling may run; or ``output_file``; or the
    ``satellite``'s speaker. ``sample_rate``: the synthesizer's."""
    from assistant.audio.echo import FarEnd
    from assistant.audio.playback import SpeakerSink, WavSink

    if satellite is not None and output_file is None:
        from assistant.remote.satellite_audio import SatelliteSink

        return SatelliteSink(satellite, sample_rate)
    if output_file is not None:
        return WavSink(output_file, sample_rate)
    far = FarEnd() if live and settings.audio.echo_cancellation is not False else None  # barge-in may come on
    return SpeakerSink(settings.audio.output_device, sample_rate, on_error, far)
