"""The mosaic on a real Dask cluster: a `dask scheduler` and two `dask worker` processes
started by the test on 127.0.0.1, sharing the output folder (as nodes share a file system)."""

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest
from astropy.io import fits

distributed = pytest.importorskip("dask.distributed")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """Scheduler + 2 single-threaded worker processes on 127.0.0.1; yields a client."""
    if shutil.which("dask", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("the dask command line is not installed")
    d = tmp_path_factory.mktemp("cluster")
    sched_file = d / "scheduler.json"
    env = dict(os.environ, DASK_DISTRIBUTED__WORKER__DAEMON="False", PYTHONWARNINGS="ignore")
    dask = os.path.join(os.path.dirname(sys.executable), "dask")
    procs = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               # its HTTP server would otherwise take port 8787 on every interface
                               "--dashboard-address", "127.0.0.1:0",
                               "--scheduler-file", str(sched_file)], cwd=d, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not sched_file.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert sched_file.exists(), "the dask scheduler did not start"
        for k in range(2):
            procs.append(subprocess.Popen(
                [dask, "worker", "--scheduler-file", str(sched_file), "--host", "127.0.0.1",
                 "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0",
                 "--name", f"w{k}",
                 "--local-directory", str(d / f"w{k}")], cwd=d, env=env,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        with distributed.Client(scheduler_file=str(sched_file), timeout=30) as client:
            client.wait_for_workers(2, timeout=60)
            info = client.scheduler_info()
            assert len(info["workers"]) == 2
            assert all(w.startswith("tcp://127.0.0.1:") for w in info["workers"])
            yield client
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_dask_drizzle_equals_the_local_one(small_mosaic, tmp_path, cluster):
    from skymatch.pipeline import run_drizzle
    d, _ = small_mosaic
    inputs = str(d / "*_flt.fits")
    # Blocks smaller than a chip, so that both workers write into the same files.
    t0 = time.perf_counter()
    # Local worker processes: their tasks are pickled as the cluster's are.
    local = run_drizzle(inputs, str(tmp_path / "local"), bits="64", block_size=128, jobs=2,
                        context_format="table")
    t1 = time.perf_counter()
    remote = run_drizzle(inputs, str(tmp_path / "remote"), bits="64", block_size=128, dask=cluster,
                         context_format="table")
    print(f"local {t1 - t0:.1f} s, dask {time.perf_counter() - t1:.1f} s")
    assert remote.mosaics["mosaic"].n_contexts == local.mosaics["mosaic"].n_contexts > 18
    for kind in ("sci", "wht", "ctx"):
        a = fits.getdata(tmp_path / f"local_drz_{kind}.fits")
        b = fits.getdata(tmp_path / f"remote_drz_{kind}.fits")
        assert np.array_equal(a, b, equal_nan=True), kind
    ta = fits.getdata(tmp_path / "local_drz_ctx.fits", "CTXTAB")
    tb = fits.getdata(tmp_path / "remote_drz_ctx.fits", "CTXTAB")
    assert [tuple(x) for x in ta["INPUTS"]] == [tuple(x) for x in tb["INPUTS"]]
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".skymatch-")]


def test_dask_run_equals_the_local_one(small_mosaic, tmp_path, cluster):
    """The whole ``run`` (sky statistics in batches, then the blocks) on the cluster, from a
    relative glob: the workers' working folders differ from this one."""
    from skymatch.pipeline import run
    d, truth = small_mosaic
    for p in truth.paths:
        shutil.copy(p, tmp_path / os.path.basename(p))
    os.chdir(tmp_path)
    local = run("*_flt.fits", "local", method="match", readonly=True, jobs=2,
                drizzle={"block_size": 256})
    remote = run("*_flt.fits", "remote", method="match", readonly=True, dask=cluster,
                 drizzle={"block_size": 256})
    sky_l = [c.sky for c in local.sky.result.chips]
    sky_r = [c.sky for c in remote.sky.result.chips]
    assert sky_r == sky_l  # the same statistics, computed on the workers
    assert len(set(sky_l)) > 1 and min(sky_l) == 0.0  # match: skies relative to the lowest
    for kind in ("sci", "wht"):
        a = fits.getdata(tmp_path / f"local_drz_{kind}.fits")
        b = fits.getdata(tmp_path / f"remote_drz_{kind}.fits")
        assert np.array_equal(a, b, equal_nan=True), kind
