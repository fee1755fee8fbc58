import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def transcriber():
    """tiny.en, loaded once, to hear back what the coach said."""
    from assistant.config import SttConfig
    from assistant.stt import Transcriber

    return Transcriber(SttConfig())


@pytest.fixture
def rig(tmp_path):
    """The PulseAudio rig (tests/audio_rig.py), started for one test."""
    from audio_rig import Rig

    rig = Rig(tmp_path).start()
    yield rig
    rig.stop()
