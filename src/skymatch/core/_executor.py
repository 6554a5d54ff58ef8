"""One way to run independent tasks in parallel: serial, threads, processes or Dask.

Every stage of skymatch that has independent tasks (per-chip statistics, per-pair
overlap statistics, source finding, drizzle blocks) takes an :class:`Executor` and
calls its ordered ``map``.  The user chooses the degree of parallelism once
(``jobs``, the CLI's ``--jobs``) or a cluster (``dask``, ``--dask``); each stage then
picks the kind of worker that suits its tasks (:meth:`Executor.for_stage`): threads
for numpy-bound work that releases the GIL, processes for Python-bound work, serial
when the tasks are too small to gain from either.

Tasks never receive pixel arrays through an executor: they get chips (which read
their own pixels from files) and small metadata, so the same task runs in a thread,
a local process or on a Dask worker on another machine.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

from ..exceptions import ParameterError

__all__ = [
    "Executor",
    "SerialExecutor",
    "ThreadExecutor",
    "ProcessExecutor",
    "DaskExecutor",
    "make_executor",
    "map_batched",
    "batch_sizes",
    "MAX_JOBS",
    "STAGE_KINDS",
]

# More local workers than this only adds contention on a machine (and `--jobs 1000`
# used to hang while starting a thousand processes).
MAX_JOBS = 4 * (os.cpu_count() or 1)
STAGE_KINDS = ("threads", "processes")


class Executor(Protocol):
    """Anything with an ordered ``map(fn, items)`` and a kind and size."""

    kind: str
    n_workers: int

    def map(self, fn: Callable, items: Iterable) -> Iterator:  # pragma: no cover - protocol
        ...

    def for_stage(self, kind: str, n_tasks: int, *, min_tasks: int = 2) -> "Executor":  # pragma: no cover
        ...


class _Base:
    kind = "serial"
    n_workers = 1

    def for_stage(self, kind: str, n_tasks: int, *, min_tasks: int = 2) -> "Executor":
        """The executor a stage should use for ``n_tasks`` tasks of ``kind``.

        ``kind`` is ``'threads'`` (numpy work that releases the GIL) or ``'processes'``
        (Python-bound work).  Local executors turn into that kind with the same number
        of workers, or into a serial one when there are fewer than ``min_tasks`` tasks;
        a Dask executor stays what it is (its workers are processes already).
        """
        if kind not in STAGE_KINDS:
            raise ParameterError(f"executor kind {kind!r}: use one of {', '.join(STAGE_KINDS)}")
        if self.kind == "dask":
            return self
        if self.n_workers <= 1 or n_tasks < max(2, min_tasks):
            return SerialExecutor()
        if kind == self.kind:
            return self
        return ThreadExecutor(self.n_workers) if kind == "threads" else ProcessExecutor(self.n_workers)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_workers={self.n_workers})"


class SerialExecutor(_Base):
    """Run tasks one after the other in this process."""

    kind = "serial"
    n_workers = 1

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        return map(fn, items)


class ThreadExecutor(_Base):
    """Run tasks on threads of this process (for numpy work, which releases the GIL)."""

    kind = "threads"

    def __init__(self, n_workers: int | None = None):
        self.n_workers = _check_jobs(n_workers or min(8, os.cpu_count() or 1), "jobs")

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        items = list(items)
        if self.n_workers <= 1 or len(items) <= 1:
            yield from map(fn, items)
            return
        with ThreadPoolExecutor(max_workers=min(self.n_workers, len(items))) as pool:
            yield from pool.map(fn, items)


class ProcessExecutor(_Base):
    """Run tasks in local processes (chips travel by reference to their files)."""

    kind = "processes"

    def __init__(self, n_workers: int | None = None):
        self.n_workers = _check_jobs(n_workers or (os.cpu_count() or 1), "jobs")

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        items = list(items)
        if self.n_workers <= 1 or len(items) <= 1:
            yield from map(fn, items)
            return
        n = min(self.n_workers, len(items))
        chunk = max(1, len(items) // (4 * n))
        with ProcessPoolExecutor(max_workers=n, initializer=_ignore_interrupts) as pool:
            yield from pool.map(fn, items, chunksize=chunk)


def _ignore_interrupts() -> None:
    """Worker processes leave Ctrl-C to the parent, which stops the run and reports it
    once (without this every worker prints its own KeyboardInterrupt traceback)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


