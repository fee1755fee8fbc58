"""Has the user finished? The end-of-turn judgement at a short pause.

Two witnesses, because each fails where the other does not:

- **Smart Turn v3.2** (pipecat-ai's BSD-2 ONNX model, 8.7 MB): the prosody of
  the last 8 s of audio, as Whisper's 80-bin log-mel (faster-whisper's own
  feature extractor, on the waveform normalised to zero mean and unit
  variance, exactly as the model was trained), gives the probability the
  turn is complete.
- **The transcript** whisper wrote for the same audio: a trailing "and", "the"
  or "to", a comma or an ellipsis is a clause still open whatever the voice
  did; a question mark or full stop is a sentence closed.

``judge`` (pure) combines them into how much more silence to wait for:

| transcript | model's probability of complete | verdict |
| --- | --- | --- |
| open clause ("I want to get better at") | any | hold |
| closed by "?" | at least 0.2 / under | end now / wait |
| closed by "." or "!" | at least 0.5 / under | end now / hold |
| no punctuation | at least 0.5 / under | wait / hold |
| nothing heard | any | wait |

A question mark counts as evidence of its own, so the model's bar is lower
after one: on Piper's voice Smart Turn gave complete questions 0.04 to 0.99
(six of twenty under 0.5), and fragments said as whole sentences up to 0.98.

*end now*: the turn ends at the pause (about 210 ms); *wait*: the old fixed
silence (``vad.end_silence_ms``); *hold*: up to ``vad.max_silence_ms`` for
someone who has not finished. A voice that comes back in the meantime simply
continues the utterance.
"""

from __future__ import annotations

import importlib.metadata
import logging
import re
from enum import Enum
from pathlib import Path

import numpy as np

from assistant.audio.capture import SAMPLE_RATE
from assistant.core.errors import ConfigError
from assistant.core.models import local_path

logger = logging.getLogger(__name__)

BUNDLED = "smart-turn-v3.2"
BUNDLED_FILE = "smart-turn-v3.2-cpu.onnx"  # in the pipecat-ai wheel: pipecat/audio/turn/smart_turn/data/
WINDOW_S = 8  # the model hears the last 8 s, zero-padded in front
SILENCE_S = 0.25  # silence the model hears after the pause's audio: the silence assumed to go on
THRESHOLD = 0.5  # Smart Turn's own cut-off between complete and incomplete
QUESTION_THRESHOLD = 0.2  # ... after a question mark


class Verdict(Enum):
    END = "end"  # the user finished: answer now
    WAIT = "wait"  # unsure: the fixed end-of-speech silence
    HOLD = "hold"  # not finished: up to the longest wait


# Words a turn does not end on. After a question mark only the ones that cannot end
# a question either ("what are you looking at?" ends on a preposition).
_OPEN_ALWAYS = {
    "and", "but", "or", "nor", "because", "cause", "the", "a", "an", "my", "your", "our", "their", "his", "her",
    "its", "um", "uh", "er", "erm", "uhm", "hmm", "if", "whether", "than", "although", "though", "while",
    "when", "during", "between", "until", "unless", "before", "after",
}
_OPEN_STATEMENT = (_OPEN_ALWAYS - {"before", "after"}) | {
    "to", "of", "for", "with", "at", "in", "on", "from", "about", "into", "onto", "by", "where", "which", "that",
    "then", "like", "is", "are", "was", "i", "i'm", "it's", "some", "more", "very", "really", "just", "also", "maybe",
}
_SO_ENDS = {"think", "hope", "guess", "believe", "said", "say", "not", "do", "did", "be", "is", "suppose"}
# Verbs a statement does not end on: they want what comes next ("after my long run I always feel ...",
# "how many minutes of rest do I need be-[tween]", as tiny.en heard two of benchmarks/mid_clause.py's pauses).
_WANTING = {"feel", "feels", "felt", "be", "been", "become", "gonna", "wanna"}  # not "need": "that's all I need."
# A question ends on a preposition when a wh-word left it there ("what are you looking at?"); with none, the
# preposition's object is still to come ("can you tell me how to get better at?").
_PREPOSITIONS = {"at", "to", "for", "with", "in", "on", "from", "about", "of", "into", "by", "like"}
_STRANDING = {"what", "who", "whom", "which", "where", "whose", "what's", "who's", "where's"}
_ASKED = {"can", "could", "would", "will", "should", "do", "does", "did", "is", "are"}  # "... can you" opens one


