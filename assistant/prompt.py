"""The coach's system prompt: the configured template, the persona and the
user's profile from the interview."""

from __future__ import annotations

from collections.abc import Mapping

from .config import PersonaConfig
from .interview import render as render_profile


def render_system_prompt(template: str, persona: PersonaConfig, profile: Mapping[str, str] | None = None) -> str:
    """The system prompt: the template with the persona's name, style and goals
    filled in, then the user's profile from the interview (``interview.render``);
    the persona alone for a user with no profile."""
    goals = f"The user's goals: {'; '.join(persona.goals)}. Keep them in mind. " if persona.goals else ""
    style = persona.style.strip()
    prompt = template.format(name=persona.name.strip(), style=style, goals=goals).replace("  ", " ").strip()
    about = render_profile(profile or {})
    return f"{prompt}\n\n{about}" if about else prompt
