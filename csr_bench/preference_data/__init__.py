"""Released preference data sets (RLHF-V, RLAIF-V, VLFeedback, POVID, csr-bench's own pairs) read
into one pair format, and hallucination injection for new ones; what ``--method dpo`` and
``--method povid`` train on. ``base`` holds the shared types; one file per schema."""
