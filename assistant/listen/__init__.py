"""Listening: endpointing (vad), the end of a turn (turn), addressing and
backchannels (wake), and the transcription service that turns utterances into
SPEECH_DETECTED (transcription)."""
