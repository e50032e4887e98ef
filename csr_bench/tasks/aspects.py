"""The aspects a task measures, as VHELM names them (stanford-crfm/helm, schema_vhelm.yaml's nine
run groups), plus hallucination, which VHELM files under perception and robustness but is what
csr-bench is for. A task YAML lists its aspects (``aspects: [perception, hallucination]``);
`csr-bench table --by-aspect` summarises a run's tasks per aspect (docs/reporting.md)."""

from __future__ import annotations

ASPECTS: dict[str, str] = {
    "perception": "visual perception: what is in the image",
    "knowledge": "knowledge about what is shown",
    "reasoning": "reasoning over the image and the question",
    "bias": "stereotypes in answers about people",
    "fairness": "equal quality across regions, dialects and groups",
    "multilinguality": "text in, and questions about, other languages",
    "robustness": "answers under distribution shift, perturbation or misleading input",
    "toxicity": "recognising and not producing toxic content",
    "safety": "refusing harmful requests",
    "hallucination": "claims the image does not support (not one of VHELM's nine)",
}
