"""The Conversation with plain values: what the model sees, what is stored, and
what the user heard of a reply cut short."""

from assistant.llm.conversation import ROWS_KEPT, Conversation
from assistant.store.history import HistoryStore


def test_a_turn_is_remembered_with_its_reply():
    talk = Conversation()
    talk.begin(1, "How long should I rest?")
    talk.end(1, "How long should I rest?", "Two minutes.", False)
    assert [(t.user, t.reply, t.interrupted, t.turn_id) for t in talk.turns] == [
        ("How long should I rest?", "Two minutes.", False, 1)]


def test_a_reply_cut_while_written_keeps_what_was_heard():
    talk = Conversation()
    talk.begin(1, "Tell me a story.")
    talk.mark_interrupted(1, "Once upon")  # the voice was cut before the model finished
    talk.end(1, "Tell me a story.", "Once upon a time there was a runner.", False)
    assert (talk.turns[-1].reply, talk.turns[-1].interrupted) == ("Once upon", True)


def test_a_reply_cut_after_it_was_written_is_corrected_in_place_and_in_the_store(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3", 100)
    talk = Conversation(store)
    talk.begin(1, "Tell me a story.")
    talk.end(1, "Tell me a story.", "Once upon a time there was a runner.", False, "m", "embedded", 10.0, 90.0)
    talk.begin(2, "And then?")
    talk.end(2, "And then?", "She ran.", False)
    talk.mark_interrupted(1, "Once upon a time")
    assert [(t.reply, t.interrupted) for t in talk.turns] == [("Once upon a time", True), ("She ran.", False)]
    assert store.flush(5)
    assert [(t.reply, t.interrupted) for t in store.last(5)] == [("Once upon a time", True), ("She ran.", False)]
    store.close()


def test_memory_is_bounded_however_long_it_runs():
    talk = Conversation(turns_kept=5)
    for turn in range(1, 1001):
        talk.begin(turn, f"question {turn}")
        talk.mark_interrupted(turn, "heard")
        talk.end(turn, f"question {turn}", "answer", False)
    assert len(talk.turns) == 5 and talk.turns[0].user == "question 996"
    assert len(talk._rows) == ROWS_KEPT and talk._open == {} and talk._heard == {}


def test_ambient_speech_is_context_only_when_asked_and_resume_reads_the_store(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3", 100)
    quiet = Conversation(store)
    quiet.overheard("the kettle is on")
    assert list(quiet.turns) == []
    notes = Conversation(store, keep_ambient=True)
    notes.overheard("dinner at eight")
    assert notes.turns[-1].ambient and notes.turns[-1].user == "dinner at eight"
    quiet.begin(1, "Hi coach")
    quiet.end(1, "Hi coach", "Hello!", False)
    assert store.flush(5)
    again = Conversation(store)
    assert again.resume(10) == 1 and again.turns[0].reply == "Hello!"
    with_notes = Conversation(store, keep_ambient=True)
    assert with_notes.resume(10) == 3
    store.close()
