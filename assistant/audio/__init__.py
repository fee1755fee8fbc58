"""Sound in and out: the microphone and files (capture), the speaker and WAV
files (playback), device lookup, the echo canceller, the level meter."""
