"""The built-in offline model: a deterministic, extractive engine (``engine.respond``)
that answers every agent from the student's own syllabus, with no key and no network.

Modules: ``engine`` (the interface, plans, lessons, chat replies), ``questions`` (quizzes
and the analysis of wrong answers), ``text`` (outline, sentences, stems, TF-IDF index).
``provider`` plugs the engine into litellm; it is imported only by the LLM gateway.
"""

from agents.offline.engine import UnsupportedTask, respond

__all__ = ["UnsupportedTask", "respond"]
