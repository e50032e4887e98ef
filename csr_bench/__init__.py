"""csr-bench: Calibrated Self-Rewarding for vision-language models, inside an evaluation harness.

Layout: ``tasks`` (declarative task configs + registry), ``models`` (VLM adapters),
``scorers`` (official-protocol metrics), ``evaluation`` (evaluator, samples, results),
``cli`` (the ``csr-bench`` command). Heavy libraries are imported only where a model is used.
The modules' layers and which may import which: docs/architecture.md (checked by tests/test_layers.py).
"""

__version__ = "0.1.0"
