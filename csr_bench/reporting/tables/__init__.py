"""The tables of one or more runs: Table 1 in the paper's layout, the iteration table and its Δ table,
the λ ablation; their columns, baseline rows, intervals and † marks, rendered as markdown, LaTeX,
HTML or CSV."""
