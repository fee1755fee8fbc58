"""The coach's language model: the service (the turn invariant, the fallback
chain), one streamed attempt, the backends (HTTP servers, the embedded model),
the context and the prompt, token counts, the knowledge base (grounding)."""
