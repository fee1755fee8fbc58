import asyncio
import re

import numpy as np

from assistant.core.bus import Bus
from assistant.speech.text import SentenceSplitter, ThinkFilter, speakable, split_sentences, strip_reasoning


def stream(splitter: SentenceSplitter, text: str, size: int) -> list[str]:
    out = []
    for i in range(0, len(text), size):
        out += splitter.feed(text[i : i + size])
    return out + splitter.flush()


def test_sentences_come_out_as_soon_as_complete():
    splitter = SentenceSplitter()
    assert splitter.feed("Keep your back straight") == []
    assert splitter.feed(". Now breathe") == ["Keep your back straight."]
    assert splitter.feed(" out!") == []
    assert splitter.flush() == ["Now breathe out!"]


def test_chunk_size_does_not_change_the_sentences():
    text = "Rest for 90 seconds. Then do 3.5 more sets! Dr. Smith agrees, e.g. for squats. Ready?"
    expected = ["Rest for 90 seconds.", "Then do 3.5 more sets!", "Dr. Smith agrees, e.g. for squats.", "Ready?"]
    for size in (1, 2, 5, 17, len(text)):
        assert stream(SentenceSplitter(), text, size) == expected


def test_long_sentence_is_cut_at_a_comma():
    text = "First, " + "warm up slowly with light movements, " * 8 + "then start."
    parts = split_sentences(text)
    assert len(parts) > 1
    assert all(len(p) <= 230 for p in parts)
    assert " ".join(parts).replace(",", "").split() == speakable(text).replace(",", "").split()


def test_markdown_and_emoji_are_not_spoken():
    text = "## Plan\n\n**Warm up** for _five_ minutes 💪🔥.\n\n- Squats\n- Lunges\n\nSee [the guide](http://x.y) `now`."
    spoken = " ".join(split_sentences(text))
    for mark in ("#", "*", "_", "💪", "🔥", "http", "`", "["):
        assert mark not in spoken
    assert "Warm up for five minutes." in spoken
    assert "Squats" in spoken and "Lunges" in spoken and "See the guide now." in spoken


def test_think_blocks_are_removed_across_chunks():
    text = "<think>The user wants\n a plan.</think>Do ten squats.<think>more</think> Then rest."
    for size in (1, 3, 7, len(text)):
        f = ThinkFilter()
        out = "".join(f.feed(text[i : i + size]) for i in range(0, len(text), size)) + f.flush()
        assert out == "Do ten squats. Then rest."
    assert strip_reasoning("<think>unfinished thought") == ""
    assert strip_reasoning("a < b and <thin ice>") == "a < b and <thin ice>"


def test_empty_and_symbol_only_text_gives_no_sentence():
    assert split_sentences("") == []
    assert split_sentences("*** --- 🎉") == []


def test_quick_start_speaks_the_first_clause_then_whole_sentences():
    splitter = SentenceSplitter(quick_start=True)
    assert splitter.feed("Great, ") == []  # too short to stand alone
    assert splitter.feed("let us warm up slowly, then") == ["Great, let us warm up slowly,"]
    assert splitter.feed(" jog for ten minutes, easy pace. Then") == ["then jog for ten minutes, easy pace."]
    assert splitter.flush() == ["Then"]


def test_the_first_piece_ends_before_a_word_that_opens_a_clause():
    """The voice starts on a few words at a natural boundary, streamed or whole;
    a number's "and", a pair's "and" and a short sentence are no boundary."""
    reply = "Yes, light training is usually fine and gentle movement eases the stiffness. Rest well."
    for size in (1, 4, len(reply)):
        assert stream(SentenceSplitter(quick_start=True), reply, size) == [
            "Yes, light training is usually fine,", "and gentle movement eases the stiffness.", "Rest well."]
    assert split_sentences(reply)[0] == "Yes, light training is usually fine and gentle movement eases the stiffness."
    for whole in ("Rest for two and a half minutes between your heavy sets.",
                  "Rest for a minute and a half between your heavy sets.",
                  "Keep your back straight and tight.",  # too short to cut
                  "Easy pace means you could hold a conversation while running.",  # "while running": too short
                  "Doing a proper warm up is so important for your knees."):  # "so" opens no clause here
        for size in (1, 2, 5):  # streamed: "and a" waits for "half"
            assert stream(SentenceSplitter(quick_start=True), whole + " Then", size) == [whole, "Then"], whole
        assert SentenceSplitter(quick_start=True).feed(whole) == [], whole  # one chunk, as a skill sends it
    interview = "What is your main goal, and by when?"  # a whole sentence of eight words or fewer is said whole
    assert stream(SentenceSplitter(quick_start=True), interview, len(interview)) == [interview]
    assert SentenceSplitter(quick_start=True).feed("Set your elbows under your shoulders - then hold a line. ") == [
        "Set your elbows under your shoulders,", "then hold a line."]


