"""What the coach does without the model: the understanding layer (text to a
typed command, its sentence templates in sentences/), the timer skill and its
plans, the workout log, memory, the interview, the model's second opinion, and
the notebook (their tables)."""
