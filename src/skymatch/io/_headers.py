"""Writing sky values into input headers (SPEC section 8), all files or none.

The updates go through a :class:`~skymatch.io._journal.HeaderBatch`: header blocks are
patched in place under an undo journal when the new header still fits them (cost:
the header, whatever the file's size), files are rewritten through a temporary copy
otherwise (``--subtract``, a header that outgrew its blocks); either way an interrupted
run leaves every file wholly old or wholly new.  Inside a run the batch belongs to the
run's :class:`~skymatch.io._transaction.RunTransaction` and is committed last.
"""

from __future__ import annotations

import math
import os
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from types import MappingProxyType

import numpy as np
from astropy.io import fits
from astropy.utils.exceptions import AstropyWarning

from .._version import __version__
from ..core._skymodel import coefficient_names, evaluate_block, order_of_coeffs
from ..exceptions import ParameterError
from ..models import Chip, ChipSky, SkyResult
from ._fits import chip_extension, needs_unmapped
from ._inputs import InputSpec
from ._journal import HeaderBatch
from ._keywords import SKY_COEFF_PATTERN, SKY_PARAMETER_KEYWORDS, card
from ._locks import lock_path
from ._transaction import RunTransaction, check_writable, prepare_folder

__all__ = ["check_writable", "update_files_atomic", "update_headers_atomic", "write_sky",
           "sky_cards"]

SKY_KEYWORD = "MDRIZSKY"
#: Highest polynomial order whose stale coefficients are removed.
_MAX_ORDER = 9
#: Every coefficient keyword up to :data:`_MAX_ORDER`, removed unless the model sets it.
_NO_COEFFICIENTS = MappingProxyType(dict.fromkeys(k for order in range(_MAX_ORDER + 1)
                                                  for k in coefficient_names(order)))


def _stage(path: str, updates, data_updates=None, *, batch: HeaderBatch) -> str:
    return batch.stage(path, updates, data_updates=data_updates)


def update_files_atomic(updates: Mapping[str, Mapping[object, Mapping[str, tuple]]], *,
                        data_updates: Mapping[str, Mapping[object, np.ndarray]] | None = None
                        ) -> list[str]:
    """Header updates of several files, all or nothing.

    Interrupted updates left in the files' folders are undone first; the files are
    locked (exclusive) for the update.

    Parameters
    ----------
    updates : mapping
        ``{path: {extension: {keyword: (value, comment)}}}``; a value None removes the
        keyword.
    data_updates : mapping, optional
        ``{path: {extension: new data}}`` (those files are rewritten).

    Returns
    -------
    list of str
        The files changed.
    """
    check_writable(updates)
    for d in dict.fromkeys(os.path.dirname(os.path.realpath(p)) for p in updates):
        prepare_folder(d)
    locks = []
    batch = HeaderBatch()
    try:
        for p in sorted(dict.fromkeys(os.path.realpath(p) for p in updates)):
            locks.append(lock_path(p, exclusive=True, what="input file"))
        for path, upd in updates.items():
            _stage(path, upd, (data_updates or {}).get(path), batch=batch)
        return batch.commit()
    except BaseException:
        batch.abort()
        raise
    finally:
        for lk in locks:
            lk.release()


def update_headers_atomic(
    path: str,
    updates: Mapping[object, Mapping[str, tuple]],
    *,
    data_updates: Mapping[object, np.ndarray] | None = None,
) -> None:
    """Apply header (and optionally data) updates to one FITS file atomically.

    Parameters
    ----------
    path : str
        The file (a symbolic link is followed; the link stays).
    updates : mapping
        ``{extension: {keyword: (value, comment)}}``; extensions as astropy accepts them
        (index or ``(EXTNAME, EXTVER)``); a value None removes the keyword.
    data_updates : mapping, optional
        ``{extension: new data array}``; forces a full rewrite.
    """
    update_files_atomic({path: updates}, data_updates={path: data_updates} if data_updates else None)


