"""What a run keeps on disk, crash-safely: atomic writes and sealed JSONL appends (files), one
resumable keyed store with per-process shards (keyed_store), the settings a resumed stage compares
(settings), one process per run folder (run_lock), a failed write as one line (disk_errors).
docs/crash-safety.md has the design.
"""
