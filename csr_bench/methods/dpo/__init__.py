"""DPO on a released preference set (the CSR paper's RLHF-V, VLFeedback and POVID-stage-1 style
rows): the set read by csr_bench.preference_data, trained with the shared DPO + LoRA. Registered as
alignment method ``dpo``."""
