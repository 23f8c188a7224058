"""Gas boilers: gas drawn for the heat a building needs.

A boiler turns gas into heat at a seasonal efficiency; its gas power is
``p_fuel_kw = heat_kw / efficiency_frac``. Gas is counted in kWh of the gross
calorific value (Hs, "Brennwert"), as German gas meters are billed, so a condensing
boiler's seasonal efficiency stays below 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pandas as pd

from models.parameters import per_asset_values
from twin.core.errors import ConfigError

__all__ = ["BOILER_EFFICIENCY_FRAC", "gas_boiler_fuel_kw"]

#: Seasonal efficiency on Hs by boiler type. Assumptions in the range of field
#: measurements of German heating systems (condensing ~0.9-0.95, older low-temperature
#: and constant-temperature boilers ~0.8-0.88).
BOILER_EFFICIENCY_FRAC = {"condensing": 0.92, "low_temperature": 0.85, "old": 0.85}


def gas_boiler_fuel_kw(
    heat_kw: pd.DataFrame,
    efficiency_frac: npt.ArrayLike | str | Sequence[str] = "condensing",
) -> pd.DataFrame:
    """Gas drawn by boilers for a heat demand.

    Parameters
    ----------
    heat_kw : pandas.DataFrame
        (time x building) heat the boiler delivers (space + hot water). [kW]
    efficiency_frac : array_like, str or sequence of str, default "condensing"
        Seasonal efficiency per boiler, or names in :data:`BOILER_EFFICIENCY_FRAC`. [1]

    Returns
    -------
    p_fuel_kw : pandas.DataFrame
        Gas power drawn, ``heat_kw / efficiency_frac``, >= 0. [kW]

    Raises
    ------
    ConfigError
        For an unknown boiler type or an efficiency outside (0, 1.1].
    """
    eta = per_asset_values(
        efficiency_frac, BOILER_EFFICIENCY_FRAC, n_assets=heat_kw.shape[1], field="efficiency_frac", what="boiler type"
    )
    if ((eta <= 0) | (eta > 1.1)).any():
        raise ConfigError("boiler efficiency must be in (0, 1.1]", field="efficiency_frac")
    return heat_kw / eta[np.newaxis, :]
