"""The dashboard for energy managers (Dash): live balance, the year, the grid and scenarios."""

from dashboard.app import create_app

__all__ = ["create_app"]
