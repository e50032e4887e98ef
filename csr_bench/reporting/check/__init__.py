"""`csr-bench check`: the regression gate of a run against a recorded baseline."""
