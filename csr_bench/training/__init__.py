"""The DPO + LoRA trainer every alignment method shares (docs/training.md)."""
