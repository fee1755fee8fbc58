"""The echo gate: while the coach speaks, how loud a frame must be to count as
the user's voice over the coach's own echo (barge-in, and half-duplex's claimed
turn going on). It learns the room's coupling at the start of each reply."""

from __future__ import annotations

import logging

logger = logging.getLogger(__name__)


LEARN_S = 0.4  # the start of each reply teaches how loud the coach's echo is
COUPLING_FLOOR_DB = -40.0
COUPLING_MAX_DB = 6.0
STRICTER_DB = 6.0
CANCELLED_DB = 30.0  # behind a canceller, a voice this far under the echo itself still counts
ECHO_REMOVED_DB = 12.0  # a frame SpeexDSP took this much out of is the coach's echo, not a voice over it


class EchoGate:
    """While the coach talks: how loud its own voice may come back into the mic.

    The first ``LEARN_S`` of each stretch of speech teach the coupling (mic level
    minus playback level; no barge-in meanwhile); afterwards only speech above
    playback level plus coupling can count as the user talking over the coach.
    Behind an echo canceller it learns what the canceller leaves of the echo, so
    it is strict while the canceller has not converged and lenient after; but
    never more lenient than ``CANCELLED_DB`` under the echo as it reached the
    microphone: what a converged canceller leaves rises and falls by more than
    its first 0.4 s show (measured on the rig: 37 dB under the echo at its
    peaks, 40 dB and more on average), and a voice that much quieter than the
    coach is no one talking to it.
    """

    def __init__(self) -> None:
        self.coupling_db = COUPLING_FLOOR_DB
        self._stretch = 0.0
        self._carried: float | None = None  # the coupling of the last stretch that learnt one
        self._learnt = False  # this stretch has learnt for a whole window
        self._taught = False  # ... from at least one frame of the coach's voice
        self._learn_from = 0.0
        self.last = (-100.0, -100.0)  # the last frame's (played, heard) levels, for the log

    def relearn(self, now: float) -> None:
        """The echo path moved (an underrun, the far end lined up again): learn
        again from ``now`` for ``LEARN_S``, no barge-in meanwhile, keeping what was
        learnt (the gate only grows stricter until the next stretch)."""
        self._learn_from = now

    def stricter(self) -> None:
        """Something the gate let through was no voice: until the next stretch of
        speech, ask ``STRICTER_DB`` more."""
        self.coupling_db = min(self.coupling_db + STRICTER_DB, COUPLING_MAX_DB)

    def threshold(self, now: float, stretch_started: float, played_db: float, heard_db: float,
                  raw_db: float | None = None, voice: bool = False, words_db: float | None = None,
                  converged: bool = True) -> float:
        """The echo level (dBFS) a frame heard at ``now`` must exceed. ``heard_db``:
        the frame as the voice is told by (behind the canceller); ``raw_db``: the
        same frame before the canceller (None: there is none). ``voice``: the user
        may be speaking in this frame (half-duplex: an utterance is open, or a
        claimed one may go on): once a stretch has taught the coupling, nothing is
        learnt from such a frame and the last coupling learnt holds instead, so a
        user who goes on as the reply starts is heard, not learnt as its echo. (With
        no canceller the coupling is the room's and holds from reply to reply;
        behind one it is what the canceller leaves, which changes, so it is learnt
        each time.)

        ``words_db``: the frame behind the canceller that keeps a voice whole
        (SpeexDSP), whose filter ``converged`` on the echo, the path unmoved (EchoCanceller.settled):
        before that, nothing counts (the first seconds of a daemon's first reply,
        or after the echo path moved); after it, a frame it took ``ECHO_REMOVED_DB``
        out of is the coach's echo, whatever the other canceller (AEC3, ``heard_db``)
        left of it when it briefly lost the echo. A voice said over the echo keeps
        most of the frame's level there."""
        self.last = (played_db, heard_db)
        if stretch_started != self._stretch:
            if self._learnt:
                self._carried = self.coupling_db
            self._stretch, self.coupling_db = stretch_started, COUPLING_FLOOR_DB
            self._learnt = self._taught = False
        if now - max(stretch_started, self._learn_from) < LEARN_S:
            if voice and self._carried is not None:
                self.coupling_db = max(self.coupling_db, self._carried)
                return played_db + self.coupling_db
            if played_db > -60.0:
                # a frame the user may be speaking in guards this stretch, but teaches no later one
                self._taught = self._taught or not voice
                heard = heard_db if raw_db is None else max(heard_db, raw_db - CANCELLED_DB)
                self.coupling_db = min(max(self.coupling_db, heard - played_db), COUPLING_MAX_DB)
            return 100.0
        self._learnt = self._taught  # a whole window learnt (a stretch cut sooner may not have heard its echo)
        gate = played_db + self.coupling_db
        if raw_db is not None and words_db is not None and heard_db > gate:
            logger.debug("echo gate: %.1f dB over it, SpeexDSP removed %.1f dB%s", heard_db - gate, raw_db - words_db,
                         "" if converged else " (not converged)")
            if not converged or raw_db - words_db > ECHO_REMOVED_DB:
                return 100.0
        return gate
