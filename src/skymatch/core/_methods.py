"""The four sky methods on top of statistics, overlaps and the solve (SPEC section 5)."""

from __future__ import annotations

import os
import uuid
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..exceptions import (
    DisconnectedMosaicWarning,
    InputError,
    ParameterError,
    UndeterminedSkyWarning,
)
from ..models import Chip, ChipSky, ExposureSky, PairStat, SkyResult
from ._executor import Executor, SerialExecutor, ThreadExecutor
from ._masks import BitFlags, parse_bits
from ._pairs import OverlapJob, candidate_pairs, compute_footprints, overlap_geometry, overlap_task
from ._solve import solve_match
from ._staticmask import STATIC_SIG, combine_packed, reference_uses_static, static_keep_mask
from ._stats import SkyStatParams, StatisticError, StatResult, sky_statistic
from ._usable import clear_cache, load_usable

__all__ = [
    "SKY_METHODS",
    "METHOD_ALIASES",
    "COMPAT_MODES",
    "canonical_method",
    "match_sky",
    "sky_methods",
    "compute_static_masks",
    "Executor",
    "SerialExecutor",
    "ThreadExecutor",
]

SKY_METHODS = ("localmin", "globalmin", "match", "globalmin+match")
METHOD_ALIASES = {
    "local": "localmin",
    "global": "globalmin",
    "global+match": "globalmin+match",
    "globalmin_match": "globalmin+match",
}
COMPAT_MODES = (None, "drizzlepac")

ProgressCallback = Callable[[str, int, int], None]


def canonical_method(method: str) -> str:
    """Map a method name or JWST alias to its canonical name, or raise ParameterError."""
    name = str(method).strip().lower()
    name = METHOD_ALIASES.get(name, name)
    if name not in SKY_METHODS:
        raise ParameterError(
            f"skymethod={method!r} is not a sky method; use one of {', '.join(SKY_METHODS)}"
            " (JWST names local, global, match, global+match also work)"
        )
    return name


@dataclass(frozen=True)
class _ChipJob:
    chip: Chip
    flags: BitFlags
    stat: SkyStatParams | None  # None: only count usable pixels
    static: np.ndarray | None
    static_key: object


@dataclass(frozen=True)
class _StaticJob:
    chip: Chip
    static_sig: float
    compat: bool


def _static_task(job: _StaticJob):
    px = job.chip.pixels.read()
    keep = static_keep_mask(px.data, static_sig=job.static_sig, compat=job.compat)
    return None if keep is None else np.packbits(keep.ravel())


def _chip_task(job: _ChipJob) -> tuple[int, StatResult | None, str]:
    static = None
    if job.static is not None:
        shape = job.chip.shape
        static = np.unpackbits(job.static, count=shape[0] * shape[1]).astype(bool).reshape(shape)
    u = load_usable(job.chip, job.flags, static, job.static_key)
    n_good = int(np.count_nonzero(u.good))
    if job.stat is None or n_good == 0:
        return n_good, None, "" if n_good else "no usable pixels"
    try:
        return n_good, sky_statistic(u.data[u.good], job.stat), ""
    except StatisticError as exc:
        return n_good, None, str(exc)


def compute_static_masks(chips: Sequence[Chip], *, static_sig: float = STATIC_SIG,
                         compat: bool = True, executor: Executor | None = None,
                         progress: ProgressCallback | None = None) -> dict[tuple, np.ndarray]:
    """AstroDrizzle's static mask of every detector signature: ``{signature: keep mask}``."""
    executor = executor or ThreadExecutor()
    res = _progress_map(executor, _static_task, [_StaticJob(c, static_sig, compat) for c in chips],
                        "static mask", progress)
    by_sig: dict[tuple, list] = {}
    shapes: dict[tuple, tuple] = {}
    for c, r in zip(chips, res):
        by_sig.setdefault(c.signature, [])
        shapes[c.signature] = c.shape
        if r is not None:
            by_sig[c.signature].append(r)
    return {sig: combine_packed(masks, shapes[sig]) for sig, masks in by_sig.items()}


def _progress_map(executor: Executor, fn, jobs: Sequence, stage: str,
                  progress: ProgressCallback | None) -> list:
    out = []
    total = len(jobs)
    if progress:
        progress(stage, 0, total)
    for k, res in enumerate(executor.map(fn, jobs), 1):
        out.append(res)
        if progress:
            progress(stage, k, total)
    return out


def match_sky(chips: Sequence[Chip], *, method: str = "match", **options: Any) -> SkyResult:
    """Compute the sky of every chip with one of AstroDrizzle's four methods.

    Parameters
    ----------
    chips : sequence of Chip
        The inputs; chips with the same ``exposure_id`` share one sky.
    method : {'localmin', 'globalmin', 'match', 'globalmin+match'}
        Sky method (JWST aliases ``local``, ``global``, ``global+match`` accepted).
    **options
        Keyword options of :func:`sky_methods` (statistic, masks, compat, executor ...).

    Returns
    -------
    SkyResult
    """
    method = canonical_method(method)
    return sky_methods(chips, methods=(method,), **options)[method]


