import inspect
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


import pytest  # noqa: E402

# What makes a test slow, found in its source, its module's helpers it calls and its fixtures: the
# real models (whisper, Piper, llama.cpp, the turn model), a daemon or a loopback
# server that loads them, the assistant command run as users run it.
_MODELS = ("run_cli(", "spoken(", "spoken_16k(", "speech_file(", "ollama(", "openai_server(", "daemon(",
           "PiperSynthesizer(", "WhisperTranscriber(", "transcriber", ".prepare()", "generate_async(", "load()", "warm(",
           "ollama_chat", "openai", "judge(", "TurnModel", "Models.load(", "synthesizer()", "whisper_server(",
           "piper_server(")


def pytest_configure(config):
    config.addinivalue_line("markers", "rig: runs on the PulseAudio rig (tests/audio_rig.py), real sound devices")
    config.addinivalue_line("markers", "models: loads whisper, Piper, llama.cpp or the turn model, or runs the daemon")


def _uses(item) -> str:
    """The source of a test, of the functions of its own module it calls (and
    they call), and of the fixtures it asks for: what it runs, as text."""
    module = sys.modules.get(item.module.__name__) if getattr(item, "module", None) else None
    seen: set[str] = set()
    parts: list[str] = []

    def add(function) -> None:
        try:
            text = inspect.getsource(function)
        except (OSError, TypeError):
            return
        parts.append(text)
        for name in re.findall(r"\b(\w+)\(", text):
            called = getattr(module, name, None)
            if name not in seen and inspect.isfunction(called) and called.__module__ == module.__name__:
                seen.add(name)
                add(called)

    add(getattr(item, "function", None))
    for defs in getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {}).values():
        for fixturedef in defs:
            add(fixturedef.func)
    return "\n".join(parts)


def pytest_collection_modifyitems(config, items):
    """``rig`` and ``models`` from what a test uses, so that
    ``scripts/test -m "not rig and not models"`` runs the pure tests alone."""
    for item in items:
        source = _uses(item)
        if "Rig(" in source:
            item.add_marker(pytest.mark.rig)
            item.add_marker(pytest.mark.models)
        elif any(word in source for word in _MODELS):
            item.add_marker(pytest.mark.models)


@pytest.fixture(scope="session")
def transcriber():
    """tiny.en, loaded once, to hear back what the coach said."""
    from assistant.core.config import SttConfig
    from assistant.speech.whisper import WhisperTranscriber

    return WhisperTranscriber(SttConfig())


@pytest.fixture
def rig(tmp_path):
    """The PulseAudio rig (tests/audio_rig.py), started for one test."""
    from audio_rig import Rig

    rig = Rig(tmp_path).start()
    yield rig
    rig.stop()
