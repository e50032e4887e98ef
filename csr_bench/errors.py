"""One exception type for every user-facing failure.

The CLI prints its message as a single line and exits non-zero, so each raise site must say
what went wrong and where (file, task, item) in the message itself.
"""


class CsrBenchError(Exception):
    """A failure caused by input or environment that the user can fix; shown without a traceback."""
