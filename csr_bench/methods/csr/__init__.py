"""The CSR plugin (Calibrated Self-Rewarding, NeurIPS 2024): sentence-level beam search over the
model's own responses, calibrated self-reward (R_T from the model, R_I from CLIP), preference
pairs, DPO with LoRA. Registered as alignment method ``csr``."""
