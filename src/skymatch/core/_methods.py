"""The four sky methods on top of statistics, overlaps and solves (SPEC sections 5 and 12).

:func:`sky_solutions` is the engine: it reads every chip once per run (a
:class:`~skymatch.core._context.RunContext`), measures what the requested methods and
sky models need — whole-chip and whole-overlap statistics for the constant model,
clipped cells for the others and for the flatness score — and combines them into one
:class:`~skymatch.models.SkyResult` per method and model.  :func:`sky_methods` and
:func:`match_sky` are its one-model forms.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Callable, Sequence

import numpy as np

from ..exceptions import InputError, ParameterError, UndeterminedSkyWarning
from ..models import Chip, InMemoryPixels, SkyResult
from ._constant import PairTotals, constant_match, exposure_label, stat_sigma
from ._context import RunContext
from ._executor import Executor, SerialExecutor, ThreadExecutor, map_batched, ordered_results
from ._flatness import flatness_inputs
from ._masks import BitFlags, parse_bits
from ._models_engine import LEVEL_ONLY, ModelInputs, model_solutions
from ._pairbatch import overlap_batch
from ._pairs import (
    CellSpec,
    OverlapJob,
    candidate_pairs,
    chip_cells,
    compute_footprints,
    overlap_geometry,
    plane_job,
)
from ._results import build_constant_results, build_model_results
from ._skymodel import MODEL_ORDER, canonical_model
from ._staticmask import STATIC_SIG, combine_packed, reference_uses_static, static_keep_mask
from ._stats import SkyStatParams, StatisticError, sky_statistic

__all__ = [
    "SKY_METHODS",
    "METHOD_ALIASES",
    "COMPAT_MODES",
    "canonical_method",
    "match_sky",
    "sky_methods",
    "sky_solutions",
    "compute_static_masks",
    "Executor",
    "SerialExecutor",
    "ThreadExecutor",
]

SKY_METHODS = ("localmin", "globalmin", "match", "globalmin+match")
METHOD_ALIASES = MappingProxyType({
    "local": "localmin",
    "global": "globalmin",
    "global+match": "globalmin+match",
    "globalmin_match": "globalmin+match",
})
COMPAT_MODES = (None, "drizzlepac")

ProgressCallback = Callable[[str, int, int], None]

# match alone: each exposure's own-sky cells on every 4th pixel of every 4th row (they
# only decide directions no overlap constrains; see core/_pairs.chip_cells)
MATCH_OWN_SKY_STEP = 4


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


def _names(value, what: str, canon) -> list[str]:
    """A list of canonical names from one name, a comma-separated string or a sequence."""
    if isinstance(value, str):
        items = [v for v in value.split(",") if v.strip()]
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise ParameterError(f"{what}={value!r}: give a name, a comma-separated string or a list")
    out = list(dict.fromkeys(canon(v) for v in items))
    if not out:
        raise ParameterError(f"{what}={value!r}: no {what} given")
    return out


# ---------------------------------------------------------------- per-chip pass
@dataclass(frozen=True)
class _ChipJob:
    chip: Chip
    flags: BitFlags
    stat: SkyStatParams | None  # None: no whole-chip statistic
    static: np.ndarray | None
    static_key: object
    context: RunContext
    cells: CellSpec | None = None


@dataclass(frozen=True)
class _ChipOut:
    n_good: int
    stat: object
    why: str
    cells: object = None


def _pixels_only(chip: Chip) -> Chip:
    """``chip`` without its WCS, for tasks that read pixels only (pickling a WCS costs
    more than a small chip's pixel work)."""
    return replace(chip, wcs=None)


def _chip_task(job: _ChipJob) -> _ChipOut:
    static = None
    if job.static is not None:
        shape = job.chip.shape
        static = np.unpackbits(job.static, count=shape[0] * shape[1]).astype(bool).reshape(shape)
    u = job.context.usable(job.chip, job.flags, static, job.static_key)
    n_good = int(np.count_nonzero(u.good))
    cells = chip_cells(job.cells, u) if (job.cells is not None and n_good) else None
    if job.stat is None or n_good == 0:
        return _ChipOut(n_good, None, "" if n_good else "no usable pixels", cells)
    try:
        return _ChipOut(n_good, sky_statistic(u.data[u.good], job.stat), "", cells)
    except StatisticError as exc:
        return _ChipOut(n_good, None, str(exc), cells)


@dataclass(frozen=True)
class _StaticJob:
    chip: Chip
    static_sig: float
    compat: bool


def _static_task(job: _StaticJob):
    px = job.chip.pixels.read()
    keep = static_keep_mask(px.data, static_sig=job.static_sig, compat=job.compat)
    return None if keep is None else np.packbits(keep.ravel())


def compute_static_masks(chips: Sequence[Chip], *, static_sig: float = STATIC_SIG,
                         compat: bool = True, executor: Executor | None = None,
                         progress: ProgressCallback | None = None) -> dict[tuple, np.ndarray]:
    """AstroDrizzle's static mask of every detector signature: ``{signature: keep mask}``."""
    executor = (executor or ThreadExecutor()).for_stage("threads", len(chips))
    res = _progress_map(executor, _static_task, [_StaticJob(_pixels_only(c), static_sig, compat) for c in chips],
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
    total = len(jobs)
    if progress:
        progress(stage, 0, total)
    return ordered_results(executor, fn, jobs,
                           (lambda k: progress(stage, k, total)) if progress else None)


def _chip_batch(jobs: Sequence[_ChipJob]) -> list[_ChipOut]:
    return [_chip_task(j) for j in jobs]


#: Below this many pixels per chip a task is mostly Python (astropy's WCS calls,
#: small numpy calls) and holds the GIL: batches of such tasks go to processes.
PROCESS_MAX_PIXELS = 512 * 512
#: Fewer tasks than this are not worth starting processes for.
PROCESS_MIN_TASKS = 64


def _batched_stage(executor: Executor, chips: Sequence[Chip], fn_batch, jobs: Sequence, stage: str,
                   progress: ProgressCallback | None) -> list:
    """Run ``jobs`` in batches on the kind of worker that suits them.

    Threads for large chips (numpy releases the GIL); processes for many small chips
    read from files (the chips travel as file references, their WCS as header cards);
    serial for a few small tasks.  A Dask executor takes the batches as they are.
    """
    small = bool(chips) and float(np.median([c.shape[0] * c.shape[1] for c in chips])) < PROCESS_MAX_PIXELS
    in_files = not any(isinstance(c.pixels, InMemoryPixels) for c in chips)
    if small and in_files:
        ex = executor.for_stage("processes", len(jobs), min_tasks=PROCESS_MIN_TASKS)
    elif small:
        ex = SerialExecutor() if executor.kind != "dask" else executor
    else:
        ex = executor.for_stage("threads", len(jobs))
    total = len(jobs)
    if progress:
        progress(stage, 0, total)
    return map_batched(ex, fn_batch, jobs, (lambda k: progress(stage, k, total)) if progress else None)


# ---------------------------------------------------------------- the run plan
@dataclass(frozen=True)
class _Options:
    methods: tuple
    models: tuple
    stat: SkyStatParams
    flags: BitFlags
    sky_bits: object
    use_static: bool | None
    static_sig: float
    match_down: bool
    compat: str | None
    on_empty: str
    flatness: bool

    @property
    def is_compat(self) -> bool:
        return self.compat is not None

    @property
    def max_order(self) -> int:
        return max(MODEL_ORDER[m] for m in self.models)

    def cell_spec(self, order: int) -> CellSpec:
        return CellSpec(lsigma=self.stat.lsigma, usigma=self.stat.usigma, nclip=self.stat.nclip, order=order)


class _Exposures:
    """Exposure index of every chip (input order), built in one pass."""

    def __init__(self, chips: Sequence[Chip]):
        self.ids: list[str] = []
        index: dict[str, int] = {}
        of = np.empty(len(chips), dtype=np.int64)
        for k, c in enumerate(chips):
            e = index.get(c.exposure_id)
            if e is None:
                e = index[c.exposure_id] = len(self.ids)
                self.ids.append(c.exposure_id)
            of[k] = e
        self.of = of
        self.members = [np.nonzero(of == e)[0] for e in range(len(self.ids))]

    @property
    def n(self) -> int:
        return len(self.ids)


def _check_chips(chips) -> list[Chip]:
    if isinstance(chips, (str, bytes)) or not hasattr(chips, "__iter__"):
        raise InputError(f"chips={chips!r}: give a sequence of skymatch Chip objects "
                         "(skymatch.read_inputs or skymatch.make_chip make them)")
    chips = list(chips)
    if not chips:
        raise InputError("no input chips: give at least one image")
    seen: set[str] = set()
    for c in chips:
        if not isinstance(c, Chip):
            raise InputError(f"chips: {c!r} is not a skymatch Chip (skymatch.read_inputs or "
                             "skymatch.make_chip make them)")
        if c.name in seen:
            raise InputError(f"{c.name}: given more than once; list each input once")
        seen.add(c.name)
    return chips


# ---------------------------------------------------------------- public entry points
def match_sky(chips: Sequence[Chip], *, method: str = "match", sky_model: str = "constant",
              skystat: str = "median", lower: float | None = None, upper: float | None = None,
              nclip: int = 5, lsigma: float = 4.0, usigma: float = 4.0, binwidth: float = 0.1,
              sky_bits: int | str | None = 0, use_static: bool | None = None,
              static_sig: float = STATIC_SIG, static_masks: dict | None = None, match_down: bool = True,
              compat: str | None = None, on_empty: str = "error", executor: Executor | None = None,
              progress: ProgressCallback | None = None) -> SkyResult:
    """Compute the sky of every chip with one of AstroDrizzle's four methods.

    Parameters are those of :func:`sky_methods` (one ``method`` instead of ``methods``).

    Returns
    -------
    SkyResult
    """
    method = canonical_method(method)
    return sky_methods(chips, methods=(method,), sky_model=sky_model, skystat=skystat, lower=lower,
                       upper=upper, nclip=nclip, lsigma=lsigma, usigma=usigma, binwidth=binwidth,
                       sky_bits=sky_bits, use_static=use_static, static_sig=static_sig,
                       static_masks=static_masks, match_down=match_down, compat=compat,
                       on_empty=on_empty, executor=executor, progress=progress)[method]


def sky_methods(chips: Sequence[Chip], *, methods: Sequence[str] | str = SKY_METHODS,
                sky_model: str = "constant", skystat: str = "median", lower: float | None = None,
                upper: float | None = None, nclip: int = 5, lsigma: float = 4.0, usigma: float = 4.0,
                binwidth: float = 0.1, sky_bits: int | str | None = 0, use_static: bool | None = None,
                static_sig: float = STATIC_SIG, static_masks: dict | None = None, match_down: bool = True,
                compat: str | None = None, on_empty: str = "error", flatness: bool = False,
                executor: Executor | None = None,
                progress: ProgressCallback | None = None) -> dict[str, SkyResult]:
    """Compute the sky of every chip with several methods, sharing all the work.

    Local and overlap measurements are made once and combined into each requested
    method, so comparing the four methods costs about as much as the most expensive one.

    Parameters
    ----------
    chips : sequence of Chip
        The inputs; chips with the same ``exposure_id`` share one sky.
    methods : str or sequence of str
        Sky methods (``localmin``, ``globalmin``, ``match``, ``globalmin+match``; JWST
        aliases ``local``, ``global``, ``global+match`` accepted).
    sky_model : {'constant', 'plane', 'poly2', 'poly3'}
        The sky of an exposure: one value, or a polynomial (SPEC section 12).
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
        Precomputed ``{signature: keep mask}`` (see :func:`compute_static_masks`).
    match_down : bool
        ``match`` makes the lowest relative sky 0 (True) or the highest (False).
    compat : {None, 'drizzlepac'}
        Reproduce AstroDrizzle's numbers (constant model only).
    on_empty : {'error', 'warn'}
        What a chip with no usable pixel causes.
    flatness : bool
        Also measure the flatness score (``SkyResult.flatness``).
    executor : Executor, optional
        Runs the per-chip and per-pair tasks (default: threads, one per core).
    progress : callable(stage, done, total), optional
        Called as tasks finish.

    Returns
    -------
    dict
        ``{canonical method name: SkyResult}`` in the order requested.
    """
    model = canonical_model(sky_model)
    out = sky_solutions(chips, methods=methods, sky_models=(model,), skystat=skystat, lower=lower,
                        upper=upper, nclip=nclip, lsigma=lsigma, usigma=usigma, binwidth=binwidth,
                        sky_bits=sky_bits, use_static=use_static, static_sig=static_sig,
                        static_masks=static_masks, match_down=match_down, compat=compat,
                        on_empty=on_empty, flatness=flatness, executor=executor, progress=progress)
    return {m: r for (m, _), r in out.items()}


def sky_solutions(chips: Sequence[Chip], *, methods: Sequence[str] | str = SKY_METHODS,
                  sky_models: Sequence[str] | str = ("constant",), skystat: str = "median",
                  lower: float | None = None, upper: float | None = None, nclip: int = 5,
                  lsigma: float = 4.0, usigma: float = 4.0, binwidth: float = 0.1,
                  sky_bits: int | str | None = 0, use_static: bool | None = None,
                  static_sig: float = STATIC_SIG, static_masks: dict | None = None,
                  match_down: bool = True, compat: str | None = None, on_empty: str = "error",
                  flatness: bool = False, executor: Executor | None = None,
                  progress: ProgressCallback | None = None,
                  context: RunContext | None = None) -> dict[tuple[str, str], SkyResult]:
    """Skies of every chip for every requested method and sky model.

    The options are those of :func:`sky_methods`; ``sky_models`` may name several
    models.  Returns ``{(method, model): SkyResult}``, methods in the order requested,
    then models.
    """
    opts = _options(methods, sky_models, skystat, lower, upper, nclip, lsigma, usigma, binwidth,
                    sky_bits, use_static, static_sig, match_down, compat, on_empty, flatness)
    chips = _check_chips(chips)
    if opts.use_static is None:  # AstroDrizzle's default, which applies to HST data only
        opts = replace(opts, use_static=opts.is_compat and reference_uses_static(chips))
    exps = _Exposures(chips)
    executor = executor or ThreadExecutor()
    own_context = context is None
    context = context or RunContext()
    try:
        return _solve_all(chips, exps, opts, static_masks, executor, context, progress)
    finally:
        if own_context:
            context.clear()


def _options(methods, sky_models, skystat, lower, upper, nclip, lsigma, usigma, binwidth, sky_bits,
             use_static, static_sig, match_down, compat, on_empty, flatness) -> _Options:
    methods = tuple(_names(methods, "skymethod", canonical_method))
    models = tuple(_names(sky_models, "sky_model", canonical_model))
    if compat not in COMPAT_MODES:
        raise ParameterError(f"compat={compat!r}: use None or 'drizzlepac'")
    if compat is not None and any(m != "constant" for m in models):
        raise ParameterError("sky_model: AstroDrizzle has only the constant sky; --compat drizzlepac "
                             "works with sky_model='constant' only (drop --compat for plane/poly models)")
    if on_empty not in ("error", "warn"):
        raise ParameterError(f"on_empty={on_empty!r}: use 'error' or 'warn'")
    stat = SkyStatParams(statistic=skystat, lower=lower, upper=upper, nclip=nclip, lsigma=lsigma,
                         usigma=usigma, binwidth=binwidth, compat=compat is not None)
    return _Options(methods=methods, models=models, stat=stat, flags=parse_bits(sky_bits),
                    sky_bits=sky_bits, use_static=None if use_static is None else bool(use_static),
                    static_sig=static_sig, match_down=bool(match_down), compat=compat,
                    on_empty=on_empty, flatness=bool(flatness))


def _solve_all(chips, exps, opts: _Options, static_masks, executor, context, progress):
    static_packed = {}
    if opts.use_static:
        if static_masks is None:
            static_masks = compute_static_masks(chips, static_sig=opts.static_sig, compat=opts.is_compat,
                                                executor=executor, progress=progress)
        static_packed = {sig: np.packbits(np.asarray(m, dtype=bool).ravel()) for sig, m in static_masks.items()}

    def static_of(c: Chip):
        if not opts.use_static:
            return None, None
        return static_packed[c.signature], ("static", c.signature)

    has_constant = "constant" in opts.models
    has_models = any(m != "constant" for m in opts.models)
    need_match = any("match" in m for m in opts.methods)
    need_local_stat = has_constant and any(m != "match" for m in opts.methods)
    chip_out = _chip_pass(chips, opts, static_of, need_local_stat, has_models, executor, context, progress)
    overlaps = None
    if need_match or opts.flatness:
        overlaps = _overlap_pass(chips, exps, opts, static_of, has_constant and need_match,
                                 has_models or opts.flatness, executor, context, progress)
    params = _parameters(opts)
    results: dict[tuple[str, str], SkyResult] = {}
    flat = flatness_inputs(chips, exps, overlaps, opts) if opts.flatness else None
    for model in opts.models:
        if model == "constant":
            out = _constant_solutions(chips, exps, opts, chip_out, overlaps, need_match, params, flat)
        else:
            out = _model_solutions(chips, exps, opts, model, chip_out, overlaps, params, flat)
        for method, res in out.items():
            results[(method, model)] = res
    return {(m, mod): results[(m, mod)] for m in opts.methods for mod in opts.models}


def _chip_pass(chips, opts, static_of, need_stat, need_cells, executor, context, progress):
    jobs = []
    spec = opts.cell_spec(opts.max_order) if need_cells else None
    if spec is not None and all(m == "match" for m in opts.methods):
        spec = replace(spec, step=MATCH_OWN_SKY_STEP)  # the own skies only fill what overlaps cannot
    for c in chips:
        sp, sk = static_of(c)
        jobs.append(_ChipJob(_pixels_only(c), opts.flags, opts.stat if need_stat else None, sp, sk,
                             context, spec))
    out = _batched_stage(executor, chips, _chip_batch, jobs, "chips", progress)
    for c, r in zip(chips, out):
        if r.n_good == 0:
            msg = (f"{c.name}: no usable pixels after sky_bits={opts.sky_bits!r}"
                   f"{' and the static mask' if opts.use_static else ''} (all "
                   f"{c.shape[0] * c.shape[1]:,} pixels flagged or not finite); "
                   "relax sky_bits or drop the file")
            if opts.on_empty == "error":
                raise InputError(msg)
            warnings.warn(msg, UndeterminedSkyWarning, stacklevel=4)
    return out


@dataclass(frozen=True)
class _Overlaps:
    """The overlap measurements of a run: chip-pair owners and task results."""

    footprints: object
    owners: list  # (exposure i, exposure j, chip a, chip b) with i < j
    results: list


def _overlap_pass(chips, exps, opts, static_of, whole, cells, executor, context, progress) -> _Overlaps:
    fp = compute_footprints(chips, compat=opts.is_compat)
    cand = candidate_pairs(fp, exps.of)
    spec = opts.cell_spec(opts.max_order) if cells else None
    # Pairs whose chips both have plane maps need no WCS: their chips travel without one
    # and the task intersects the footprints itself.  Other pairs get their rings here.
    light = [c if m is None else _pixels_only(c) for c, m in zip(chips, fp.maps)]
    jobs, owners = [], []
    for a, b in cand:
        a, b = int(a), int(b)
        # Orient each job so that chip_m belongs to the lower exposure index.
        if exps.of[a] > exps.of[b]:
            a, b = b, a
        sa, ka = static_of(chips[a])
        sb, kb = static_of(chips[b])
        common = dict(flags=opts.flags, stat=opts.stat, context=context, static_m=sa, static_n=sb,
                      static_key_m=ka, static_key_n=kb, whole=whole, cells=spec)
        if fp.maps[a] is not None and fp.maps[b] is not None:
            jobs.append(plane_job(light[a], light[b], fp, a, b, **common))
        else:
            rings, plane_rings = overlap_geometry(fp, a, b, compat=opts.is_compat, plane=True)
            if not rings:
                continue
            jobs.append(OverlapJob(chips[a], chips[b], tuple(rings), compat=opts.is_compat,
                                   plane_rings=None if opts.is_compat else tuple(plane_rings), **common))
        owners.append((int(exps.of[a]), int(exps.of[b]), a, b))
    results = _batched_stage(executor, chips, overlap_batch, jobs, "overlaps", progress)
    keep = [k for k, r in enumerate(results) if not r.empty]
    return _Overlaps(fp, [owners[k] for k in keep], [results[k] for k in keep])


def _parameters(opts: _Options) -> dict:
    s = opts.stat
    return dict(skystat=s.statistic, lower=s.lower, upper=s.upper, nclip=s.nclip, lsigma=s.lsigma,
                usigma=s.usigma, binwidth=s.binwidth, sky_bits=opts.sky_bits,
                use_static=bool(opts.use_static), static_sig=opts.static_sig,
                match_down=opts.match_down, compat=opts.compat)


# ---------------------------------------------------------------- constant model
def _constant_solutions(chips, exps, opts, chip_out, overlaps, need_match, params, flat):
    conv = np.array([c.conv for c in chips])
    local_chip = np.full(len(chips), np.nan)
    local_err = np.full(len(chips), np.nan)
    npix_chip = np.zeros(len(chips), dtype=np.int64)
    for k, r in enumerate(chip_out):
        if r.stat is not None and r.stat.npix >= 1:
            local_chip[k] = r.stat.value
            local_err[k] = stat_sigma(opts.stat.statistic, r.stat.std, r.stat.npix)
            npix_chip[k] = r.stat.npix
        elif r.n_good and any(m != "match" for m in opts.methods):
            warnings.warn(f"{chips[k].name}: sky statistic failed ({r.why}); chip skipped",
                          UndeterminedSkyWarning, stacklevel=4)
    local_b = conv * local_chip
    L = np.full(exps.n, np.nan)
    L_err = np.full(exps.n, np.nan)
    for e, members in enumerate(exps.members):
        vals = local_b[members]
        ok = np.isfinite(vals)
        if ok.any():
            k = members[ok][np.argmin(vals[ok])]
            L[e] = local_b[k]
            L_err[e] = conv[k] * local_err[k]
    match = None
    if need_match:
        totals: dict[tuple[int, int], PairTotals] = {}
        for (ei, ej, a, b), res in zip(overlaps.owners, overlaps.results):
            t = totals.setdefault((ei, ej), PairTotals())
            for side, r, k in (("i", res.stat_m, a), ("j", res.stat_n, b)):
                if r is not None and r.npix > 0:
                    t.add(side, chips[k].conv * r.value, r.npix,
                          chips[k].conv * stat_sigma(opts.stat.statistic, r.std, r.npix))
        match = constant_match(exps.n, exps.ids, totals, is_compat=opts.is_compat, match_down=opts.match_down)
    return build_constant_results(chips, exps, opts, L, L_err, local_chip, npix_chip, match, params, flat)


# ---------------------------------------------------------------- polynomial models
def _model_solutions(chips, exps, opts, model, chip_out, overlaps, params, flat):
    inputs = ModelInputs(chips=chips, exposures=exps, order=MODEL_ORDER[model],
                         chip_cells=[r.cells for r in chip_out], overlaps=overlaps,
                         lsigma=opts.stat.lsigma, usigma=opts.stat.usigma)
    solved = model_solutions(inputs, opts.methods, match_down=opts.match_down)
    _warn_level_only(exps, model, solved)
    return build_model_results(chips, exps, opts, model, solved, params, flat)


def _warn_level_only(exps, model: str, solved) -> None:
    """One warning when overlaps left the shape of some exposures' models undetermined.

    Such a shape is poorly measured, partly taken from the exposure's own sky, which real
    extended emission bends: a bias ``SKYERR`` does not include.  Measured on a 4 x 2
    mosaic of 300 px tiles with a nebula (``demo-data --tiles 4 2 --size 300 --seed 99
    --gradient 0.1``): ``poly3`` marks all 16 exposures and puts MDRIZSKY ~2 e-/s off
    (SKYERR ~0.8); ``plane`` marks none and is off by 0.004.
    """
    counts = {m: [e for e, st in enumerate(mm.status) if st == LEVEL_ONLY and mm.valid[e]]
              for m, mm in solved.methods.items() if "match" in m}
    worst = max(counts.values(), key=len, default=[])
    if not worst:
        return
    names = ", ".join(exposure_label(exps.ids[e]) for e in worst[:4]) + (", ..." if len(worst) > 4 else "")
    warnings.warn(f"sky model {model}: the overlaps cannot determine the shape of {len(worst)} of {exps.n} "
                  f"exposures ({names}); those shapes are poorly measured (partly taken from each exposure's "
                  "own sky, which extended emission bends: a bias SKYERR does not include): check them "
                  "against a lower sky model, or use one", UndeterminedSkyWarning, stacklevel=5)
