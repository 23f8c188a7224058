"""The costs of a scenario: energy cost scaled to a year, investment, its annuity and the annual cost."""

from __future__ import annotations

from typing import Any

import numpy as np

from models.grid import GridChanges
from scenarios.apply import AppliedChanges
from scenarios.config import Scenario

__all__ = ["scenario_costs"]


def scenario_costs(
    scenario: Scenario,
    applied: AppliedChanges,
    kpis: dict[str, Any],
    net: Any,
    changes: GridChanges | None,
    *,
    hours: float,
) -> dict[str, float]:
    """Energy cost of the period scaled to a year, investment, its annuity and the annual cost.

    Parameters
    ----------
    scenario : Scenario
        Its ``costs`` hold the prices.
    applied : AppliedChanges
        What the building changes added (kWp, kWh, kW, m2, chargers).
    kpis : dict
        The energy KPIs (``import_kwh``, ``export_kwh``, ``fuel_kwh``, ``community_battery_kwh``).
    net : pandapowerNet
        The grid the power flow ran on (cable lengths).
    changes : GridChanges, optional
        The grid changes (transformer, cables).
    hours : float
        Length of the period. [h]

    Returns
    -------
    dict
        ``energy_cost_eur``, ``energy_cost_per_year_eur``, ``investment_eur``, ``annuity_eur``,
        ``annual_cost_eur``. [EUR]
    """
    costs = scenario.costs
    energy_eur = (
        kpis["import_kwh"] * costs.import_eur_per_kwh
        + kpis["fuel_kwh"] * costs.gas_eur_per_kwh
        - kpis["export_kwh"] * costs.export_eur_per_kwh
    )
    per_year = 8760.0 / hours
    investment = (
        applied.pv_added_kwp * costs.pv_eur_per_kwp
        + applied.batteries_added_kwh * costs.battery_eur_per_kwh
        + kpis["community_battery_kwh"] * costs.community_battery_eur_per_kwh
        + (scenario.changes.solar_park.p_peak_kw if scenario.changes.solar_park else 0.0) * costs.solar_park_eur_per_kwp
        + applied.heat_pumps_added_kw * costs.heat_pump_eur_per_kw
        + applied.retrofit_m2 * costs.retrofit_eur_per_m2
        + applied.chargers_added * costs.charger_eur
    )
    if changes is not None:
        if changes.transformer_s_rated_kva is not None:
            investment += changes.transformer_s_rated_kva * costs.transformer_eur_per_kva
        if changes.line_std_type is not None or changes.parallel_cables is not None:
            names = net.line["name"].astype(str)
            chosen = names.isin(changes.lines) if changes.lines else np.ones(len(names), bool)
            investment += float(net.line.loc[chosen, "length_km"].sum()) * costs.cable_eur_per_km
    rate, years = costs.interest_frac, costs.lifetime_a
    factor = 1.0 / years if rate == 0 else rate * (1 + rate) ** years / ((1 + rate) ** years - 1)
    annuity = investment * factor
    return {
        "energy_cost_eur": float(energy_eur),
        "energy_cost_per_year_eur": float(energy_eur * per_year),
        "investment_eur": float(investment),
        "annuity_eur": float(annuity),
        "annual_cost_eur": float(energy_eur * per_year + annuity),
    }