class DaskExecutor(_Base):
    """Run tasks on a ``dask.distributed`` cluster.

    Parameters
    ----------
    client : dask.distributed.Client or str
        A connected client, or the address of a scheduler (``'tcp://host:8786'``).
    timeout : float
        Seconds to wait for a scheduler given by address.
    """

    kind = "dask"

    def __init__(self, client: Any, *, timeout: float = 10.0):
        if isinstance(client, str):
            try:
                from dask.distributed import Client
            except ImportError:
                raise ParameterError(
                    "dask: dask.distributed is not installed; pip install 'skymatch[dask]'") from None
            try:
                client = Client(client, timeout=timeout)
            except (OSError, TimeoutError) as exc:
                raise ParameterError(
                    f"dask={client!r}: no Dask scheduler answered within {timeout:g} s ({exc}); "
                    "start one (dask scheduler) or check the address") from None
        elif not (hasattr(client, "map") and hasattr(client, "gather") and hasattr(client, "submit")):
            raise ParameterError(
                f"dask={client!r}: give a dask.distributed.Client or a scheduler address like "
                "'tcp://127.0.0.1:8786'")
        self.client = client
        try:
            self.n_workers = max(1, len(client.scheduler_info().get("workers", {})))
        except Exception:  # noqa: BLE001 - a client without scheduler info still maps
            self.n_workers = 1

    def map(self, fn: Callable, items: Iterable) -> Iterator:
        items = list(items)
        if not items:
            return iter(())
        futures = self.client.map(fn, items, pure=False)
        return (f.result() for f in futures)


def _check_jobs(n: Any, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, (int,)) and not (hasattr(n, "__index__")):
        raise ParameterError(f"{name}={n!r}: give a positive whole number of workers")
    n = int(n)
    if n < 1:
        raise ParameterError(f"{name}={n}: give a positive number of workers")
    if n > MAX_JOBS:
        raise ParameterError(f"{name}={n}: more than {MAX_JOBS} workers (4 per core here) only adds "
                             f"contention; use at most {MAX_JOBS}, or a Dask cluster (dask=ADDRESS)")
    return n


def make_executor(jobs: int | None = None, dask: Any = None) -> Executor:
    """The executor for ``jobs`` local workers or a Dask cluster.

    Parameters
    ----------
    jobs : int, optional
        Number of local workers (default: one per core, at most 8); 1 runs everything in
        this process.  Each stage uses threads or processes as suits its tasks.
    dask : dask.distributed.Client or str, optional
        Run the tasks on this cluster instead (``jobs`` is then ignored).

    Returns
    -------
    Executor
    """
    if dask is not None:
        if isinstance(dask, DaskExecutor):
            return dask
        return DaskExecutor(dask)
    if jobs is None:
        return ThreadExecutor()
    n = _check_jobs(jobs, "jobs")
    return SerialExecutor() if n == 1 else ThreadExecutor(n)


def ordered_results(executor: Executor, fn: Callable, items: Sequence,
                    progress: Callable[[int], None] | None = None) -> list:
    """``list(executor.map(fn, items))``, calling ``progress(done)`` as results arrive."""
    out = []
    for k, res in enumerate(executor.map(fn, items), 1):
        out.append(res)
        if progress is not None:
            progress(k)
    return out


def batch_sizes(n_items: int, n_workers: int, *, per_worker: int = 4, max_batch: int = 256) -> list[int]:
    """Sizes of consecutive batches of ``n_items``: at least ``per_worker`` batches per
    worker (so the workers stay busy to the end), each at most ``max_batch`` items (so
    progress is reported and memory stays small), as equal as possible."""
    if n_items <= 0:
        return []
    n = max(1, min(n_items, max(per_worker * n_workers, -(-n_items // max_batch))))
    base, extra = divmod(n_items, n)
    return [base + (k < extra) for k in range(n)]


class _Batch:
    """``fn`` applied to a list of items in one task (a picklable callable)."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def __call__(self, items: Sequence) -> list:
        return self.fn(items)


def map_batched(executor: Executor, fn_batch: Callable[[Sequence], list], items: Sequence,
                progress: Callable[[int], None] | None = None, **sizes: int) -> list:
    """``fn_batch`` over consecutive batches of ``items`` on ``executor``, flattened in order.

    Small tasks cost more to ship (a thread hand-off, a pickle, a Dask task of a few
    milliseconds each) than to run; a batch carries real work, and ``fn_batch`` can
    share what its items have in common (WCS copies, pixels).  ``progress(done)`` is
    called with the number of items done as batches finish.  ``sizes`` go to
    :func:`batch_sizes`.
    """
    items = list(items)
    bounds = []
    start = 0
    for n in batch_sizes(len(items), executor.n_workers, **sizes):
        bounds.append((start, start + n))
        start += n
    out: list = []
    for res in executor.map(_Batch(fn_batch), [items[a:b] for a, b in bounds]):
        out.extend(res)
        if progress is not None:
            progress(len(out))
    return out