def test_a_long_first_sentence_with_no_clause_is_cut_before_a_phrase():
    """No comma or clause word in the first seven words: the piece ends before
    "with", "if", "until", ..., so Piper voices a few words first (about 12 ms a
    word); "put your hands | on the floor" is no phrase, nor "focus | on"."""
    cut = SentenceSplitter(quick_start=True)
    assert cut.feed("Swimming is a great whole-body workout with little impact on your joints. ") == [
        "Swimming is a great whole-body workout,", "with little impact on your joints."]
    for whole in ("Squat down and put your hands on the floor then jump your feet back.",
                  "Try to focus on your breathing during the whole set.",
                  "Keep your back straight and tight."):
        pieces = SentenceSplitter(quick_start=True).feed(whole + " ")
        assert pieces[0].split()[-1].rstrip(",") not in ("hands", "focus"), pieces
    streamed = stream(SentenceSplitter(quick_start=True), "Experienced runners can run daily if most runs are easy "
                      "and beginners do better with rest days between. Then", 3)
    assert streamed[0] == "Experienced runners can run daily,"  # streamed: cut once eight words are in


def test_with_no_phrase_either_the_first_piece_ends_before_in_at_or_for():
    """Eight words and neither a clause nor a phrase: the piece ends before "in",
    "at", "for", ... (Piper took 264 ms on the whole first sentence, in the room);
    never before "of", "to" or "on", which finish what went before; a pair's
    "and" is still no boundary."""
    for whole, first in (
            ("Easy pace means you could hold a conversation in full sentences while running.",
             "Easy pace means you could hold a conversation,"),
            ("Spend 5 to 10 minutes moving at an easy effort, such as brisk walking.",
             "Spend 5 to 10 minutes moving,"),
            ("Rest between one minute and two minutes at the end of a set.",
             "Rest between one minute and two minutes,")):
        assert SentenceSplitter(quick_start=True).feed(whole + " ")[0] == first, whole
    for whole in ("For building muscle with moderate weights of about six to twelve reps, rest.",
                  "Squat down and put your hands on the floor then jump your feet back."):
        first = SentenceSplitter(quick_start=True).feed(whole + " ")[0]
        assert first.split()[-1].rstrip(",") not in ("weights", "hands"), first


def test_a_clause_is_said_without_a_sentence_pause():
    """A first piece ends on a comma, and Piper's silence after it is the comma's
    pause; the sentence pause comes only after a whole sentence."""
    from assistant.speech.tts import TtsService, _Sentence

    class Voice:
        sample_rate = 1000

        def synthesize(self, text, steady=False):  # 100 ms of voice, 200 ms of silence
            return np.concatenate([np.full(100, 9000, np.int16), np.zeros(200, np.int16)])

    class Sink:
        def __init__(self):
            self.written = []

        def mark(self):
            pass

        def speaking(self):
            return True

        def cue_left_s(self):
            return 0.0

        async def write(self, audio):
            self.written.append(len(audio))

    async def main():
        sink = Sink()
        tts = TtsService(Bus(), Voice(), sink, pause_ms=120)
        for text in ("Yes, light training is usually fine,", "and gentle movement eases the stiffness.", "Rest well."):
            await tts._handle(_Sentence(1, text))
        return sink.written

    # Piper's own silence after the clause is its comma's pause; a whole sentence is followed by 120 ms more
    assert asyncio.run(main()) == [300, 300, 420]


def guarded(pieces, max_sentences=None):
    from assistant.speech.text import ReplyGuard

    guard, out = ReplyGuard(max_sentences), []
    for piece in pieces:
        text, enough = guard.feed(piece)
        out.append(text)
        if enough:
            return "".join(out), guard.reason
    return "".join(out) + guard.flush(), guard.reason


def test_the_guard_cuts_a_reply_before_its_first_repeated_sentence():
    loop = "So, I'm here to help you. You can do it. So, I'm here to make you feel better. So, I'm here"
    text, reason = guarded(re.findall(r"\S+\s*", loop))
    assert text.strip() == "So, I'm here to help you. You can do it." and reason == "a repeated sentence"
    text, _ = guarded(["Drink water. ", "Rest well. ", "Drink water. ", "Sleep."])
    assert text.strip() == "Drink water. Rest well."


def test_the_guard_keeps_at_most_n_sentences_and_streams_the_first_at_once():
    from assistant.speech.text import ReplyGuard

    guard = ReplyGuard(max_sentences=3)
    assert guard.feed("Rest two") == ("Rest two", False)  # the first sentence is not held back
    assert guard.feed(" minutes. Then") == (" minutes. ", False)
    text, reason = guarded(["One. Two words here. Dr. Smith agrees. Four. Five."], max_sentences=3)
    assert text == "One. Two words here. Dr. Smith agrees." and reason == "3 sentences"


def test_the_guard_leaves_a_good_reply_alone():
    reply = "Warm up for five minutes. Keep your back straight and your knees over your toes. Breathe out as you rise."
    text, reason = guarded([reply[i:i + 7] for i in range(0, len(reply), 7)], max_sentences=3)
    assert text == reply and reason == ""


def test_a_full_stop_after_no_min_or_etc_ends_a_sentence_unless_the_text_says_otherwise():
    """"no" is an abbreviation before a number only, "min", "sec" and "etc" before a
    lower-case word; a model's "The answer is no." is a whole first sentence."""
    text = "The answer is no. Rest 2 min. then stretch, etc. Try room No. 5 next. Rest 2 min. Then go."
    expected = ["The answer is no.", "Rest 2 min. then stretch, etc.", "Try room No. 5 next.", "Rest 2 min.",
                "Then go."]
    for size in (1, 3, 7, len(text)):
        assert stream(SentenceSplitter(), text, size) == expected
    quick = SentenceSplitter(quick_start=True)
    assert quick.feed("The answer is no.") == [] and quick.feed(" It's best") == ["The answer is no."]
