from assistant.core.config import WakeConfig
from assistant.listen.wake import addressed_reason, is_backchannel, phrase_score

PHRASE = WakeConfig(mode="phrase", phrases=("hey coach",), follow_up_s=8.0)


def test_always_mode_addresses_everything():
    assert addressed_reason("what a nice day", 0.0, None, WakeConfig()) == "always"


def test_wake_phrase_is_matched_fuzzily():
    for said in ("Hey Coach, how long should I rest?", "hey couch how long", "So, hey coach!", "Hi, coach."):
        assert addressed_reason(said, 100.0, None, PHRASE) == "wake-phrase", said


def test_other_speech_is_ambient():
    for said in ("pass me the salt", "hey there", "the coach bus is late"):
        assert addressed_reason(said, 100.0, None, PHRASE) is None, said


def test_follow_up_window_after_the_coach_spoke():
    assert addressed_reason("and after that?", 105.0, 100.0, PHRASE) == "follow-up"
    assert addressed_reason("and after that?", 109.0, 100.0, PHRASE) is None


def test_score_is_one_for_exact_and_low_for_unrelated():
    assert phrase_score("HEY, COACH", "hey coach") == 1.0
    assert phrase_score("bananas are yellow", "hey coach") < 0.5


def test_backchannels_are_short_acknowledgements_only():
    for said in ("Mm-hmm.", "M", "mm", "N m m. N m m m m", "Okay.", "OK", "Yeah, yeah.", "Right.", "Uh-huh.", "Got it.", "All right.", "Oh, I see."):
        assert is_backchannel(said), said
    for said in ("", "Stop.", "No.", "Okay, how long should I rest?", "Yeah, but my knee hurts.", "Right, right, right,"
                 " right.", "Wait.", "Mm, mm, stop.", "In m m m m, wait."):
        assert not is_backchannel(said), said


def test_a_run_of_hums_stays_a_backchannel_after_one_word_of_noise():
    assert is_backchannel("in m m m m m m m m")  # what whisper heard over a reply on the rig
    assert is_backchannel("You, mm mm.")
    for said in ("in mm", "You have mm mm.", "Rest, mm mm.", "Stop, mm mm.", "Mm mm, the rest?", "m m in m m"):
        assert not is_backchannel(said), said


def test_heard_again_with_hums_in_the_prompt_one_hum_after_the_noise_is_enough():
    """What whisper first heard as "in a month" over a paused reply (on the rig, the CPU
    busy) it heard again, prompted with hums, as "In Mm-": a hum, not a turn."""
    assert is_backchannel("In Mm-", prompted=True) and not is_backchannel("In Mm-")
    for said in ("in a month", "Stop, mm.", "in mm stop", "Rest mm"):
        assert not is_backchannel(said, prompted=True), said
