"""The twin core: data model, units, KPIs and errors. Imports nothing else of the project."""
