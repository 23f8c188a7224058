"""Data files of the models: the built-in district ``beucha`` and the script that generated it."""
