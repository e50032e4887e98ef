"""csr-bench: alignment methods for vision-language models (CSR first), inside an evaluation harness.

The tree, lowest layer first (docs/architecture.md; tests/test_layers.py checks every import):
the base (``errors``, ``storage``, ``progress``, ``distributed``, ``safety``, ``lazy``, ...);
the pieces: ``models`` (VLM adapters + the model registry, the world's only gateway), ``tasks``
(a benchmark = a folder under tasks/: its YAML and any code beside it), ``scorers`` (official-protocol metrics
that declare their metrics), ``builders``, ``preference_data`` (released preference sets in one pair
format, hallucination injection); ``reporting`` (tables, report, the gate, from files);
``world`` (the embedded offline data and models); ``evaluation``; ``methods`` (one folder per
alignment method: csr, dpo, povid, sima, self_reward; a registry and the shared driver) and
``training`` (the shared DPO + LoRA trainer); ``run`` and ``cli`` on top. Heavy libraries are imported only where a model is used.
"""

__version__ = "0.1.0"
