"""The page's charts (``daemon/charts``): the series from the log, and SVG that
carries each value and escapes every label."""

from datetime import datetime
from xml.etree import ElementTree

from assistant.daemon import charts
from assistant.skills.workouts import Entry, Logged

MONDAY = datetime(2026, 11, 30, 18, 0).timestamp()
DAY = 86400


def test_weekly_volume_best_per_day_and_distance_per_week():
    log = [
        Logged(1, MONDAY, Entry("squat", 3, 5, 80.0, "kg")),  # 1200 kg
        Logged(2, MONDAY + 2 * DAY, Entry("squat", 2, 3, 220.0, "lb")),  # 6 x 99.8 kg
        Logged(3, MONDAY + 7 * DAY, Entry("squat", 1, 1, 100.0, "kg")),
        Logged(4, MONDAY + DAY, Entry("run", distance=5.0, distance_unit="km", duration_s=1500.0)),
        Logged(5, MONDAY + 8 * DAY, Entry("run", distance=2.0, distance_unit="mi")),
        Logged(6, MONDAY, Entry("push-up", 3, 20)),
    ]
    volume, unit = charts.weekly_volume(log, "squat")
    assert unit == "kg" and [label for label, _ in volume] == ["30 Nov", "07 Dec"]
    assert abs(volume[0][1] - (1200 + 6 * 220 * 0.4536)) < 1 and volume[1][1] == 100.0
    assert charts.weekly_volume(log, "push-up") == ([("30 Nov", 60.0)], "reps")  # no load said: reps
    best = charts.best_per_day(log, "squat")
    assert [label for label, _ in best] == ["30 Nov", "02 Dec", "07 Dec"]
    assert best[0][1] == round(80 * (1 + 5 / 30), 1) and best[2][1] == 100.0
    assert charts.weekly_distance(log) == [("30 Nov", 5.0), ("07 Dec", round(2 * 1.609344, 2))]


def test_the_svg_holds_each_value_and_escapes_labels():
    svg = charts.bars("<script>alert(1)</script>", [("a&b", 3.0), ("c", 0.0)], "kg")
    root = ElementTree.fromstring(svg)  # well-formed XML
    bars = root.findall(".//{http://www.w3.org/2000/svg}rect")
    assert [b.get("data-value") for b in bars] == ["3.0", "0.0"] and bars[0].get("data-label") == "a&b"
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    line = ElementTree.fromstring(charts.lines("t", {"first word": [("1", 300.0), ("2", 450.0)]}, "ms"))
    dots = line.findall(".//{http://www.w3.org/2000/svg}circle")
    assert [d.get("data-value") for d in dots] == ["300.0", "450.0"]
    assert "Nothing yet" in charts.bars("empty", [], "km")


def test_every_top_value_gets_a_round_axis():
    """The axis's top is a round number over any highest value (39 once had none)."""
    for top in (0.001, 0.5, 3.9, 7.0, 38.2, 39.0, 390.0, 399.0, 1200.0, 3999.0, 1e9):
        scale = charts._scale([("a", top)])
        assert top < scale <= 2.1 * top, (top, scale)
    assert charts._scale([]) == 1.0


def test_a_line_chart_draws_its_marks_across_and_makes_room_for_them():
    svg = charts.lines("t", {"first sound": [("1", 300.0), ("2", 420.0)]}, "ms", marks=[("p50", 360.0), ("p95", 900.0)])
    root = ElementTree.fromstring(svg)
    marks = root.findall(".//{http://www.w3.org/2000/svg}line[@class='mark']")
    assert [(m.get("data-mark"), m.get("data-value")) for m in marks] == [("p50", "360.0"), ("p95", "900.0")]
    assert all(float(m.get("y1")) >= charts.TOP for m in marks)  # inside the plot: the axis grew for the p95
