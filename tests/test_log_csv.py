"""The workout log as the workout apps export and import it (``log_csv``,
``assistant log --csv`` and ``--import``): Strong's columns, one row per set,
and a round trip that gives back the same file."""

import io
import os
from datetime import datetime

import pytest
from helpers import run_cli

from assistant.skills import log_csv
from assistant.skills.notebook import Notebook
from assistant.skills.workouts import Entry, Logged

MONDAY = datetime(2026, 12, 7, 9, 0).timestamp()
STRONG = """Date,Workout Name,Duration,Exercise Name,Set Order,Weight,Reps,Distance,Seconds,Notes,Workout Notes,RPE
2026-11-30 18:02:11,Legs,1h 5m,Squat (Barbell),1,100,5,0,0,,,8
2026-11-30 18:02:11,Legs,1h 5m,Squat (Barbell),2,100,5,0,0,,,
2026-11-30 18:02:11,Legs,1h 5m,Running,1,0,0,5.2,1680,felt good,,
"""


def written(entries: list[Logged], said: dict[int, str] | None = None) -> list[str]:
    out = io.StringIO()
    log_csv.written(entries, said or {}, out)
    return out.getvalue().splitlines()


def test_one_row_per_set_in_kilos_and_kilometres_a_day_one_workout():
    entries = [Logged(1, MONDAY, Entry("squat", 3, 5, 100.0, "kg")),
               Logged(2, MONDAY + 1800, Entry("bench press", 1, 8, 135.0, "lb")),
               Logged(3, MONDAY + 3900, Entry("run", distance=3.0, distance_unit="mi", duration_s=1500.0)),
               Logged(4, MONDAY + 86400, Entry("plank", duration_s=60.0))]
    rows = written(entries, {2: "Bench 135 pounds for 8."})
    assert rows[0] == ",".join(log_csv.COLUMNS)
    assert rows[1:] == [
        "2026-12-07 09:00:00,Coach,1h 5m,squat,1,100,5,0,0,,,",
        "2026-12-07 09:00:00,Coach,1h 5m,squat,2,100,5,0,0,,,",
        "2026-12-07 09:00:00,Coach,1h 5m,squat,3,100,5,0,0,,,",
        "2026-12-07 09:00:00,Coach,1h 5m,bench press,1,61.235,8,0,0,Bench 135 pounds for 8.,,",
        "2026-12-07 09:00:00,Coach,1h 5m,run,1,0,0,4.828,1500,,,",
        "2026-12-08 09:00:00,Coach,0m,plank,1,0,0,0,60,,,"]


def test_a_strong_export_is_read_with_our_names_one_entry_per_set():
    found = log_csv.read(io.StringIO(STRONG), "strong.csv")
    start = datetime(2026, 11, 30, 18, 2, 11).timestamp()
    assert [(r.at - start, r.entry, r.said) for r in found] == [
        (0.0, Entry("squat", 1, 5, 100.0, "kg"), ""),
        (1950.0, Entry("squat", 1, 5, 100.0, "kg"), ""),
        (3900.0, Entry("run", distance=5.2, distance_unit="km", duration_s=1680.0), "felt good")]
    pounds = "Date;Workout Name;Exercise Name;Set Order;Weight;Weight Unit;Reps\n2026-11-30 18:02:11;Legs;Deadlift;1;225;lbs;3\n"
    [deadlift] = log_csv.read(io.StringIO(pounds.replace(";", ",")), "old.csv")
    assert deadlift.entry == Entry("deadlift", 1, 3, 225.0, "lb")


@pytest.mark.parametrize(("text", "culprit"), [
    ("name,when\nsquat,today\n", "strong.csv: no Date or Exercise Name column: not a workout export"),
    (STRONG.replace("1h 5m,Squat (Barbell),1,100", "1h 5m,Squat (Barbell),1,heavy"),
     "strong.csv, row 2: Weight 'heavy' is not a number"),
    (STRONG.replace(",100,5,0,0,,,8", ",-100,5,0,0,,,8"), "strong.csv, row 2: Weight '-100' is out of bounds"),
    (STRONG.replace("2026-11-30 18:02:11", "last monday"), "strong.csv: Date 'last monday' is not a date"),
])
def test_a_file_that_is_no_export_is_refused_naming_the_row_and_column(text, culprit):
    with pytest.raises(log_csv.BadCsv, match=culprit):
        log_csv.read(io.StringIO(text), "strong.csv")


