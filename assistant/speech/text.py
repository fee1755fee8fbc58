"""From streamed model text to speakable sentences. Pure logic.

``ThinkFilter`` removes ``<think>...</think>`` blocks across chunk boundaries,
``speakable`` strips markdown and emoji, ``SentenceSplitter`` cuts the stream
into sentences as soon as each one is complete.
"""

from __future__ import annotations

import re

from assistant.core.spoken import NUMBER_WORDS

OPEN, CLOSE = "<think>", "</think>"

_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\U00002600-\U000027bf\U0001f900-\U0001f9ff\u2300-\u23ff"
    "\u2b00-\u2bff\ufe0f\u200d\U000e0000-\U000e007f]+"
)
_MARKDOWN = [
    (re.compile(r"```.*?(```|$)", re.S), " "),  # code blocks are not read out
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),  # links and images: keep the text
    (re.compile(r"^\s{0,3}#{1,6}\s*", re.M), ""),  # headings
    (re.compile(r"^\s*>\s?", re.M), ""),  # quotes
    (re.compile(r"^\s*(?:[-*+•]|\d+[.)])\s+", re.M), ""),  # list markers
    (re.compile(r"^\s*\|?[\s:|-]*-{3,}[\s:|-]*$", re.M), " "),  # table rules
    (re.compile(r"\|"), ", "),  # table cells
    (re.compile(r"(\*\*|__|\*|~~|`)"), ""),  # emphasis and inline code marks
    (re.compile(r"(?<!\w)_(\S[^_]*)_(?!\w)"), r"\1"),
    (re.compile(r"<[^>]{1,40}>"), " "),  # stray tags
]


class ThinkFilter:
    """Feed streamed text; get it back without reasoning blocks."""

    def __init__(self) -> None:
        self._buffer = ""
        self._thinking = False

    def feed(self, delta: str) -> str:
        self._buffer += delta
        out = []
        while self._buffer:
            tag = CLOSE if self._thinking else OPEN
            at = self._buffer.find(tag)
            if at >= 0:
                if not self._thinking:
                    out.append(self._buffer[:at])
                self._buffer = self._buffer[at + len(tag) :]
                self._thinking = not self._thinking
                continue
            keep = _partial_suffix(self._buffer, tag)  # a tag may be split across chunks
            if not self._thinking:
                out.append(self._buffer[: len(self._buffer) - keep])
            self._buffer = self._buffer[len(self._buffer) - keep :]
            break
        return "".join(out)

    def flush(self) -> str:
        rest, self._buffer = ("" if self._thinking else self._buffer), ""
        return rest


def _partial_suffix(text: str, tag: str) -> int:
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if tag.startswith(text[-size:]):
            return size
    return 0


def strip_reasoning(text: str) -> str:
    f = ThinkFilter()
    return (f.feed(text) + f.flush()).strip()


def speakable(text: str) -> str:
    """What a voice should say: no markdown, no emoji, single spaces."""
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    text = _EMOJI.sub(" ", text)
    text = re.sub(r"\s+([,.!?;:])", r"\1", text)
    text = re.sub(r"(,\s*){2,}", ", ", text)
    return " ".join(text.split()).strip(" ,")


_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "e.g", "i.e", "approx"}  # a full stop that never ends one
_BEFORE_NUMBER = {"no"}  # "No. 5", but "The answer is no." ends a sentence
_BEFORE_LOWER = {"etc", "min", "sec"}  # "2 min. then" goes on; "2 min. Then" is a new sentence
_END = re.compile(r"([.!?…]+[\"')\]]*)(\s+)|(\n\s*\n)|(\n(?=\s*(?:[-*+•]|\d+[.)])\s))")
LONG_SENTENCE = 220


_CLAUSE_END = re.compile(r"[,;:]$")
_DASH = frozenset("-–—")
# Words a clause may begin with: the first piece can end before one ("Light training is fine | and ...").
# ("so" is not one: "a warm-up is | so important"; the "so" that joins two clauses follows a comma anyway.)
_JOINS = frozenset({"and", "but", "then", "because", "which", "while", "when", "until", "unless", "although",
                    "though", "since"})