def sky_methods(
    chips: Sequence[Chip],
    *,
    methods: Sequence[str] = SKY_METHODS,
    skystat: str = "median",
    lower: float | None = None,
    upper: float | None = None,
    nclip: int = 5,
    lsigma: float = 4.0,
    usigma: float = 4.0,
    binwidth: float = 0.1,
    sky_bits: int | str | None = 0,
    use_static: bool | None = None,
    static_sig: float = STATIC_SIG,
    static_masks: dict | None = None,
    match_down: bool = True,
    compat: str | None = None,
    on_empty: str = "error",
    executor: Executor | None = None,
    progress: ProgressCallback | None = None,
) -> dict[str, SkyResult]:
    """Compute the sky of every chip with several methods, sharing all the work.

    Local statistics and overlap statistics are computed once and combined into each
    requested method, so comparing the four methods costs about as much as the most
    expensive one.

    Parameters
    ----------
    chips : sequence of Chip
        The inputs; chips with the same ``exposure_id`` share one sky.
    methods : sequence of str
        Sky methods (``localmin``, ``globalmin``, ``match``, ``globalmin+match``; JWST
        aliases ``local``, ``global``, ``global+match`` accepted).
    skystat, lower, upper, nclip, lsigma, usigma, binwidth
        The sky statistic (AstroDrizzle's ``skystat``, ``skylower``, ``skyupper``,
        ``skyclip``, ``skylsigma``, ``skyusigma``, ``skywidth``).
    sky_bits : int, str or None
        DQ flags that count as good for the statistics (see :func:`parse_bits`).
    use_static : bool or None
        Use AstroDrizzle's static mask; None means on in compat mode for HST data (what
        AstroDrizzle does), off otherwise (see :func:`reference_uses_static`).
    static_sig : float
        Static-mask threshold in sigma.
    static_masks : dict, optional
        Precomputed ``{signature: keep mask}`` (see :func:`compute_static_masks`), so a
        drizzle that follows can share them.
    match_down : bool
        ``match`` makes the lowest relative sky 0 (True) or the highest (False).
    compat : {None, 'drizzlepac'}
        Reproduce AstroDrizzle's numbers (statistic quirks, 4-corner footprints,
        rounded-vertex scan filler, no cross-masking, one global offset).
    on_empty : {'error', 'warn'}
        What a chip with no usable pixel causes.
    executor : object with ``map``, optional
        Runs the per-chip and per-pair tasks (default: :class:`ThreadExecutor` with one
        thread per core).
    progress : callable(stage, done, total), optional
        Called as tasks finish.

    Returns
    -------
    dict
        ``{canonical method name: SkyResult}`` in the order requested.
    """
    methods = list(dict.fromkeys(canonical_method(m) for m in methods))
    if not methods:
        raise ParameterError("no sky method requested")
    if compat not in COMPAT_MODES:
        raise ParameterError(f"compat={compat!r}: use None or 'drizzlepac'")
    if on_empty not in ("error", "warn"):
        raise ParameterError(f"on_empty={on_empty!r}: use 'error' or 'warn'")
    is_compat = compat is not None
    stat = SkyStatParams(statistic=skystat, lower=lower, upper=upper, nclip=nclip,
                         lsigma=lsigma, usigma=usigma, binwidth=binwidth, compat=is_compat)
    flags = parse_bits(sky_bits)
    chips = list(chips)
    if not chips:
        raise InputError("no input chips: give at least one image")
    if use_static is None:
        use_static = is_compat and reference_uses_static(chips)
    names = [c.name for c in chips]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise InputError(f"{sorted(dup)[0]}: given more than once; list each input once")
    executor = executor or ThreadExecutor()
    run_id = uuid.uuid4().hex

    exp_ids: list[str] = []
    for c in chips:
        if c.exposure_id not in exp_ids:
            exp_ids.append(c.exposure_id)
    exp_of = np.array([exp_ids.index(c.exposure_id) for c in chips])
    n_exp = len(exp_ids)

    try:
        # 1. Static mask per detector signature.
        static_packed: dict[tuple, np.ndarray | None] = {}
        if use_static:
            if static_masks is None:
                static_masks = compute_static_masks(chips, static_sig=static_sig, compat=is_compat,
                                                    executor=executor, progress=progress)
            for sig, m in static_masks.items():
                static_packed[sig] = np.packbits(np.asarray(m, dtype=bool).ravel())

        def static_of(c: Chip):
            if not use_static:
                return None, None
            return static_packed[c.signature], ("static", run_id, c.signature)

        # 2. Per-chip pass: usable pixels and, when needed, the local statistic.
        need_local = any(m != "match" for m in methods)
        jobs = []
        for c in chips:
            sp, sk = static_of(c)
            jobs.append(_ChipJob(c, flags, stat if need_local else None, sp, sk))
        chip_res = _progress_map(executor, _chip_task, jobs, "chips", progress)
        for c, (n_good, _, _) in zip(chips, chip_res):
            if n_good == 0:
                msg = (f"{c.name}: no usable pixels after sky_bits={sky_bits!r}"
                       f"{' and the static mask' if use_static else ''} (all "
                       f"{c.shape[0] * c.shape[1]:,} pixels flagged or not finite); "
                       "relax sky_bits or drop the file")
                if on_empty == "error":
                    raise InputError(msg)
                warnings.warn(msg, UndeterminedSkyWarning, stacklevel=2)

        local_chip = np.full(len(chips), np.nan)  # data units
        npix_chip = np.zeros(len(chips), dtype=np.int64)
        for k, (n_good, r, why) in enumerate(chip_res):
            if r is not None and r.npix >= 1:
                local_chip[k] = r.value
                npix_chip[k] = r.npix
            elif need_local and n_good:
                warnings.warn(f"{chips[k].name}: sky statistic failed ({why}); chip skipped",
                              UndeterminedSkyWarning, stacklevel=2)
        conv = np.array([c.conv for c in chips])
        local_b = conv * local_chip
        L = np.full(n_exp, np.nan)
        for e in range(n_exp):
            vals = local_b[exp_of == e]
            vals = vals[np.isfinite(vals)]
            if vals.size:
                L[e] = vals.min()

        # 3. Match.
        M = np.full(n_exp, np.nan)
        labels = np.full(n_exp, -1)
        pair_stats: list[PairStat] = []
        components: tuple = ()
        if any("match" in m for m in methods):
            M, labels, pair_stats, components = _match(
                chips, exp_ids, exp_of, flags, stat, is_compat, match_down, static_of,
                executor, progress)

        # 4. Combine into every requested method.
        combined = {m: _combine(m, L, M, labels, is_compat, exp_ids) for m in methods}
    finally:
        clear_cache()

    params: dict[str, Any] = dict(
        skystat=skystat, lower=lower, upper=upper, nclip=nclip, lsigma=lsigma,
        usigma=usigma, binwidth=binwidth, sky_bits=sky_bits, use_static=bool(use_static),
        static_sig=static_sig, match_down=match_down, compat=compat,
    )
    out = {}
    for method, (exp_sky, exp_valid, exp_how) in combined.items():
        chip_out = []
        for k, c in enumerate(chips):
            e = exp_of[k]
            b = exp_sky[e]
            chip_out.append(ChipSky(
                name=c.name, exposure_id=c.exposure_id, sky=float(b / c.conv),
                sky_brightness=float(b), valid=bool(exp_valid[e]), how=exp_how[e],
                conv=float(c.conv), local=float(local_chip[k]), npix=int(npix_chip[k]),
            ))
        exp_out = tuple(
            ExposureSky(exposure_id=exp_ids[e], sky_brightness=float(exp_sky[e]),
                        valid=bool(exp_valid[e]), how=exp_how[e], local=float(L[e]),
                        match=float(M[e]), component=int(labels[e]))
            for e in range(n_exp)
        )
        uses_match = "match" in method
        out[method] = SkyResult(
            method=method, chips=tuple(chip_out), exposures=exp_out,
            pairs=tuple(pair_stats) if uses_match else (),
            components=components if uses_match else (), parameters=params)
    return out


