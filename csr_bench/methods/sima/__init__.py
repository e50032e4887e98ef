"""SIMA (Wang et al., arXiv 2405.15973; github.com/umd-huang-lab/SIMA): self-generated greedy and
sampled responses, judged in-context by the same model against a ground-truth answer, then DPO
(with the reference trainer's top-1/top-2 rejected log-probs by default). Settings: config.py;
prompts: prompts.py; the critic: critic.py; the loss: loss.py; the method: method.py."""