# Before these the next "and" or "or" is no new clause: "between one and two", "both ... and".
_PAIRED = frozenset({"between", "both", "either", "whether"})
_NUMBERS = frozenset(NUMBER_WORDS) | {"a", "half", "few", "couple"}
_FRACTIONS = frozenset({"half", "quarter"})  # "a minute and a half", "an hour and a quarter"
_ENDED = re.compile(r"[.!?…][\"')\]]*$")
FIRST_CLAUSE_WORDS = 3  # the first piece has at least this many words ("For most people,")
WHOLE_WORDS = 8  # a whole first sentence this short is said whole: it is quick to voice and its tune is whole
TAIL_WORDS = 3  # and a cut leaves at least this many words after it in a whole sentence
# With no cut at a comma in the first FIRST_PIECE_MAX + 1 words, nor before a clause word among them, the first
# piece ends before the first phrase ("Swimming is a great whole-body workout | with little impact"), PHRASE_WORDS
# words in at least: Piper takes about 12 ms a word, and the voice should start within 200 ms of the first token.
FIRST_PIECE_MAX = 7
PHRASE_WORDS = 4
# ("in", "on", "at" and "for" often finish what went before: "put your hands | on the floor" is no phrase)
_PHRASES = frozenset({"with", "without", "after", "before", "during", "until", "if"})
# ... so before one of these only when nothing else came in FIRST_PIECE_MAX + 1 words of a whole sentence
# (streamed, the rest may be a short tail): "Easy pace means you could hold a conversation | in full sentences
# while running." (Piper took 264 ms on the whole of it)
LATE_WORDS = 5  # ... with at least this many words before it
# ... and not after a word the phrase completes: "take | in", "fit | in", "puts your knee | at" (a participle
# too: "wrapped | in", "tucked | at")
_TAKES_ITS_PHRASE = frozenset({"take", "takes", "fit", "fits", "put", "puts", "knee", "knees", "bend", "hurts",
                               "weight", "hand", "hands", "feet", "foot", "go", "goes", "come", "comes", "stay",
                               "stays", "keep", "keeps", "get", "gets", "look", "looks", "ask", "asks", "wait", "aim",
                               "breathe", "benefit", "benefits"})
_LATE_PHRASES = frozenset({"in", "at", "for", "from", "into"})  # not "of", "to", "on": "hands | on"
# ... but not after these: "start with", "even if", "right after", "the day before": the phrase belongs to what
# went before
_NO_PHRASE_AFTER = frozenset({
    "a", "an", "the", "your", "my", "this", "that", "and", "or", "but", "as", "than", "of", "to", "for", "with", "from",
    "in", "on", "at", "is", "are", "be", "not", "no", "deal", "help", "along", "start", "begin", "come", "comes",
    "work", "together", "compared", "even", "only", "just", "right", "soon", "shortly", "long", "day", "week", "night"})


