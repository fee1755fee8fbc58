"""Wyoming on the network: its frames read within bounds, and the remote speech
services (a Wyoming ASR or TTS server) with the local models to fall back on."""
