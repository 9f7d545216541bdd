"""The built-in offline model: a deterministic, extractive engine (``engine.respond``)
that answers every agent from the student's own syllabus, with no key and no network.

Modules, one noun each. ``engine``: the interface (``respond``, ``UnsupportedTask``).
One per output model: ``plans``, ``lessons``, ``replies``, ``quizzes``,
``misconceptions``. What they share: ``text`` (cleaning, words, stems, sentences),
``outline`` (syllabus lines and their tree), ``index`` (sentences and TF-IDF search),
``terms`` (term extraction), ``questions`` (one fair multiple-choice question), ``bank``
(the material seen from one topic: sentence owners, distractor pool) and ``payload``
(reading the agent's input document leniently).
``provider`` plugs the engine into litellm; it is imported only by the LLM gateway.
"""

from agents.offline.engine import UnsupportedTask, respond

__all__ = ["UnsupportedTask", "respond"]
