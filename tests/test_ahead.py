"""The knowledge base's first pieces voiced ahead (``speech.ahead``): kept on
disk by voice, filled only while quiet, bounded, and used by the TTS for a
reply's first piece instead of synthesizing it."""

import asyncio
import os
import time

import numpy as np

from assistant.core.bus import Bus
from assistant.speech import ahead
from assistant.speech.ahead import VoiceAhead, cache_folder, openings
from assistant.speech.text import SentenceSplitter


class Voice:
    sample_rate = 1000

    def __init__(self):
        self.said = []

    def synthesize(self, text, steady=False):
        self.said.append(text)
        return np.full(100 + len(text), 1000, np.int16)


def test_a_piece_kept_is_read_back_and_a_broken_one_is_voiced_again(tmp_path):
    kept = VoiceAhead(Voice().synthesize, tmp_path / "voice")
    assert kept.get("Rest two minutes,") is None
    kept.put("Rest two minutes,", np.arange(50, dtype=np.int16))
    assert np.array_equal(kept.get("Rest two minutes,"), np.arange(50, dtype=np.int16))
    assert kept.get("Rest two minutes") is None  # by the exact text the TTS is given
    broken = next((tmp_path / "voice").glob("*.npy"))
    broken.write_bytes(b"not audio")
    assert kept.get("Rest two minutes,") is None and not broken.exists()


def test_the_folder_keeps_the_newest_files_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(ahead, "FILES", 3)
    kept = VoiceAhead(Voice().synthesize, tmp_path)
    for i in range(5):
        kept.put(f"piece {i}", np.zeros(10, np.int16))
        os.utime(kept._path(f"piece {i}"), ns=(i * 10**9, i * 10**9))  # written a second apart
    assert [kept.get(f"piece {i}") is not None for i in range(5)] == [False, False, True, True, True]
    assert not list(tmp_path.glob("*.part"))


def test_the_bound_holds_every_opening_of_the_knowledge_base_by_two_names():
    """Before the interview and after it gave a name: the base's openings both
    ways fit, so a grown base does not leave pieces voiced again and again."""
    from assistant.llm.grounding import answers_for, entries

    known = entries()
    assert len({*openings(answers_for(known, "")), *openings(answers_for(known, "Sam"))}) <= ahead.FILES


def test_pieces_are_voiced_one_at_a_time_while_quiet_and_never_twice(tmp_path):
    voice = Voice()
    kept = VoiceAhead(voice.synthesize, tmp_path)
    kept.put("Already here,", np.zeros(10, np.int16))
    asked = []

    def quiet():  # someone speaks for the first two looks
        asked.append(len(voice.said))
        return len(asked) > 2

    made = asyncio.run(kept.fill(["Rest two minutes,", "Already here,", "Sleep well."], quiet, poll_s=0))
    assert made == 2 and voice.said == ["Rest two minutes,", "Sleep well."]
    assert asked == [0, 0, 0, 1]  # nothing voiced until quiet, and quiet asked again before each piece
    assert asyncio.run(kept.fill(["Rest two minutes,", "Sleep well."], lambda: True)) == 0
    assert len(voice.said) == 2


def test_a_folder_that_cannot_be_written_stops_the_filling_quietly(tmp_path):
    (tmp_path / "voice").write_text("a file where the folder should be")
    kept = VoiceAhead(Voice().synthesize, tmp_path / "voice")
    assert asyncio.run(kept.fill(["Rest two minutes,", "Sleep well."], lambda: True)) == 0
    assert kept.broken and kept.get("Rest two minutes,") is None  # and reading it is no error either


def test_a_voice_that_fails_stops_the_filling_quietly(tmp_path):
    def synthesize(text):
        raise RuntimeError("espeak died")

    kept = VoiceAhead(synthesize, tmp_path)
    assert asyncio.run(kept.fill(["Rest two minutes,"], lambda: True)) == 0 and kept.broken


def test_each_voice_and_setting_has_its_own_folder_in_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    joe = cache_folder("/voices/joe.onnx|100|1|1.0|None|None")
    assert joe.parent == tmp_path / "assistant" / "voice"
    assert joe != cache_folder("/voices/joe.onnx|100|1|1.2|None|None")