def first_cut(text: str, whole: bool) -> int | None:
    """Where the first piece of a reply may end so the voice can start before its
    first sentence is written or voiced: after a clause's comma, semicolon, colon or
    dash, before a word that opens a clause ("and", "but", "because", ...),
    with ``FIRST_CLAUSE_WORDS`` words before it; failing those within
    ``FIRST_PIECE_MAX`` words, before a phrase's first word ("with", "until",
    "if", ...), or in a whole sentence, before "in", "at", "for", ...
    ``whole``: ``text`` is a complete sentence (longer than ``WHOLE_WORDS``),
    so the cut also leaves ``TAIL_WORDS`` after it; otherwise
    only words already followed by a space count. None: no such place yet."""
    words = list(re.finditer(r"\S+", text))
    if whole and len(words) <= WHOLE_WORDS:
        return None
    last = len(words) - (TAIL_WORDS if whole else 0 if text[-1:].isspace() else 1)  # a last word may be half written
    said = [w.group().lower().strip(",;:.!?") for w in words]
    paired = False
    phrase: int | None = None  # the first place before a phrase, taken when no clause ends soon enough
    late: int | None = None  # the first place before a "late" phrase, taken when there is not even that
    for i, match in enumerate(words[:last]):
        word = match.group().lower()
        before = said[i - 1] if i else ""
        if i >= FIRST_PIECE_MAX + 1 and (cut := phrase if phrase is not None else late if whole else None):
            return cut
        if i >= FIRST_CLAUSE_WORDS + 1 and word in _JOINS and not paired and before not in _NUMBERS \
                and not before[:1].isdigit():
            if i + 2 >= last and not whole:
                return None  # "and a ..." may be "and a half": wait for the two words after it
            if not _FRACTIONS & set(said[i + 1: i + 3]):
                return words[i - 1].end()
        if i >= FIRST_CLAUSE_WORDS + 1 and word in _DASH or i + 1 >= FIRST_CLAUSE_WORDS and _CLAUSE_END.search(word):
            return match.end()
        opens = before not in _NO_PHRASE_AFTER and before not in _NUMBERS and not before[:1].isdigit()
        if phrase is None and i >= PHRASE_WORDS and said[i] in _PHRASES and opens:
            phrase = words[i - 1].end()
        if late is None and i >= LATE_WORDS and said[i] in _LATE_PHRASES and opens and not before.endswith("ed") \
                and before not in _TAKES_ITS_PHRASE:
            late = words[i - 1].end()
        paired = paired or word in _PAIRED
    return phrase if whole else None


def _clause(text: str) -> str:
    """A first piece as the voice should say it: ending on a comma, so Piper's tune
    goes on and its pause is a comma's (the TTS adds no sentence pause after it)."""
    return speakable(text).rstrip(" ,;:-–—") + ","


class SentenceSplitter:
    """Feed streamed text; get back each sentence once it is complete.

    With ``quick_start``, the very first piece may be a clause (``first_cut``),
    returned ending on a comma, so the voice can start sooner.
    """

    def __init__(self, quick_start: bool = False) -> None:
        self._buffer = ""
        self._quick = quick_start

    def feed(self, delta: str) -> list[str]:
        self._buffer += delta
        sentences = []
        start = 0
        for match in _END.finditer(self._buffer):
            end = match.end(1) if match.group(1) else match.start()
            candidate = self._buffer[start:end]
            if match.group(1) and _ends_with_abbreviation(candidate, self._buffer[match.end():]):
                continue
            sentences.append(candidate)
            start = match.end()
        self._buffer = self._buffer[start:]
        pieces = [speakable(s) for s in sentences]
        if self._quick:
            first = sentences[0] if sentences else self._buffer
            # a reply sent whole (a skill's, the interview's) ends on its full stop, with nothing after it
            whole = bool(sentences) or bool(_ENDED.search(first))
            if (cut := first_cut(first, whole)) is not None:
                pieces[:1] = [_clause(first[:cut]), speakable(first[cut:])] if sentences else [_clause(first[:cut])]
                if not sentences:
                    self._buffer = self._buffer[cut:].lstrip()
            self._quick = not pieces
        if len(self._buffer) > LONG_SENTENCE:
            cut = max(self._buffer.rfind(", ", 0, LONG_SENTENCE), self._buffer.rfind("; ", 0, LONG_SENTENCE))
            if cut > 40:
                pieces.append(_clause(self._buffer[: cut + 1]))
                self._buffer = self._buffer[cut + 2 :]
        return [p for p in pieces if _has_words(p)]

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer, ""
        text = speakable(rest)
        return [text] if _has_words(text) else []


def _has_words(text: str) -> bool:
    return bool(re.search(r"\w", text))


