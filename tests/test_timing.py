"""Timer plans and the running state, as pure logic: cues at their offsets, and
pause, resume and skip moving the origin so every cue keeps its place."""

from assistant.skills.router import StartSession, StartTimer
from assistant.skills.timing import LEAD_IN_S, Running, confirmation, plan, spoken_duration


def cues(p):
    return [(c.offset_s, c.kind, c.text) for c in p.cues]


def test_a_ten_second_timer_counts_down_and_ends_at_ten():
    assert cues(plan(StartTimer(10))) == [
        (7, "countdown", "Three."), (8, "countdown", "Two."), (9, "countdown", "One."), (10, "done", "Time's up!"),
    ]


def test_a_two_minute_timer_says_halfway_and_ten_seconds():
    kinds = {(c.offset_s, c.kind) for c in plan(StartTimer(120)).cues}
    assert {(60, "halfway"), (110, "ten-seconds"), (117, "countdown"), (120, "done")} <= kinds


def test_a_reminder_says_only_what_to_do_at_its_time():
    assert cues(plan(StartTimer(600, "reminder", "drink water"))) == [(600, "done", "Reminder: drink water.")]


def test_tabata_is_eight_rounds_of_twenty_on_ten_off():
    p = plan(StartSession(8, 20, 10, "tabata"))
    gos = [c for c in p.cues if c.kind == "go"]
    assert [g.offset_s for g in gos] == [LEAD_IN_S + i * 30 for i in range(8)]
    assert gos[1].text == "Go! Round 2 of 8."
    assert [c.offset_s for c in p.cues if c.kind == "rest"] == [LEAD_IN_S + 20 + i * 30 for i in range(7)]
    assert p.cues[-1].kind == "done" and p.cues[-1].offset_s == p.total_s == LEAD_IN_S + 8 * 20 + 7 * 10
    # the countdown into every round: the lead-in and the ten-second rests are long enough
    assert [c.offset_s for c in p.cues if c.kind == "countdown" and c.text == "Three."][:3] == [
        LEAD_IN_S - 3, LEAD_IN_S + 17, LEAD_IN_S + 27]


def test_short_phases_have_only_go_and_rest():
    p = plan(StartSession(3, 5, 3))
    assert [(c.offset_s - LEAD_IN_S, c.kind) for c in p.cues if c.kind != "countdown"] == [
        (0, "go"), (5, "rest"), (8, "go"), (13, "rest"), (16, "go"), (21, "done")]


def test_emom_counts_minutes_without_rest():
    p = plan(StartSession(10, 60, 0, "emom"))
    assert [c.text for c in p.cues if c.kind == "go"][2] == "Go! Minute 3 of 10."
    assert not [c for c in p.cues if c.kind == "rest"]
    assert p.total_s == LEAD_IN_S + 600


def test_pause_and_resume_shift_every_cue_by_the_pause():
    running = Running.start(1, StartTimer(30), now=100.0)
    assert running.next_due() == 115.0  # halfway
    running.pause(105.0)
    assert running.next_due() is None
    assert running.remaining(107.0) == "25 seconds left (paused)."
    running.resume(112.0)
    assert running.next_due() == 122.0 and running.ends_at() == 137.0


def test_skip_the_rest_starts_the_next_round_now():
    running = Running.start(1, StartSession(4, 30, 15), now=0.0)
    rest_starts = LEAD_IN_S + 30
    while running.plan.cues[running.next_cue].offset_s <= rest_starts:  # played up to "Rest."
        running.next_cue += 1
    now = rest_starts + 2
    assert running.remaining(now) == "Rest: 13 seconds before round 2 of 4."
    running.skip(now)
    cue = running.plan.cues[running.next_cue]
    assert (cue.kind, cue.text) == ("go", "Go! Round 2 of 4.")
    assert running.next_due() == now  # due at once
    assert running.remaining(now) == "Round 2 of 4: 30 seconds of work left."


def test_a_stored_record_rebuilds_the_same_timer():
    running = Running.start(7, StartSession(3, 45, 60), now=1000.0)
    running.pause(1010.0)
    again = Running.from_record(7, running.record())
    assert again.plan == running.plan and again.origin == 1000.0 and again.paused_at == 1010.0


def test_what_the_coach_says():
    assert confirmation(StartTimer(30)) == "Okay! 30 seconds, starting now."
    assert confirmation(StartTimer(45, "plank")) == "Plank, 45 seconds. Go!"
    reminder = confirmation(StartTimer(600, "reminder", "drink water"))
    assert reminder == "Okay, I'll remind you to drink water in 10 minutes."
    assert confirmation(StartSession(4, 30, 15)) == "Okay! 4 rounds: 30 seconds on, 15 off."
    assert confirmation(StartSession(3, 45, 60)) == "Okay! 3 rounds: 45 seconds on, 1 minute off."
    assert spoken_duration(150) == "2 minutes 30 seconds" and spoken_duration(3600) == "1 hour"
