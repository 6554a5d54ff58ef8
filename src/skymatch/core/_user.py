"""Sky values given by the user (AstroDrizzle's ``skyfile`` and ``skyuser``)."""

from __future__ import annotations

from typing import Mapping, Sequence

from ..exceptions import InputError
from ..models import Chip, ChipSky, ExposureSky, SkyResult

__all__ = ["user_sky_result", "USER_APPLIED"]

USER_APPLIED = "user (already subtracted)"


def user_sky_result(chips: Sequence[Chip], values: Mapping[str, float], *,
                    applied: bool, source: str) -> SkyResult:
    """A :class:`SkyResult` holding user-given skies (data units, one per chip name).

    Parameters
    ----------
    chips : sequence of Chip
        Every chip must have a value.
    values : mapping
        ``{chip name: sky in the chip's data units}``.
    applied : bool
        The values were already subtracted from the data (``applied = yes`` in a skyfile,
        or ``skyuser``); drizzling must not subtract them again.
    source : str
        Where the values came from (recorded in the parameters).
    """
    missing = [c.name for c in chips if c.name not in values]
    if missing:
        raise InputError(f"{missing[0]}: no user sky value given ({source}); add one for every input")
    how = USER_APPLIED if applied else "user"
    out, exps, seen = [], [], set()
    for c in chips:
        v = float(values[c.name])
        out.append(ChipSky(name=c.name, exposure_id=c.exposure_id, sky=v,
                           sky_brightness=v * c.conv, valid=True, how=how, conv=c.conv,
                           subtracted_by_user=applied))
        if c.exposure_id not in seen:
            seen.add(c.exposure_id)
            exps.append(ExposureSky(exposure_id=c.exposure_id, sky_brightness=v * c.conv,
                                    valid=True, how=how))
    return SkyResult(method="user", chips=tuple(out), exposures=tuple(exps),
                     parameters={"source": source, "applied": applied})
