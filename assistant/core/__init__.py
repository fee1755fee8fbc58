"""What every layer uses: the events and their bus, the errors, the settings, the
queue worker, systemd's notify protocol, the model files, spoken text's plain
form, and the seams (the Protocols of audio and speech). Imports nothing above it."""
