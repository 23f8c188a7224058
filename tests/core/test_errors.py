from __future__ import annotations

import pytest

from twin.core.errors import ConfigError, ConnectorError, ConvergenceError, ModelError, TwinError


def test_message_names_file_field_and_allowed() -> None:
    err = ConfigError("unknown type 'castle'", file="district.yaml", field="buildings[3].type", allowed="SFH, TH, MFH")
    assert str(err) == "district.yaml: buildings[3].type: unknown type 'castle' (allowed: SFH, TH, MFH)"
    assert err.exit_code == 2


def test_message_is_one_line() -> None:
    err = ConnectorError("device pv-7 did not answer\nwithin 2 s", field="pv-7")
    assert "\n" not in str(err)


@pytest.mark.parametrize(
    ("cls", "code"), [(ConfigError, 2), (ModelError, 1), (ConvergenceError, 1), (ConnectorError, 1)]
)
def test_family(cls: type[TwinError], code: int) -> None:
    assert issubclass(cls, TwinError)
    assert cls("x").exit_code == code


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="bad"):
        raise ConfigError("bad")


def test_convergence_error_is_a_model_error() -> None:
    assert issubclass(ConvergenceError, ModelError)
