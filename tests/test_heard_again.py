"""A transcript that is no command and no question is heard again, whisper
prompted with commands (``TranscriptionService._as_command``), on the real
tiny.en and Piper's voice: the command whisper missed is found, a question is
never heard again, a remark heard again stays what it was."""

import time

import numpy as np
import pytest
from helpers import as_int16, spoken_16k

from assistant.core import spoken
from assistant.core.bus import Bus
from assistant.core.config import WakeConfig
from assistant.core.events import EventName
from assistant.core.seams import Transcript
from assistant.listen.transcription import TranscriptionService
from assistant.listen.utterances import Judge, Segment
from assistant.skills import understanding
from assistant.skills.coaching import Coaching
from assistant.skills.interview import Asking, given_name
from assistant.skills.notebook import Notebook
from assistant.skills.router import Control, StartTimer
from assistant.skills.understanding import AskBack
from assistant.skills.workouts import Entry, LogEntry
from assistant.speech.whisper import COMMAND_PROMPT, COMMAND_READINGS, WhisperTranscriber


class Listening(WhisperTranscriber):
    """The real transcriber, counting the prompts it was given."""

    def __init__(self, real: WhisperTranscriber):  # shares the loaded model
        self.__dict__.update(real.__dict__)
        self.prompts: list[str | None] = []

    def transcribe_sync(self, audio, short=False, aside=False, prompt=None, readings=1):
        self.prompts.append(prompt)
        return super().transcribe_sync(audio, short, aside, prompt, readings)


def service(transcriber: WhisperTranscriber, again: bool = True) -> tuple[TranscriptionService, list]:
    bus = Bus()
    heard: list = []
    bus.on(EventName.SPEECH_DETECTED, heard.append)
    return TranscriptionService(bus, transcriber, WakeConfig(), missed=understanding.missed if again else None,
                                understood=lambda text: understanding.understand(text) is not None), heard


async def hear(transcriber: Listening, said: str, again: bool = True) -> tuple[str, str, list]:
    """What whisper makes of Piper saying ``said``, first as the daemon hears it at the
    turn's end; then what SPEECH_DETECTED carries, and the prompts the service used
    (None: whisper's plain transcript)."""
    audio = as_int16(spoken_16k(said))
    first = transcriber.transcribe_sync(audio).text
    transcriber.prompts.clear()
    stt, heard = service(transcriber, again)
    await stt._transcribe(Segment(1, audio, 0.0, len(audio) / 16_000, time.time(), 0.8, False))
    assert len(heard) == 1
    return first, heard[0].text, transcriber.prompts


@pytest.fixture(scope="module")
def listening(transcriber):
    return Listening(transcriber)


@pytest.mark.parametrize(("said", "command"), [
    ("Log squats.", AskBack("How many sets and reps?", "amount", "squat")),  # first "Blog squats."
    ("End workout.", Control("stop")),  # first "and work out."
    ("Pause workout", Control("pause")),  # "Pause work up." twice; "Pause workout." whisper's third reading
    ("Leg press 3 by 12 at 150", LogEntry(Entry("leg press", sets=3, reps=12, weight=150))),  # "Like press ..."
])
async def test_a_command_whisper_missed_is_heard_again_as_one(listening, said, command):
    first, heard, prompts = await hear(listening, said)
    assert understanding.understand(first) is None, first  # missed the first time: the case under test
    assert understanding.understand(heard) == command, heard
    assert prompts == [None, COMMAND_PROMPT]
    first_again, heard_once, prompts = await hear(listening, said, again=False)
    assert heard_once == first_again == first and prompts == [None]  # stt.commands_again: false


@pytest.mark.parametrize("said", ["How many squats should I do?", "What should I eat after a long run?"])
async def test_a_question_is_never_heard_again(listening, said):
    first, heard, prompts = await hear(listening, said)
    assert heard == first and prompts == [None]


@pytest.mark.parametrize("said", ["I'm feeling great today.", "My legs are sore from yesterday."])
async def test_a_remark_heard_again_stays_a_remark(listening, said):
    first, heard, prompts = await hear(listening, said)
    assert prompts == [None, COMMAND_PROMPT]  # no command, no question: heard again
    assert heard == first and understanding.understand(heard) is None


async def test_a_command_heard_right_is_not_heard_again(listening):
    first, heard, prompts = await hear(listening, "Set a timer for two minutes.")
    assert understanding.understand(heard) == StartTimer(120) and prompts == [None]


def test_the_prompt_is_one_the_templates_understand_line_by_line():
    """Whisper writes in the style of what came before: the prompt is made of
    commands said the way the templates take them."""
    lines = [line for line in COMMAND_PROMPT.split(". ") if line]
    assert len(lines) >= 5
    assert all(understanding.understand(line) is not None for line in lines), lines
    assert np.all([not spoken.asks(line) for line in lines])