def transcript_closed(text: str) -> bool | None:
    """True: the words end a sentence; False: a clause is still open; None: no sign
    either way (no punctuation, or nothing heard)."""
    text = text.strip()
    if not text:
        return None
    if text.endswith(("...", "…", ",", "-", "—", ";", ":")):
        return False
    words = re.findall(r"[a-z']+", text.lower().replace("’", "'"))
    last = words[-1] if words else ""
    question = text.endswith("?")
    if last in (_OPEN_ALWAYS if question else _OPEN_STATEMENT | _WANTING):
        return False
    if question and last in _PREPOSITIONS and not _STRANDING & set(words):
        return False
    if len(words) > 2 and last in {"you", "i", "we"} and words[-2] in _ASKED:
        return False
    if last == "so" and not (len(words) > 1 and words[-2] in _SO_ENDS):
        return False
    if text.endswith(("?", ".", "!")):
        return True
    return None


def judge(probability: float, text: str) -> Verdict:
    """How long to go on waiting, from the model's probability that the turn is
    complete and the transcript of the same audio (the table above)."""
    text = text.strip()
    closed = transcript_closed(text)
    if not text:
        return Verdict.WAIT
    if closed is False:
        return Verdict.HOLD
    if text.endswith("?"):
        return Verdict.END if probability >= QUESTION_THRESHOLD else Verdict.WAIT
    if closed:
        return Verdict.END if probability >= THRESHOLD else Verdict.HOLD
    return Verdict.WAIT if probability >= THRESHOLD else Verdict.HOLD


def model_path(name: str) -> Path:
    """The ONNX file for the bundled name or a path (absolute or under models/)."""
    if name in (BUNDLED, "bundled"):
        try:
            files = importlib.metadata.files("pipecat-ai") or []
        except importlib.metadata.PackageNotFoundError:
            files = []
        for file in files:
            if file.name == BUNDLED_FILE:
                bundled = Path(str(file.locate()))
                if bundled.exists():
                    return bundled
        raise ConfigError(f"vad.turn_model: {name!r} needs the pipecat-ai wheel (scripts/setup installs it "
                          f"without its dependencies), or give a path to an ONNX file")
    found = local_path(name)
    if found is None or not found.is_file():
        raise ConfigError(f"vad.turn_model: no such file: {name!r} (the bundled name is {BUNDLED!r})")
    return found


class TurnModel:
    """Smart Turn, loaded once; ``probability`` runs in the caller's thread (about
    100 ms on one core of this 2-core machine)."""

    def __init__(self, name: str = BUNDLED, threads: int = 1):
        path = model_path(name)
        try:
            import onnxruntime as ort
            from faster_whisper.feature_extractor import FeatureExtractor

            options = ort.SessionOptions()
            options.inter_op_num_threads = 1
            options.intra_op_num_threads = threads  # one core: the transcript runs beside it
            options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            self.session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
            self.features = FeatureExtractor(feature_size=80, chunk_length=WINDOW_S)
            self.input = self.session.get_inputs()[0].name
        except Exception as err:  # onnxruntime raises its own kinds for a bad file
            raise ConfigError(f"vad.turn_model: cannot load {path}: {err}") from err
        logger.info("turn: loaded %s", path.name)

    def probability(self, audio: np.ndarray) -> float:
        """The probability that ``audio`` (int16 @ 16 kHz, ending in the pause) is a
        finished turn if the user stays silent. The model learnt turns that end in
        about half a second of silence; a pause judged at 210 ms has had less, so
        ``SILENCE_S`` more is what it hears (on 20 complete questions said by Piper,
        with 150 ms of silence 14 scored 0.5 or more, with 400 ms 19; 10 fragments
        scored the same either way)."""
        audio = np.concatenate([audio, np.zeros(int(SILENCE_S * SAMPLE_RATE), np.int16)])
        samples = audio[-WINDOW_S * SAMPLE_RATE:].astype(np.float32) / 32768.0
        samples = np.pad(samples, (WINDOW_S * SAMPLE_RATE - len(samples), 0))
        samples = (samples - samples.mean()) / np.sqrt(samples.var() + 1e-7)
        mel = self.features(samples, padding=0)[:, : WINDOW_S * 100].astype(np.float32)
        output = self.session.run(None, {self.input: mel[None]})[0]
        return float(np.asarray(output).reshape(-1)[0])
