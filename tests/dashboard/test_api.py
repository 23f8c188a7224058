"""The read-only REST API: behind the login, history at four resolutions, bad parameters, OpenAPI."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from openapi_spec_validator import validate

from dashboard import create_app
from dashboard.api import MAX_CHANNELS, RESOLUTIONS
from tests.dashboard.conftest import USERS

FLOW = "flow:substation/import_kwh"  # 2.0 kWh every quarter in the sample store (1 to 3 June)
POWER = "balance:substation/p_pv_kw"


def _auth() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"manager:{USERS['manager']}".encode()).decode()}


@pytest.fixture
def client(data_root: Path):
    return create_app(data_root, credentials=USERS).server.test_client()


def test_api_needs_the_login_and_describes_itself(client) -> None:
    assert client.get("/api/v1/snapshot").status_code == 401
    assert client.get("/api/v1/openapi.json").status_code == 401
    document = client.get("/api/v1/openapi.json", headers=_auth()).get_json()
    validate(document)  # raises when the document is not valid OpenAPI
    assert set(document["paths"]) >= {"/api/v1/snapshot", "/api/v1/history", "/api/v1/channels", "/api/v1/scenarios"}
    parameters = {p["name"]: p for p in document["paths"]["/api/v1/history"]["get"]["parameters"]}
    assert parameters["resolution"]["schema"]["enum"] == list(RESOLUTIONS)  # the description says what the code does
    assert parameters["channel"]["schema"]["maxItems"] == MAX_CHANNELS


def test_snapshot_and_channels(client) -> None:
    snapshot = client.get("/api/v1/snapshot", headers=_auth()).get_json()
    assert snapshot["version"] == 2 and snapshot["balance"]["substation"]["p_grid_kw"] == 12.5
    channels = client.get("/api/v1/channels", headers=_auth()).get_json()
    assert FLOW in channels["15min"] and "balance:substation/p_battery_kw" in channels["1min"]


def test_history_at_every_resolution(client) -> None:
    query = {"channel": [FLOW, POWER], "from": "2025-06-01T00:00:00Z", "to": "2025-06-02T00:00:00Z"}
    quarters = client.get("/api/v1/history", query_string=query, headers=_auth()).get_json()
    assert len(quarters["time_utc"]) == 96 and quarters["time_utc"][0] == "2025-06-01T00:00:00Z"
    assert quarters["channels"][FLOW]["values"][:2] == [2.0, 2.0]
    hours = client.get("/api/v1/history", query_string={**query, "resolution": "1h"}, headers=_auth()).get_json()
    assert len(hours["time_utc"]) == 24
    assert hours["channels"][FLOW]["values"][0] == 8.0  # energy: the sum of four quarters
    assert hours["channels"][FLOW]["count"][0] == 4
    p_pv = pd.Series(quarters["channels"][POWER]["values"][:4])
    assert hours["channels"][POWER]["values"][0] == pytest.approx(p_pv.mean())  # power: the mean
    days = client.get("/api/v1/history", query_string={**query, "resolution": "1d"}, headers=_auth()).get_json()
    assert days["channels"][FLOW]["values"] == [192.0]
    csv = client.get("/api/v1/history", query_string={**query, "format": "csv"}, headers=_auth())
    frame = pd.read_csv(io.StringIO(csv.get_data(as_text=True)), index_col="time_utc")
    assert frame[FLOW].sum() == pytest.approx(192.0)
    nc = client.get("/api/v1/history", query_string={**query, "format": "nc"}, headers=_auth())
    dataset = xr.open_dataset(io.BytesIO(nc.get_data()))
    assert float(dataset["value"].sel(channel=FLOW).sum()) == pytest.approx(192.0)


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ({"from": "2025-06-01", "to": "2025-06-02"}, 400, "channel: give 1 to 50"),
        ({"channel": FLOW, "from": "2025-06-01", "to": "2025-06-02", "resolution": "5min"}, 400, "resolution"),
        ({"channel": FLOW, "from": "yesterday", "to": "2025-06-02"}, 400, "from: 'yesterday' is not an ISO 8601"),
        ({"channel": FLOW, "from": "2025-06-02", "to": "2025-06-01"}, 400, "from/to"),
        ({"channel": "flow:nowhere/x_kwh", "from": "2025-06-01", "to": "2025-06-02"}, 404, "not a channel"),
    ],
)
def test_bad_history_requests_name_the_parameter(client, query: dict[str, str], status: int, message: str) -> None:
    response = client.get("/api/v1/history", query_string=query, headers=_auth())
    assert response.status_code == status
    assert message in response.get_json()["error"]


def test_rows_appended_after_a_read_are_served(client, data_root: Path) -> None:
    from tests.dashboard.sample import SIM_TIME
    from twin.core.store import MeanTable

    query = {"channel": FLOW, "from": "2025-06-01T00:00:00Z", "to": "2025-06-10T00:00:00Z"}
    before = client.get("/api/v1/history", query_string=query, headers=_auth()).get_json()
    t_s = np.array([int(SIM_TIME.timestamp())], dtype=np.int64)
    MeanTable(data_root / "live", "15min", writable=True).append(t_s, {FLOW: np.array([7.5])})
    after = client.get("/api/v1/history", query_string=query, headers=_auth()).get_json()
    assert len(after["time_utc"]) == len(before["time_utc"]) + 1
    assert after["channels"][FLOW]["values"][-1] == 7.5
    assert after["time_utc"][-1] == SIM_TIME.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_kpis_for_a_period(client) -> None:
    query = {"from": "2025-06-01T00:00:00Z", "to": "2025-06-02T00:00:00Z"}
    answer = client.get("/api/v1/kpis", query_string=query, headers=_auth()).get_json()
    assert answer["boundary"] == "substation" and answer["quarters"] == 96 and answer["quarters_measured"] == 96
    kpis = answer["kpis"]
    assert kpis["import_kwh"] == pytest.approx(192.0) and kpis["export_kwh"] == pytest.approx(48.0)
    assert kpis["self_sufficiency_frac"] == pytest.approx(1 - 192.0 / 288.0)  # 1 - import / load
    assert kpis["energy_balance_kwh"] == pytest.approx(192.0 + 96.0 - 48.0)  # import + gas - export
    assert kpis["peak_import_kw"] == pytest.approx(8.0)  # 2 kWh a quarter
    later = {"from": "2025-06-02T00:00:00Z", "to": "2025-06-04T00:00:00Z", "boundary": "b1"}
    partly = client.get("/api/v1/kpis", query_string=later, headers=_auth()).get_json()
    assert partly["quarters"] == 192 and partly["quarters_measured"] == 136  # the store ends at 10:00 on 3 June
    unknown = client.get("/api/v1/kpis", query_string={**query, "boundary": "b9"}, headers=_auth())
    assert unknown.status_code == 404 and "boundary" in unknown.get_json()["error"]
    document = client.get("/api/v1/openapi.json", headers=_auth()).get_json()
    assert {"/api/v1/kpis", "/api/v1/export"} <= set(document["paths"])


def test_export_of_measured_data_as_csv_and_netcdf(client) -> None:
    query = {"boundary": "b1", "from": "2025-06-01T00:00:00Z", "to": "2025-06-02T00:00:00Z"}
    csv = client.get("/api/v1/export", query_string=query, headers=_auth())
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    assert csv.headers["Content-Disposition"] == 'attachment; filename="b1-15min-20250601T0000Z-20250602T0000Z.csv"'
    frame = pd.read_csv(io.StringIO(csv.get_data(as_text=True)), index_col="time_utc")
    assert len(frame) == 96 and "flow:b1/import_kwh" in frame and "balance:b1/p_grid_kw" in frame
    assert not any(column.split(":")[1].startswith("substation/") for column in frame.columns)  # b1's only
    nc = client.get("/api/v1/export", query_string={**query, "format": "nc", "resolution": "1d"}, headers=_auth())
    dataset = xr.open_dataset(io.BytesIO(nc.get_data()))
    assert float(dataset["value"].sel(channel="flow:b1/import_kwh").sum()) == pytest.approx(192.0)
    assert client.get("/api/v1/export", query_string=query).status_code == 401
    bad = client.get("/api/v1/export", query_string={**query, "format": "json"}, headers=_auth())
    assert bad.status_code == 400 and "format" in bad.get_json()["error"]


def test_an_unchanged_table_is_not_read_again(client, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dashboard import api
    from tests.dashboard.sample import SIM_TIME
    from twin.core.store import MeanTable

    reads: list[int] = []
    real = api.read_table
    monkeypatch.setattr(api, "read_table", lambda *a, **k: reads.append(1) or real(*a, **k))
    query = {"channel": FLOW, "from": "2025-06-01T00:00:00Z", "to": "2025-06-10T00:00:00Z"}
    first = client.get("/api/v1/history", query_string=query, headers=_auth()).get_json()
    assert len(reads) == 1
    client.get("/api/v1/history", query_string=query, headers=_auth())
    assert len(reads) == 1  # the commit record did not change: served from memory
    t_s = np.array([int(SIM_TIME.timestamp())], dtype=np.int64)
    MeanTable(data_root / "live", "15min", writable=True).append(t_s, {FLOW: np.array([7.5])})
    after = client.get("/api/v1/history", query_string=query, headers=_auth()).get_json()
    assert len(reads) == 2 and len(after["time_utc"]) == len(first["time_utc"]) + 1
