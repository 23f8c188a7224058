"""The Dash dashboard for energy managers."""