def _ends_with_abbreviation(candidate: str, following: str) -> bool:
    """The full stop ending ``candidate`` belongs to an abbreviation, not the end of
    a sentence. ``following``: the text after it; when it has not streamed in yet,
    an abbreviation that depends on it is assumed (the sentence waits a token)."""
    if not candidate.rstrip().endswith("."):
        return False
    last = candidate.rstrip(".!?…\"')]").split()
    word = last[-1].lower().rstrip(".") if last else ""
    after = following.lstrip()[:1]
    if word in _BEFORE_NUMBER:
        return not after or after.isdigit()
    if word in _BEFORE_LOWER:
        return not after or not after.isupper()
    return word in _ABBREVIATIONS


def split_sentences(text: str) -> list[str]:
    splitter = SentenceSplitter()
    return splitter.feed(text) + splitter.flush()


_WORDS = re.compile(r"[a-z0-9']+")
_SENTENCE_END = re.compile(r"[.!?…]+[\"')\]]*\s+")
SAME_OPENING_WORDS = 4  # two sentences opening with the same four words: a loop ("So, I'm here to ...")
SIMILAR = 0.75  # word-sequence similarity at which a sentence counts as said already


def _sentence_words(sentence: str) -> list[str]:
    return _WORDS.findall(sentence.lower())


def repeats(sentence: list[str], earlier: list[str]) -> bool:
    """Does ``sentence`` (its words) say ``earlier`` again, word for word or nearly?"""
    from difflib import SequenceMatcher

    if not sentence or not earlier:
        return False
    if sentence == earlier:
        return True
    n = SAME_OPENING_WORDS
    if len(sentence) > n and len(earlier) > n and sentence[:n] == earlier[:n]:
        return True
    return min(len(sentence), len(earlier)) >= 3 and SequenceMatcher(None, sentence, earlier).ratio() >= SIMILAR


class ReplyGuard:
    """Feed a streamed reply; get back what may be said. It ends the reply before
    the first sentence that repeats an earlier one, or after ``max_sentences``.

    The first sentence streams through at once (it cannot repeat anything); later
    ones are held until complete, so a repeated sentence is never said at all.
    """

    def __init__(self, max_sentences: int | None = None) -> None:
        self.max_sentences = max_sentences
        self.reason = ""  # why the reply was ended early, once it was
        self._text = ""
        self._released = 0  # characters of _text handed out
        self._complete = 0  # characters of _text in complete sentences
        self._said: list[list[str]] = []

    def feed(self, delta: str) -> tuple[str, bool]:
        """(text to say now, True when the reply should end here)."""
        if self.reason:
            return "", True
        self._text += delta
        look = self._complete
        while match := _SENTENCE_END.search(self._text, look):
            look = match.end()
            if _ends_with_abbreviation(self._text[self._complete : match.end()].rstrip(), self._text[match.end():]):
                continue  # "Dr. Smith": not the end of a sentence
            words = _sentence_words(self._text[self._complete : match.start()])
            if any(repeats(words, earlier) for earlier in self._said):
                self.reason = "a repeated sentence"
                return self._release(self._complete), True
            if words:
                self._said.append(words)
            self._complete = match.end()
            if self.max_sentences is not None and len(self._said) >= self.max_sentences:
                self.reason = f"{self.max_sentences} sentences"
                return self._release(match.start() + len(match.group().rstrip())), True
        streaming_first = not self._said
        return self._release(len(self._text) if streaming_first else self._complete), False

    def flush(self) -> str:
        """The end of the stream: the last sentence, unless it repeats an earlier one."""
        if self.reason:
            return ""
        words = _sentence_words(self._text[self._complete :])
        if self._said and any(repeats(words, earlier) for earlier in self._said):
            self.reason = "a repeated sentence"
            return self._release(self._complete)
        return self._release(len(self._text))

    def _release(self, upto: int) -> str:
        out = self._text[self._released : upto] if upto > self._released else ""
        self._released = max(self._released, upto)
        return out