def _fits_value(value):
    """A parameter as a FITS card value (None: the keyword is removed)."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    return str(value)[:68]


def sky_cards(result: SkyResult, sky: ChipSky) -> dict[str, tuple | None]:
    """The keywords written beside ``MDRIZSKY`` for one chip (None = remove the keyword).

    ``MDRIZSKY``, the provenance (``SMMETHOD``, ``SMSTAT`` ... ``SMVERS``), every sky
    parameter used (:data:`~skymatch.io._keywords.SKY_PARAMETER_KEYWORDS`), the sky
    model (``SKYMODEL``, ``SKYCij``) and ``SKYERR``; stale coefficients of a higher
    order, and parameters not used, are removed.
    """
    params = result.parameters
    cards: dict[str, tuple | None] = {
        SKY_KEYWORD: card(SKY_KEYWORD, float(sky.sky)),
        "SMMETHOD": card("SMMETHOD", result.method),
        "SMVALID": card("SMVALID", bool(sky.valid)),
        "SMHOW": card("SMHOW", str(sky.how)[:68]),
        "SMCOMPAT": card("SMCOMPAT", str(params.get("compat") or "none")),
        "SMVERS": card("SMVERS", __version__),
    }
    for name, key in SKY_PARAMETER_KEYWORDS.items():
        v = _fits_value(params.get(name))
        cards[key] = None if v is None else card(key, v)
    coeffs = tuple(float(c) for c in sky.coefficients)
    names = coefficient_names(order_of_coeffs(len(coeffs)))
    cards["SKYMODEL"] = card("SKYMODEL", str(sky.model or "constant").upper())
    cards.update(_NO_COEFFICIENTS)
    for key, c in zip(names, coeffs):
        cards[key] = card(key, c)
    err = float(sky.error)
    cards["SKYERR"] = card("SKYERR", err) if math.isfinite(err) else None
    return cards


def _header_coeffs(hdr: fits.Header) -> dict[tuple[int, int], float]:
    out = {}
    for key in hdr:
        m = SKY_COEFF_PATTERN.match(key)
        if m and isinstance(hdr[key], (int, float)):
            out[(int(m.group(1)), int(m.group(2)))] = float(hdr[key])
    return out


def _subtract(path: str, ext, sky: ChipSky, cards: dict) -> np.ndarray:
    """Cards and new data of a chip whose sky (model) is subtracted from its pixels."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", AstropyWarning)
        with fits.open(path, memmap=not needs_unmapped(path)) as hdul:
            hdr = hdul[ext].header
            done = bool(hdr.get("SMSUBTR", False))
            prev = float(hdr.get(SKY_KEYWORD, 0.0)) if done else 0.0
            prev_coeffs = _header_coeffs(hdr) if done else {}
            data = np.array(hdul[ext].data, dtype=np.float32)
    coeffs = sky.coefficients
    if len(coeffs) > 1:
        data -= evaluate_block(coeffs, data.shape)
    else:
        data -= np.float32(coeffs[0])
    cards[SKY_KEYWORD] = card(SKY_KEYWORD, prev + float(sky.sky),
                              "Total sky subtracted from data by skymatch")
    cards["SMSUBTR"] = card("SMSUBTR", True)
    if prev_coeffs:
        # The record is the total model subtracted so far.
        total = dict(prev_coeffs)
        order = order_of_coeffs(len(coeffs))
        for (i, j), c in zip([tuple(map(int, n[4:6])) for n in coefficient_names(order)], coeffs):
            total[(i, j)] = total.get((i, j), 0.0) + float(c)
        top = max(i + j for i, j in total)
        for key in coefficient_names(top):
            i, j = int(key[4]), int(key[5])
            cards[key] = card(key, total.get((i, j), 0.0))
    return data


def write_sky(result: SkyResult, chips: Sequence[Chip], *, subtract: bool = False,
              progress=None, transaction: RunTransaction | None = None,
              layouts: Mapping | None = None) -> list[str]:
    """Write ``MDRIZSKY`` and its companions into the SCI headers of file inputs.

    Parameters
    ----------
    result : SkyResult
        The sky values.
    chips : sequence of Chip
        The chips the result was computed from (in-memory chips are skipped).
    subtract : bool
        Also subtract the sky (its full model) from the pixel data; ``MDRIZSKY`` then
        holds the total subtracted so far and ``SMSUBTR = T`` records it.
    progress : callable(stage, done, total), optional
    transaction : RunTransaction, optional
        Stage the updates in this run's transaction (committed with it); without one,
        the files are locked, updated all or nothing, and released here.
    layouts : mapping, optional
        The files' header layouts as ``read_inputs(layouts=...)`` collected them in this
        run (used where the files still hold those bytes).

    Returns
    -------
    list of str
        The files updated (with a transaction: to be updated when it commits).
    """
    if not isinstance(result, SkyResult):
        raise ParameterError(f"result={result!r}: give the SkyResult that match_sky or sky_methods returned")
    if isinstance(chips, str) or not isinstance(chips, Sequence) or not all(isinstance(c, Chip) for c in chips):
        raise ParameterError(f"chips={chips!r}: give the sequence of Chip objects the sky was computed from")
    by_file: dict[str, list[tuple[Chip, ChipSky]]] = defaultdict(list)
    for chip in chips:
        if chip.source is None:
            continue
        by_file[chip_extension(chip)[0]].append((chip, result.chip(chip.name)))
    if transaction is None:
        with RunTransaction() as txn:
            txn.open_inputs([InputSpec(p) for p in by_file], write=True)
            return _stage_sky(txn, by_file, result, subtract=subtract, progress=progress, layouts=layouts)
    return _stage_sky(transaction, by_file, result, subtract=subtract, progress=progress, layouts=layouts)


def _stage_sky(txn: RunTransaction, by_file, result: SkyResult, *, subtract: bool, progress,
               layouts: Mapping | None) -> list[str]:
    done = []
    layouts = layouts or {}
    for k, (path, items) in enumerate(by_file.items()):
        updates, data_updates = {}, {}
        for chip, sky in items:
            ext = chip_extension(chip)[1]
            cards = sky_cards(result, sky)
            if sky.subtracted_by_user:
                # The user already subtracted this value from the data.
                cards[SKY_KEYWORD] = card(SKY_KEYWORD, float(sky.sky), "Sky subtracted from data by the user")
                cards["SMSUBTR"] = card("SMSUBTR", True)
            elif subtract:
                data_updates[ext] = _subtract(path, ext, sky, cards)
            elif chip.meta.get("SMSUBTR", False):
                # Data were reduced earlier (the chip's headers were read with it): keep
                # that total on record; the new MDRIZSKY is what remains to be subtracted.
                cards["SMPRESUB"] = card("SMPRESUB", float(chip.meta.get(SKY_KEYWORD, 0.0)))
                cards["SMSUBTR"] = card("SMSUBTR", False, "MDRIZSKY is not yet subtracted")
            updates[ext] = cards
        txn.stage_headers(path, updates, data_updates=data_updates or None, layout=layouts.get(path))
        done.append(path)
        if progress:
            progress("write", k + 1, len(by_file))
    return done
