"""The error tree. Each stage translates foreign exceptions once, at its boundary.

    AssistantError
     ├── ConfigError      bad configuration or command-line input (exit 2)
     ├── InputError       an unreadable input file (exit 2)
     ├── AudioError       sound devices
     ├── SttError         speech-to-text
     ├── LlmError         language model (``transient`` says whether a retry may help)
     ├── TtsError         text-to-speech
     └── StoreError       the coach's notebook in the history database (locked, unwritable)
"""


class AssistantError(Exception):
    """Base of every error the assistant raises on purpose."""

    transient = False


class ConfigError(AssistantError):
    """The configuration (file, key or override) is invalid."""


class InputError(AssistantError):
    """An input file cannot be read as audio."""


class AudioError(AssistantError):
    """A sound device is missing, busy or failed."""


class SttError(AssistantError):
    """Speech-to-text failed to load or to run."""


class TtsError(AssistantError):
    """Text-to-speech failed to load or to run."""


class LlmError(AssistantError):
    """The language model failed; ``transient`` errors may succeed on retry,
    ``endpoint_down`` ones say the whole server is gone (skip its other models),
    ``too_long`` ones that the prompt did not fit the model's window (send less),
    ``dropped`` ones that the stream ended before its end (llama-cpp-python's server
    refuses a streamed prompt for length so, with nothing on the wire to say why)."""

    def __init__(self, message: str, *, transient: bool = False, endpoint_down: bool = False,
                 too_long: bool = False, dropped: bool = False):
        super().__init__(message)
        self.transient = transient
        self.endpoint_down = endpoint_down  # no model on this endpoint will do better
        self.too_long = too_long  # a shorter prompt will do better
        self.dropped = dropped


class StoreError(AssistantError):
    """The history database cannot be read or written now (another process holds
    it locked, the disk is full); the daemon goes on without it."""

    transient = True
