"""One resumable stage of a method's data making (SIMA's responses and critic, Self-rewarding's
candidates and judgements): the work over the prompts a KeyedStore does not hold yet, a batch at a
time, each batch appended as one (a kill loses at most the batch in flight), under one progress bar;
in a data-parallel run each process does its share and the main one merges the files in prompt order."""

from __future__ import annotations

from typing import Any, Callable, Sequence

from csr_bench import distributed
from csr_bench.progress import get_logger, progress_bar
from csr_bench.storage.keyed_store import KeyedStore

log = get_logger()


def run_keyed_stage(store: KeyedStore, prompts: Sequence[Any], work: Callable[[list[Any]], list[dict[str, Any]]],
                    *, batch_size: int, desc: str) -> None:
    """``work(batch) -> records`` (keyed by ``prompt_id``) over the ``prompts`` not in ``store``."""
    distributed.barrier()  # every process has read the finished records before any process adds more
    missing = [p for p in prompts if p.prompt_id not in store]
    pending = distributed.shard(missing)
    done = len(prompts) - len(missing)
    if done and pending:
        log.info("%s: %d of %d prompts already done in %s, resuming", desc, done, len(prompts), store.path)
    if pending:
        with progress_bar(total=done + len(pending), initial=done, unit="prompt", desc=desc) as bar:
            for start in range(0, len(pending), batch_size):
                batch = list(pending[start:start + batch_size])
                store.append(work(batch))
                bar.update(len(batch))
    if distributed.is_distributed():
        distributed.barrier()  # every process's records are written: read them all
        store.reload()
        distributed.barrier()
        if distributed.is_main():
            store.merge([p.prompt_id for p in prompts if p.prompt_id in store])


__all__ = ["run_keyed_stage"]