def _match(chips, exp_ids, exp_of, flags, stat, is_compat, match_down, static_of,
           executor, progress):
    n_exp = len(exp_ids)
    fp = compute_footprints(chips, compat=is_compat)
    cand = candidate_pairs(fp, exp_of)
    jobs, owners = [], []
    for a, b in cand:
        rings = overlap_geometry(fp, int(a), int(b), compat=is_compat)
        if not rings:
            continue
        # Orient each job so that chip_m belongs to the lower exposure index.
        if exp_of[a] > exp_of[b]:
            a, b = b, a
        sa, ka = static_of(chips[a])
        sb, kb = static_of(chips[b])
        jobs.append(OverlapJob(chips[a], chips[b], tuple(rings), flags, stat, is_compat,
                               sa, sb, ka, kb))
        owners.append((int(exp_of[a]), int(exp_of[b]), a, b))
    results = _progress_map(executor, overlap_task, jobs, "overlaps", progress)

    acc: dict[tuple[int, int], list[float]] = {}
    for (ei, ej, a, b), (rm, rn, _, _) in zip(owners, results):
        t = acc.setdefault((ei, ej), [0.0, 0, 0.0, 0])
        if rm is not None and rm.npix > 0:
            t[0] += chips[a].conv * rm.value * rm.npix
            t[1] += rm.npix
        if rn is not None and rn.npix > 0:
            t[2] += chips[b].conv * rn.value * rn.npix
            t[3] += rn.npix
    keys = sorted(k for k, t in acc.items() if t[1] > 0 and t[3] > 0)
    pi = np.array([k[0] for k in keys], dtype=np.int64)
    pj = np.array([k[1] for k in keys], dtype=np.int64)
    s_i = np.array([acc[k][0] / acc[k][1] for k in keys])
    s_j = np.array([acc[k][2] / acc[k][3] for k in keys])
    n_i = np.array([acc[k][1] for k in keys], dtype=np.int64)
    n_j = np.array([acc[k][3] for k in keys], dtype=np.int64)
    w = 0.5 * (n_i + n_j)
    sol = solve_match(n_exp, pi, pj, s_i, s_j, w)
    d = sol.d
    good = np.isfinite(d)
    M = np.full(n_exp, np.nan)
    if good.any():
        if is_compat:
            ref = np.min(d[good]) if match_down else np.max(d[good])
            M[good] = d[good] - ref
        else:
            for lab in range(sol.n_components):
                members = sol.labels == lab
                ref = d[members].min() if match_down else d[members].max()
                M[members] = d[members] - ref
    comps = []
    for lab in range(sol.n_components):
        comps.append(tuple(exp_ids[e] for e in np.nonzero(sol.labels == lab)[0]))
    isolated = [exp_ids[e] for e in range(n_exp) if not good[e]]
    if len(comps) > 1:
        listing = "; ".join("{" + ", ".join(_label(x) for x in c) + "}" for c in comps)
        how = "anchored at its own minimum" if not is_compat else "left at the Reference's arbitrary offsets"
        warnings.warn(
            f"the overlap graph has {len(comps)} disconnected groups ({listing}); "
            f"their relative sky levels are not constrained by the data; each group is {how}",
            DisconnectedMosaicWarning, stacklevel=3)
    if isolated:
        warnings.warn(
            f"no usable overlap for {', '.join(_label(x) for x in isolated)}: match cannot determine their sky "
            "(written as 0 and flagged invalid)", UndeterminedSkyWarning, stacklevel=3)
    pair_stats = [
        PairStat(exposure_i=exp_ids[pi[k]], exposure_j=exp_ids[pj[k]], sky_i=float(s_i[k]),
                 sky_j=float(s_j[k]), npix_i=int(n_i[k]), npix_j=int(n_j[k]),
                 weight=float(w[k]), residual=float(sol.residuals[k]))
        for k in range(len(keys))
    ]
    return M, sol.labels, pair_stats, tuple(comps) + tuple((e,) for e in isolated)


