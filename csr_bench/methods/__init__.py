"""Alignment methods as plugins: the protocol (base), the registry (--method), the driver every
method shares, and one folder per method (csr/). docs/methods.md."""
