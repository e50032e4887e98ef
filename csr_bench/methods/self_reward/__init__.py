"""Self-rewarding (Yuan et al., 2024, arXiv 2401.10020), CSR's "Self-rewarding" baseline: the model
samples N responses per prompt, scores each itself with the LLM-as-a-Judge additive 5-point prompt,
and best vs worst go to DPO, iterated. Settings: config.py; the judge's prompt: judge_prompt.py;
its score: score.py; the pair: pairs.py; the method: method.py."""