def test_exported_imported_and_exported_again_the_file_is_the_same(tmp_path):
    first = tmp_path / "first"
    notebook = Notebook(first / "assistant" / "history.sqlite3")
    notebook.log(Entry("squat", 1, 5, 100.0, "kg"), "Done.", at=MONDAY)
    notebook.log(Entry("squat", 1, 4, 100.0, "kg"), "Only four.", at=MONDAY + 240)
    notebook.log(Entry("deadlift", 3, 5, 140.0, "kg"), "Log three sets of five deadlifts at 140.", at=MONDAY + 900)
    notebook.log(Entry("bench press", 2, 8, 135.0, "lb"), "", at=MONDAY + 1500)
    notebook.log(Entry("run", distance=5.0, distance_unit="km", duration_s=1560.0), "I ran 5k in 26 minutes.",
                 at=MONDAY + 86400 * 2)
    notebook.close()
    exported = run_cli("log", "--csv", state=first)
    assert exported.code == 0, exported.stderr
    (tmp_path / "log.csv").write_text(exported.stdout)

    second = tmp_path / "second"
    imported = run_cli("log", "--import", tmp_path / "log.csv", state=second)
    assert (imported.code, imported.stdout.strip()) == (0, f"imported 8 sets from {tmp_path / 'log.csv'}")
    again = run_cli("log", "--csv", state=second)
    assert again.stdout == exported.stdout and len(again.stdout.splitlines()) == 9
    twice = run_cli("log", "--import", tmp_path / "log.csv", state=second)
    assert twice.stdout.strip() == f"imported 0 sets from {tmp_path / 'log.csv'} (8 already in the log)"
    assert run_cli("log", "--csv", state=second).stdout == exported.stdout


def test_a_bad_file_to_import_is_one_line_naming_it_and_a_failed_exit(tmp_path):
    (tmp_path / "notes.txt").write_text("bench day!\nfelt strong\n")
    bad = run_cli("log", "--import", tmp_path / "notes.txt")
    assert bad.code != 0 and bad.stderr.strip().splitlines() == [
        f"assistant: error: log --import {tmp_path / 'notes.txt'}: no Date or Exercise Name column: not a workout export"]
    missing = run_cli("log", "--import", tmp_path / "absent.csv")
    assert missing.code != 0 and len(missing.stderr.strip().splitlines()) == 1
    assert "absent.csv" in missing.stderr and "Traceback" not in missing.stderr


def test_in_pounds_and_miles_as_the_app_is_set_and_back():
    entries = [Logged(1, MONDAY, Entry("bench press", 1, 8, 225.0, "lb")),
               Logged(2, MONDAY + 600, Entry("run", distance=5.0, distance_unit="km", duration_s=1500.0))]
    out = io.StringIO()
    log_csv.written(entries, {}, out, imperial=True)
    rows = out.getvalue().splitlines()
    assert rows[1].split(",")[3:7] == ["bench press", "1", "225", "8"]
    assert rows[2].split(",")[7:9] == ["3.107", "1500"]
    back = log_csv.read(io.StringIO(out.getvalue()), "us.csv", imperial=True)
    assert back[0].entry == Entry("bench press", 1, 8, 225.0, "lb")
    assert back[1].entry == Entry("run", distance=3.107, distance_unit="mi", duration_s=1500.0)


def test_the_logs_own_export_imported_into_it_adds_nothing(tmp_path):
    state = tmp_path / "state"
    notebook = Notebook(state / "assistant" / "history.sqlite3")
    notebook.log(Entry("deadlift", 3, 5, 140.0, "kg"), "Three sets of five deadlifts at 140.", at=MONDAY)
    notebook.log(Entry("plank", duration_s=60.0), "Plank for a minute.", at=MONDAY + 600)
    notebook.log(Entry("squat", 1, 5, 100.0, "kg"), "Done.", at=MONDAY - 86400 * 20)  # an older day, logged last
    notebook.close()
    exported = run_cli("log", "--csv", state=state)
    assert [row.split(",")[0][:10] for row in exported.stdout.splitlines()[1:]] == \
        ["2026-11-17"] + ["2026-12-07"] * 4  # by when the sets were done, not when they were logged
    (tmp_path / "log.csv").write_text(exported.stdout)
    again = run_cli("log", "--import", tmp_path / "log.csv", state=state)
    assert again.stdout.strip() == f"imported 0 sets from {tmp_path / 'log.csv'} (5 already in the log)"


def test_a_pipe_is_no_file_to_import(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    refused = run_cli("log", "--import", tmp_path / "pipe")
    assert refused.code == 2 and refused.stderr.strip() == f"assistant: error: log --import {tmp_path / 'pipe'}: not a file"

