"""How the knowledge base reads a question's words: the stop words that say
nothing of what is asked, one name for forms a stemmer does not join, and an
age said as the words the base asks by (``aged``, ``read``)."""

from __future__ import annotations

import re

import bm25s

_TENS = {"sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_TEENS = {"thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17}
_CHILDREN = {"five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12}
_YEARS = rf"(\d{{1,2}}|{'|'.join((*_TENS, *_TEENS, *_CHILDREN))})"
# A child's age is said of a child ("my son is 9", "my 10 year old"), not "I'm 9" or "my bike is 8 years old",
# and nothing but what a child does follows it: not "a 10 year old injury", "my son is 5 11", "9 and a half stone"
_A_CHILD = re.compile(r"\b(?:son|daughter|kid|child|boy|girl|grandson|granddaughter)\b", re.I)
_CHILD_BEFORE = re.compile(r"\b(?:my|a|an|our|your|his|her)(?: little)?\s+$", re.I)
_CHILD_AFTER = re.compile(r"(?:[- ]?(?:years?|yrs?)[- ]old)?(?:\W*$|\W+(?:son|daughter|kid|child|boy|girl|needs?|do"
                          r"|does|can|could|should|is|has|wants?|likes?|plays?|runs?|lifts?|swims?|starts?|trains?|gets?"
                          r"|be)\b)", re.I)
# an age said: "I'm 68", "my mum is 75", "she's seventy", "68 years old" (not "I'm 70 kilos")
_AGE = re.compile(rf"\b(?:i'?m|i am|she'?s|he'?s|(?:he|she|son|daughter|mum|mom|dad|mother|father|wife|husband"
                  rf"|partner|kid|child|boy|girl|grandson|granddaughter|grandma|grandpa|grandmother|grandfather|friend|brother"
                  rf"|sister) is|aged?|turned"
                  rf"|turning)\s+{_YEARS}\b(?![\w-]*\s*(?:kg|kilo|lb|pound|stone|k\b|km|mile|minute|min|second|sec|hour"
                  rf"|week|day|month|rep|set|%|percent|degree|cm|inch|bpm|beat|lap|met|yard|step|mph|cal|watt|foot|feet|ft\b|'"
                  rf"|out of))"
                  rf"|\b{_YEARS}[- ]?(?:years?|yrs?)[- ]old\b", re.I)


WORD = re.compile(r"[a-z0-9']+")  # a word, in lower case
_NO_KIT = re.compile(r"\b(?:no|without|zero|without any|with no|no need for)\s+(?:equipment|gear|kit|weights)\b", re.I)


def read(text: str) -> str:
    """``text`` as the base is asked, in lower case: an age as its words (``aged``),
    a workout "with no equipment" as the bodyweight it is (a stop word, "no" left the
    equipment alone, and the home gym's entry answered), and each word by its one
    name (``SAME``)."""
    return WORD.sub(lambda m: SAME.get(m.group(), m.group()), _NO_KIT.sub(" bodyweight ", aged(text)).lower())


def aged(text: str) -> str:
    """An age said as the words the base asks by: sixty and over "older adult",
    thirteen to seventeen "teen", a child's five to twelve "child" ("how much
    exercise does my 10 year old need"); other ages are no topic ("I'm 68, what
    should I do?" is asked as "I'm over 65 ...")."""
    def said(match: re.Match[str]) -> str:
        years = (match.group(1) or match.group(2)).lower()
        age = int(years) if years.isdigit() else _TENS.get(years) or _TEENS.get(years) or _CHILDREN[years]
        said_of = _A_CHILD.search(match.group()) if match.group(1) else _CHILD_BEFORE.search(text[:match.start()])
        child = 5 <= age <= 12 and bool(said_of) and bool(_CHILD_AFTER.match(text, match.end()))
        return " older adult " if age >= 60 else " teen " if 13 <= age <= 17 else " child " if child else " "
    text = text.replace("’", "'")
    return _AGE.sub(said, text)


# one name for the forms a stemmer does not join
SAME = {"ran": "run", "swam": "swim", "rode": "ride", "km": "kilometer", "kms": "kilometers", "k": "kilometer",
         "kg": "kilogram", "kgs": "kilograms", "kilo": "kilogram", "kilos": "kilograms", "lb": "pound",
         "lbs": "pounds", "min": "minute", "mins": "minutes", "sec": "second", "secs": "seconds", "hr": "hour",
         "hrs": "hours", "sooo": "so", "abs": "abdominals", "hiit": "intervals", "children": "child", "kid": "child",
         "kids": "child", "kiddo": "child"}
# words that say nothing of what is asked ("how", "should", "my"), beside bm25s's English stop words
STOP = frozenset(bm25s.stopwords.STOPWORDS_EN) | frozenset((
    "i", "i'm", "i've", "i'd", "i'll", "me", "my", "mine", "myself", "you", "your", "we", "us", "our", "do", "does",
    "did", "doing", "done", "should", "shall", "can", "could", "would", "will", "must", "might", "may", "how", "what",
    "what's", "when", "why", "which", "who", "where", "am", "is", "was", "were", "been", "being", "have", "has", "had",
    "it's", "get", "got", "much", "many", "some", "any", "good", "best", "way", "ok", "okay", "please", "tell", "know",
    "coach", "just", "really", "so", "too", "very", "about", "from", "up", "out", "don't", "can't",
    "need", "want", "like", "also", "than", "then", "all", "more", "most", "one", "go", "going", "make", "its",
    "while", "during", "actually", "honestly", "even", "yet", "still", "right", "now", "little", "kind",
    "thing", "things", "something", "advice", "tip", "tips", "correct", "correctly", "properly", "sure", "think",
    "say", "says", "said", "anything", "there", "here", "ever", "never",
    # said without their apostrophe, as a transcript often has them
    "whats", "hows", "whens", "wheres", "im", "ive", "id", "dont", "cant", "isnt", "doesnt", "wont", "shouldnt",
    # numbers said as words are no topic either
    "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve", "fifteen",
    "twenty", "thirty", "forty", "fifty", "sixty", "hundred"))