class Readings:
    """A transcriber that hears "Pause work up." and, prompted with commands, weighs ``readings``."""

    def __init__(self, readings: tuple[str, ...]):
        self.readings = readings
        self.asked: list[int] = []

    async def transcribe(self, audio, short=False, aside=False, prompt=None, readings=1) -> Transcript:
        if prompt != COMMAND_PROMPT:
            return Transcript("Pause work up.", 1.0)
        self.asked.append(readings)
        return Transcript(self.readings[0], 2.0, alternatives=self.readings[1:readings])


@pytest.mark.parametrize(("readings", "heard"), [
    (("Pause Work Up.", "Pause work up.", "Pause workout."), "Pause workout."),  # the likeliest command
    (("How long is the pause?", "Pause workout.", "Pause."), "Pause workout."),  # a question read is never taken
    (("Pause Work Up.", "Pause. Work up."), "Pause work up."),  # no command among them: the first words stand
])
async def test_the_likeliest_reading_that_is_a_command_stands(readings, heard):
    transcriber = Readings(readings)
    stt, detected = service(transcriber)  # type: ignore[arg-type]
    audio = np.zeros(16_000, np.int16)
    await stt._transcribe(Segment(1, audio, 0.0, 1.0, time.time(), 0.8, False))
    assert [event.text for event in detected] == [heard]
    assert transcriber.asked == [COMMAND_READINGS]


def interviewing(stt: TranscriptionService, tmp_path, question: int = 1) -> Coaching:
    """``stt`` wired as the daemon wires it, with the interview at ``question``
    (1: the name's)."""
    coach = Coaching(Bus(), Notebook(tmp_path / "n.db"))
    coach.start_interview()
    assert given_name("Sam")  # the names read (load_names reads them in the background)
    stt.asking = Asking(lambda: coach.interview)
    for _ in range(question - 1):
        coach.hear("Skip.")
    return coach


NAMES_MISHEARD = [  # Piper said, after so much silence, whisper first heard
    ("Call me Carlos.", 0, "Call me corals."),
    ("Ingrid.", 300, "Angry."),
]


@pytest.mark.parametrize(("said", "lead_ms", "misheard"), NAMES_MISHEARD)
async def test_a_name_that_is_no_given_name_is_heard_again_after_the_question(listening, tmp_path, said, lead_ms,
                                                                              misheard):
    audio = as_int16(np.concatenate([np.zeros(16 * lead_ms, np.float32), spoken_16k(said)]))
    assert listening.transcribe_sync(audio).text == misheard  # the case under test
    listening.prompts.clear()
    stt, heard = service(listening)
    coach = interviewing(stt, tmp_path)
    await stt._transcribe(Segment(1, audio, 0.0, len(audio) / 16_000, time.time(), 0.8, False))
    assert listening.prompts == [None, "What should I call you?"]
    [answer] = [event.text for event in heard]
    coach.hear(answer)
    assert coach.profile()["name"] == said.removeprefix("Call me ").rstrip("."), answer


@pytest.mark.parametrize(("said", "question"), [
    ("Call me Sam.", 1), ("Next question.", 1),  # the name's: a name given, or none to give
    ("Run a marathon by June.", 2),  # the goal's: an answer, never heard again as a command
])
async def test_an_answer_is_heard_once_unless_it_may_be_a_name_misheard(listening, tmp_path, said, question):
    stt, heard = service(listening)
    interviewing(stt, tmp_path, question)
    audio = as_int16(spoken_16k(said))
    first = listening.transcribe_sync(audio).text
    listening.prompts.clear()
    await stt._transcribe(Segment(1, audio, 0.0, len(audio) / 16_000, time.time(), 0.8, False))
    assert [event.text for event in heard] == [first] and listening.prompts == [None]


class Finished:
    """A turn model sure every pause ends the turn."""

    def probability(self, audio: np.ndarray) -> float:
        return 0.99


@pytest.mark.parametrize(("said", "question", "again"), [
    ("Call me Carlos.", 1, "What should I call you?"),  # "call me corals" in the short window
    ("Run a marathon by June.", 2, None),  # an answer: not heard again as a command
])
async def test_an_answer_ended_at_a_pause_is_heard_as_at_the_end(listening, tmp_path, said, question, again):
    """vad.turn: model ends most answers at a short pause (``judge``), before any
    Segment: the interview's answers are heard there the same way."""
    bus = Bus()
    heard: list = []
    bus.on(EventName.SPEECH_DETECTED, heard.append)
    stt = TranscriptionService(bus, listening, WakeConfig(), turns=Finished(), settle=lambda _id, _verdict: True,
                               missed=understanding.missed,
                               understood=lambda text: understanding.understand(text) is not None)
    coach = interviewing(stt, tmp_path, question)
    audio = as_int16(spoken_16k(said))
    listening.prompts.clear()
    await stt.judge(Judge(1, audio, len(audio) / 16_000, time.time(), silence_ms=210))
    assert listening.prompts == [None] + ([again] if again else []) and len(heard) == 1
    coach.hear(heard[0].text)
    if question == 1:
        assert coach.profile()["name"] == "Carlos", heard[0].text
