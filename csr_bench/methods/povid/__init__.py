"""POVID (Zhou et al., arXiv 2402.11411; github.com/YiyangZhou/POVID): DPO on ground-truth vs
hallucination-injected answers, then a second DPO stage whose extra dispreferred answer is the model's
own argmax under a diffusion-noised image (noise.py, loss.py). Settings: config.py; the method: method.py."""
