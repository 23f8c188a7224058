"""The physics: district, weather, PV, loads, heat pumps, EVs, batteries, grid and power flow."""