def _label(exposure_id: str) -> str:
    """Short name of an exposure for messages (file name without its directory)."""
    return os.path.basename(exposure_id) or exposure_id


def _combine(method, L, M, labels, is_compat, exp_ids):
    n = len(L)
    sky = np.zeros(n)
    valid = np.zeros(n, dtype=bool)
    how = [method] * n
    defined = np.isfinite(L)
    if method == "localmin":
        sky[defined] = L[defined]
        valid = defined.copy()
    elif method == "globalmin":
        if defined.any():
            sky[:] = L[defined].min()
            valid[:] = True
    elif method == "match":
        good = np.isfinite(M)
        sky[good] = M[good]
        valid = good.copy()
        for e in np.nonzero(~good)[0]:
            how[e] = "no-overlap"
    else:  # globalmin+match
        Mz = np.where(np.isfinite(M), M, 0.0)
        if is_compat:
            groups = [np.arange(n)]
        else:
            groups = [np.nonzero(labels == lab)[0] for lab in np.unique(labels[labels >= 0])]
            groups += [np.array([e]) for e in np.nonzero(labels < 0)[0]]
        for g in groups:
            dg = g[defined[g]]
            c = float(np.min(L[dg] - Mz[dg])) if dg.size else 0.0
            sky[g] = Mz[g] + c
            valid[g] = dg.size > 0
        for e in np.nonzero(~np.isfinite(M))[0]:
            how[e] = "globalmin+match (no overlap)"
    for e in np.nonzero(~valid)[0]:
        if how[e] == method:
            how[e] = "no-data"
        sky[e] = 0.0
    undetermined = [_label(exp_ids[e]) for e in np.nonzero(~valid)[0]]
    if undetermined and method != "match":
        warnings.warn(
            f"{method}: no sky could be determined for {', '.join(undetermined)} "
            "(written as 0 and flagged invalid)", UndeterminedSkyWarning, stacklevel=3)
    return sky, valid, how
