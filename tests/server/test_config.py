"""Server settings: flags over the config file over the environment over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from interpreter.server.config import (
    CONFIG_VARIABLE,
    SETTINGS,
    ConfigError,
    ServerSettings,
    read_config_file,
    resolve,
)

ROOT = Path(__file__).resolve().parents[2]
NO_FLAGS: dict[str, object | None] = {}


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "callkernel.toml"
    path.write_text(text)
    return path


def test_defaults_listen_on_loopback_port_8080_with_json_logs() -> None:
    settings = resolve(NO_FLAGS, {})
    assert settings == ServerSettings()
    assert (settings.host, settings.port, settings.log_format) == ("127.0.0.1", 8080, "json")
    assert settings.data_dir == Path("callkernel-data")
    assert settings.store_path == Path("callkernel-data/callkernel.sqlite3")
    assert settings.max_body_bytes == 1_048_576


def test_flag_beats_config_file_beats_environment(tmp_path: Path) -> None:
    config = _config(tmp_path, '[server]\nport = 9001\nhost = "0.0.0.0"\n')
    environ = {"CALLKERNEL_SERVER_PORT": "9002", "CALLKERNEL_SERVER_HOST": "::1",
               "CALLKERNEL_SERVER_MAX_BODY_BYTES": "4096"}
    settings = resolve({"port": "9000", "host": None}, environ, config)
    assert settings.port == 9000  # the flag
    assert settings.host == "0.0.0.0"  # the file, over the variable
    assert settings.max_body_bytes == 4096  # only the variable has it
    assert settings.log_format == "json"  # nobody has it: the default


def test_config_file_named_by_the_environment_is_read(tmp_path: Path) -> None:
    config = _config(tmp_path, '[server]\nlog_format = "text"\n')
    assert resolve(NO_FLAGS, {CONFIG_VARIABLE: str(config)}).log_format == "text"


def test_config_flag_wins_over_the_config_variable(tmp_path: Path) -> None:
    named = _config(tmp_path, "[server]\nport = 1111\n")
    other = tmp_path / "other.toml"
    other.write_text("[server]\nport = 2222\n")
    assert resolve(NO_FLAGS, {CONFIG_VARIABLE: str(other)}, named).port == 1111


def test_relative_data_dir_in_a_config_file_is_beside_the_file(tmp_path: Path) -> None:
    config = _config(tmp_path, '[server]\ndata_dir = "state"\n')
    assert resolve(NO_FLAGS, {}, config).data_dir == tmp_path / "state"
    # From a flag or a variable it stays relative to the working directory.
    assert resolve({"data_dir": "state"}, {}).data_dir == Path("state")
    assert resolve(NO_FLAGS, {"CALLKERNEL_SERVER_DATA_DIR": "s2"}).data_dir == Path("s2")


@pytest.mark.parametrize(("flags", "environ", "message"), [
    ({"port": "http"}, {}, "--port http: not a number"),
    ({"port": "70000"}, {}, "--port 70000: a port is 0 to 65535"),
    ({}, {"CALLKERNEL_SERVER_LOG_FORMAT": "xml"}, "CALLKERNEL_SERVER_LOG_FORMAT=xml: must be"),
    ({}, {"CALLKERNEL_SERVER_MAX_BODY_BYTES": "0"}, "must be at least 1"),
    ({"shutdown_timeout": "-1"}, {}, "--shutdown-timeout -1: must be 0 or more"),
])
def test_bad_values_name_where_they_came_from(flags: dict[str, object | None],
                                              environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(flags, environ)


@pytest.mark.parametrize(("text", "message"), [
    ('[server]\nport = "8080"\n', r"port = '8080': must be a number"),
    ("[server]\nport = true\n", "must be a number"),
    ("[server]\nprot = 8080\n", "has no setting 'prot'"),
    ("port = 8080\n", "server settings go in a \\[server\\] table"),
    ("[server\n", "not TOML"),
])
def test_bad_config_files_are_refused_with_the_reason(tmp_path: Path, text: str,
                                                      message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve(NO_FLAGS, {}, _config(tmp_path, text))


def test_only_the_keys_asked_for_are_looked_up() -> None:
    environ = {"CALLKERNEL_SERVER_PORT": "nope", "CALLKERNEL_SERVER_DATA_DIR": "d"}
    settings = resolve(NO_FLAGS, environ, keys=("data_dir",))
    assert (settings.data_dir, settings.port) == (Path("d"), 8080)


def test_missing_config_file_is_an_error_not_an_empty_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file"):
        read_config_file(tmp_path / "absent.toml")


def test_every_setting_is_documented_with_its_flag_key_variable_and_default() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    for setting in SETTINGS:
        row = next((line for line in operations.splitlines()
                    if line.startswith(f"| `{setting.flag} {setting.metavar}`")), None)
        assert row is not None, f"docs/operations.md has no row for {setting.flag}"
        assert f"`{setting.key}`" in row and f"`{setting.variable}`" in row
        default = setting.default
        shown = str(default).removesuffix(".0") if isinstance(default, float) else str(default)
        assert shown in row, f"{setting.flag}: default {shown} not in its row"
    assert CONFIG_VARIABLE in operations
