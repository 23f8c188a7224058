"""The dashboard's pages: each module has ``PATH``, ``NAME``, ``layout()`` and ``register_callbacks(app)``.

Layouts are skeletons without data; callbacks fill them. Every callback is a thin wrapper
around a plain function taking a :class:`~dashboard.data.DashboardConfig` and a
:class:`~dashboard.data.DataCache`, so tests call the function directly.
"""

from dashboard.pages import buildings, calibration, grid, live, scenarios, year

__all__ = ["PAGES", "buildings", "calibration", "grid", "live", "scenarios", "year"]

PAGES = (live, buildings, year, grid, scenarios, calibration)
