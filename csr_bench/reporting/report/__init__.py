"""`csr-bench report`: one self-contained HTML page of a run (tables, plots, sample browser) and the
plots it shows."""
