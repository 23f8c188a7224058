"""Planning scenarios: files, the runner, Dask fan-out, comparison and reports."""
