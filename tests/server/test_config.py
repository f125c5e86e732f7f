"""Server settings: flags over the config file over the environment over defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from interpreter.destinations import DestinationPolicy
from interpreter.server.config import (
    CONFIG_VARIABLE,
    ENVIRONMENT,
    SETTINGS,
    SIGNING_KEY_VARIABLE,
    ConfigError,
    ServerSettings,
    read_config_file,
    resolve,
)
from interpreter.signing import RequestSigner, generate_secret, parse_secret

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


# -- outbound requests: the destination policy and the signing key ----------

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
OLD_SECRET = "whsec_QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"


def test_destination_policy_is_strict_by_default() -> None:
    settings = resolve(NO_FLAGS, {})
    assert settings.destinations == DestinationPolicy(allow_loopback=False, allow_private=False,
                                                     set_by_server=True)
    assert settings.signer is None


def test_destination_switches_flag_beats_file_beats_variable_beats_the_cli_variable(
        tmp_path: Path) -> None:
    config = _config(tmp_path, "[server]\nallow_loopback = false\n"
                               "allow_private_networks = true\n")
    environ = {"CALLKERNEL_SERVER_ALLOW_LOOPBACK": "yes",
               "CALLKERNEL_SERVER_ALLOW_PRIVATE_NETWORKS": "no",
               "CALLKERNEL_ALLOW_LOOPBACK": "1", "CALLKERNEL_ALLOW_PRIVATE_NETWORKS": "1"}
    settings = resolve({"allow_loopback": "true"}, environ, config)
    assert (settings.allow_loopback, settings.allow_private_networks) == (True, True)
    assert resolve(NO_FLAGS, environ, config).allow_loopback is False  # the file
    assert resolve(NO_FLAGS, environ).allow_private_networks is False  # the server's variable
    # Nothing of the server's sets them: the variables `callkernel run` reads decide.
    fallback = resolve(NO_FLAGS, {"CALLKERNEL_ALLOW_LOOPBACK": "1"})
    assert fallback.destinations == DestinationPolicy(allow_loopback=True, set_by_server=True)


@pytest.mark.parametrize(("flags", "environ", "config", "message"), [
    ({"allow_loopback": "maybe"}, {}, None, "--allow-loopback maybe: must be true or false"),
    ({}, {"CALLKERNEL_ALLOW_PRIVATE_NETWORKS": "sure"}, None,
     "CALLKERNEL_ALLOW_PRIVATE_NETWORKS=sure: must be true or false"),
    ({}, {}, "[server]\nallow_loopback = 1\n", "allow_loopback = 1: must be true or false"),
    ({}, {}, '[server]\nallow_loopback = "yes"\n', "must be true or false"),
])
def test_bad_switches_name_where_they_came_from(
        tmp_path: Path, flags: dict[str, object | None], environ: dict[str, str],
        config: str | None, message: str) -> None:
    path = _config(tmp_path, config) if config is not None else None
    with pytest.raises(ConfigError, match=message):
        resolve(flags, environ, path)


def test_signing_key_file_holds_the_current_secret_then_older_ones(tmp_path: Path) -> None:
    key_file = tmp_path / "signing.key"
    key_file.write_text(f"# rotated 2025-01-01\n{SECRET}\n\n{OLD_SECRET}\n")
    settings = resolve({"signing_key_file": str(key_file)}, {})
    assert settings.signer == RequestSigner((parse_secret(SECRET), parse_secret(OLD_SECRET)))
    assert SECRET.removeprefix("whsec_") not in repr(settings)


def test_signing_key_file_flag_beats_file_beats_variable_beats_the_secret_variable(
        tmp_path: Path) -> None:
    flag_key, file_key, variable_key = (tmp_path / name for name in ("a.key", "b.key", "c.key"))
    flag_key.write_text(SECRET)
    file_key.write_text(OLD_SECRET)
    variable_key.write_text(generate_secret())
    config = _config(tmp_path, '[server]\nsigning_key_file = "b.key"\n')
    fresh = generate_secret()
    environ = {"CALLKERNEL_SERVER_SIGNING_KEY_FILE": str(variable_key),
               "CALLKERNEL_SERVER_SIGNING_KEY": fresh}

    def key(flags: dict[str, object | None], env: dict[str, str],
            path: Path | None = None) -> bytes:
        signer = resolve(flags, env, path).signer
        assert signer is not None
        return signer.keys[0]

    assert key({"signing_key_file": str(flag_key)}, environ, config) == parse_secret(SECRET)
    assert key(NO_FLAGS, environ, config) == parse_secret(OLD_SECRET)  # beside the file
    assert key(NO_FLAGS, environ) == parse_secret(variable_key.read_text())
    only_secret = {"CALLKERNEL_SERVER_SIGNING_KEY": f"{fresh} {SECRET}"}
    assert resolve(NO_FLAGS, only_secret).signer == \
        RequestSigner((parse_secret(fresh), parse_secret(SECRET)))


@pytest.mark.parametrize(("content", "message"), [
    (None, "signing key file .*absent.key: No such file"),
    ("# nothing yet\n", "no secret in it"),
    (f"{SECRET}\nwhsec_short\n", r"signing.key:2: a signing secret is whsec_<base64>"),
    ("whsec_QUJD\n", r"signing.key:1: a signing key is 24 to 64 bytes"),
])
def test_a_bad_key_file_stops_the_server_naming_the_line_not_the_secret(
        tmp_path: Path, content: str | None, message: str) -> None:
    key_file = tmp_path / ("absent.key" if content is None else "signing.key")
    if content is not None:
        key_file.write_text(content)
    with pytest.raises(ConfigError, match=message) as caught:
        resolve({"signing_key_file": str(key_file)}, {})
    assert "MfKQ9r8" not in str(caught.value)


def test_a_bad_secret_in_the_variable_is_refused_without_showing_it() -> None:
    with pytest.raises(ConfigError, match="CALLKERNEL_SERVER_SIGNING_KEY \\(secret 2\\)") \
            as caught:
        resolve(NO_FLAGS, {"CALLKERNEL_SERVER_SIGNING_KEY": f"{SECRET} hunter2hunter2"})
    assert "hunter2" not in str(caught.value)


def test_token_does_not_read_the_signing_key() -> None:
    # `token` asks for the data directory only: a broken key must not stop it.
    environ = {"CALLKERNEL_SERVER_SIGNING_KEY": "not-a-secret"}
    assert resolve(NO_FLAGS, environ, keys=("data_dir",)).signer is None


def test_the_signing_key_variable_is_documented_and_listed() -> None:
    operations = (ROOT / "docs" / "operations.md").read_text()
    assert SIGNING_KEY_VARIABLE in operations and SIGNING_KEY_VARIABLE in ENVIRONMENT


# -- the model of ai calls ----------------------------------------------------

def test_model_rules_are_read_at_start_and_exclude_openai(tmp_path: Path) -> None:
    rules = tmp_path / "desk.model.yaml"
    rules.write_text("rules:\n  - reply: Hello.\n")
    config = _config(tmp_path, '[server]\nmodel_rules = "desk.model.yaml"\n')
    assert resolve({}, {}, config).model_rules == rules  # relative to the config file
    with pytest.raises(ConfigError, match="choose one"):
        resolve({"model_rules": str(rules), "llm": "openai"}, {})
    rules.write_text("rules:\n  - reply: 3\n    when: {nonsense: true}\n")
    with pytest.raises(ConfigError,
                       match=r"desk\.model\.yaml are not valid:\n.*desk\.model\.yaml:"):
        resolve({"model_rules": str(rules)}, {})
    with pytest.raises(ConfigError, match="No such file"):
        resolve({"model_rules": str(tmp_path / "absent.yaml")}, {})
