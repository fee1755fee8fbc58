"""Speech synthesis: Piper, sentence by sentence (tts), and the text that
becomes speakable sentences (text). Whisper's transcriber lives here too
(whisper)."""
