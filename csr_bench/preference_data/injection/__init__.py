"""Hallucination injection for new preference data, as POVID's stage-1 pairs are built (a truthful
answer vs its hallucinated twin): rule-based and offline (rules.py), or through the harness's judge
client with a prompt of ours (judge.py); povid_file.py turns a file of truthful answers into a
POVID-schema file (`csr-bench inject`). POVID's own injection (GPT-4V, unreleased prompt) is not
reproduced: both injectors are csr-bench's."""