def test_every_answer_of_the_knowledge_base_starts_with_a_piece_voiced_ahead():
    """Each entry's answer as the coach says it (by name, with a word on a limit),
    through the TTS's own events: its first piece is one of the openings."""
    from assistant.core.events import ResponseChunk, ResponseGenerating
    from assistant.llm.grounding import Found, adapted, entries
    from assistant.speech.tts import TtsService

    profile = {"name": "Sam", "limits": "bad left knee and a sore lower back"}
    known = entries()
    ahead_of = set(openings([adapted(Found(e, 1.0, 1.0), "", {"name": "Sam"}) for e in known]))
    for number, entry in enumerate(known, 1):
        tts = TtsService(Bus(), Voice(), sink=None, pause_ms=0)
        said = adapted(Found(entry, 1.0, 1.0), "my knee and my back hurt", profile)
        tts._on_generating(ResponseGenerating(number, "", "skill", "knowledge"))
        tts._on_chunk(ResponseChunk(number, said))
        tts._on_generated(generated(number, said))
        first = tts._queue.get_nowait()
        assert first.text in ahead_of, (entry.id, first.text)


def generated(turn_id, text):
    from assistant.core.events import ResponseGenerated

    return ResponseGenerated(turn_id=turn_id, text=text, model="knowledge", endpoint="", api="skill", fallbacks=(),
                             interrupted=False, first_token_ms=0.0, total_ms=0.0, prompt_tokens=0,
                             completion_tokens=0, tokens_per_s=0.0)


def test_the_openings_are_the_first_pieces_the_tts_says():
    answers = ["For heavy strength work of about one to six reps, rest two to five minutes between sets.",
               "Sleep seven to nine hours.", "Sleep seven to nine hours."]
    first = []
    for answer in answers[:2]:  # as the TTS gets a reply sent whole: fed in one chunk, the rest at its end
        splitter = SentenceSplitter(quick_start=True)
        first.append([*splitter.feed(answer), *splitter.flush()][0])
    assert openings(answers) == first and first == [
        "For heavy strength work of about one to six reps,", "Sleep seven to nine hours."]


def test_a_first_piece_voiced_ahead_is_played_without_synthesis():
    from assistant.speech.tts import TtsService, _Sentence

    class Sink:
        def __init__(self):
            self.written = []

        def mark(self):
            pass

        def cue_left_s(self):
            return 0.0

        async def write(self, audio):
            self.written.append(audio)

    voice, sink = Voice(), Sink()
    planted = np.full(300, 7000, np.int16)
    kept = {"Rest two minutes,": planted, "then go again.": planted}  # the second only as a later piece
    tts = TtsService(Bus(), voice, sink, pause_ms=0, ahead=kept.get)

    async def main():
        await tts._handle(_Sentence(1, "Rest two minutes,"))
        await tts._handle(_Sentence(1, "then go again."))
        await tts._handle(_Sentence(2, "Then go again,"))  # a first piece not kept: synthesized

    asyncio.run(main())
    assert voice.said == ["then go again.", "Then go again,"]
    assert np.array_equal(sink.written[0], planted)


def test_another_voice_unused_for_a_month_is_deleted_and_this_one_marked_in_use(tmp_path):
    mine, old, recent = tmp_path / "mine", tmp_path / "old", tmp_path / "recent"
    for folder in (mine, old, recent):
        folder.mkdir()
        (folder / "piece.npy").write_bytes(b"")
    month_ago = time.time() - ahead.STALE_S - 60
    for folder in (mine, old):
        os.utime(folder, (month_ago, month_ago))
    os.utime(recent, (time.time() - 86_400, time.time() - 86_400))
    VoiceAhead(Voice().synthesize, mine).tidy()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["mine", "recent"]
    assert time.time() - mine.stat().st_mtime < 60  # in use: its daemon runs
    VoiceAhead(Voice().synthesize, tmp_path / "none" / "mine").tidy()  # no cache yet: nothing to do
