"""What the user's limits rule out of a plan: a sore knee, back, shoulder, wrist
or ankle. The templates' exercises each have their stand-in (or none); for the
rest of the exercise list, which a model may pick from, what loads the part the
same way. Pure data and one function."""

from __future__ import annotations

import re

# What a limit rules out, and what takes its place (None: left out): no jumping or deep
# knee bends on a bad knee, no heavy hinge on a bad back, nothing overhead on a bad shoulder.
INSTEAD: dict[str, dict[str, str | None]] = {
    "knee": {"lunge": "glute bridge", "split squat": "glute bridge", "jumping jack": None, "burpee": None,
             "goblet squat": "glute bridge", "squat": "leg press"},
    "back": {"deadlift": "hip thrust", "romanian deadlift": "glute bridge", "barbell row": "dumbbell row",
             "squat": "goblet squat", "kettlebell swing": "glute bridge", "burpee": None},
    "shoulder": {"overhead press": "lat pulldown", "bench press": "push-up", "pull-up": "inverted row",
                 "hanging leg raise": "dead bug"},
    "wrist": {"push-up": "dead bug", "plank": "dead bug", "side plank": "dead bug", "bench press": None,
              "burpee": None},
    "ankle": {"jumping jack": None, "calf raise": None, "burpee": None},
}

# Beyond the templates' exercises (a model may pick any the log knows): what loads a sore
# part the way those ruled out above do.
_RISKY = {
    "knee": re.compile(r"jump|lunge|pistol|burpee|sissy|skater|bound|tuck|sprint|(?<!goblet )squat|step-up|"
                       r"leg extension|thruster|wall ball|double under|\bbox\b|\bhill\b"),
    "back": re.compile(r"deadlift|good morning|clean|snatch|jefferson|atlas|tire flip|swing|barbell row|t-bar row|"
                       r"pendlay|rack pull|man maker|(?:front|back|overhead|zercher|safety bar|box|pause) squat|"
                       r"yoke|sandbag|sled"),
    "shoulder": re.compile(r"overhead|jerk|snatch|handstand|\bdip|muscle-up|(?<!leg )press|bench|pull-up|chin-up|"
                           r"upright row|planche|skin the cat|front lever|back lever|human flag|\bring\b|rope climb|"
                           r"battle rope|wall ball|thruster|y raise|pullover"),
    "wrist": re.compile(r"wrist|push-up|plank|handstand|planche|burpee|front lever|l-sit|crow pose|mountain climber|"
                        r"bear crawl|crab walk|devil press|bench|shoulder tap|clean|snatch|front squat|renegade|"
                        r"man maker|inchworm|\bdip\b"),
    "ankle": re.compile(r"jump|sprint|\bskip|bound|double under|calf raise|burpee|agility|\bhill\b|shuttle|cone drill|"
                        r"skater|skiing|beep test"),
}


def ruled_out(part: str, exercise: str) -> bool:
    """Whether a limit of ``part`` ("knee", "back", ...) rules ``exercise`` out."""
    risky = _RISKY.get(part)
    return exercise in INSTEAD.get(part, {}) or (risky is not None and risky.search(exercise) is not None)
