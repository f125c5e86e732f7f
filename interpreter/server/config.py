"""The server's settings: from flags, a config file and the environment.

Each setting is looked up in that order and the first place that has it wins:
a command-line flag, then the `[server]` table of a TOML config file (named
by `--config` or CALLKERNEL_SERVER_CONFIG), then a CALLKERNEL_SERVER_*
variable, then its default. `SETTINGS` is the one table of them all: the CLI
makes its flags from it, and docs/operations.md lists every row (a test
checks that).

A relative `data_dir`, `signing_key_file` or `model_rules` in a config file
is relative to the file's folder (the file travels with its deployment);
from a flag or a variable, relative to the working directory.

Outbound requests: `allow_loopback` and `allow_private_networks` are the
server's destination policy (interpreter/destinations.py); where none of the
three places sets one, CALLKERNEL_ALLOW_LOOPBACK and
CALLKERNEL_ALLOW_PRIVATE_NETWORKS decide, as they do for the CLI. The signing
key (interpreter/signing.py) comes from a key file, named like any setting,
else from CALLKERNEL_SERVER_SIGNING_KEY itself: a secret never has to be on
a command line. It is read here, so a bad key stops the server before it
starts.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interpreter.destinations import DestinationPolicy
from interpreter.errors import DocumentError
from interpreter.providers.llm.openai_config import openai_problem
from interpreter.providers.llm.scripted import ScriptedProvider, load_rules
from interpreter.signing import RequestSigner, parse_secret

CONFIG_VARIABLE = "CALLKERNEL_SERVER_CONFIG"
SIGNING_KEY_VARIABLE = "CALLKERNEL_SERVER_SIGNING_KEY"
# The variables the CLI reads for the same switches; the server's fallback.
DESTINATION_FALLBACKS = {"allow_loopback": "CALLKERNEL_ALLOW_LOOPBACK",
                         "allow_private_networks": "CALLKERNEL_ALLOW_PRIVATE_NETWORKS"}
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off", "")
LLM_KINDS = ("none", "openai")
LOG_FORMATS = ("json", "text")
STORE_FILE = "callkernel.sqlite3"  # inside the data directory


class ConfigError(Exception):
    """A setting that cannot be used, or a config file that cannot be read;
    the message names where the value came from."""


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"  # loopback: exposing the server is a decision, not a default
    port: int = 8080  # 0 picks a free port (the log's "listening" line says which)
    data_dir: Path = Path("callkernel-data")
    max_body_bytes: int = 1_048_576  # the largest request body accepted (413 beyond)
    log_format: str = "json"  # one JSON object a line, or "text" for people
    shutdown_timeout: float = 10.0  # seconds in-flight requests get after SIGTERM/SIGINT
    drain_timeout: float = 30.0  # seconds live calls get to end on their own after it
    llm: str = "none"  # the model of ai calls started without rules: none or openai
    # Scripted model rules (docs/ai.md) for those calls instead: demos, trying flows
    model_rules: Path | None = None
    max_live_calls: int = 1000  # calls live at once; one more is refused (503)
    allow_loopback: bool = False  # outbound requests to 127.0.0.0/8 and ::1
    allow_private_networks: bool = False  # ... to 10/8, 172.16/12, 192.168/16, ...
    signing_key_file: Path | None = None  # whsec_ secrets, one a line, the current first
    signer: RequestSigner | None = None  # from the key file or the variable; None: unsigned

    @property
    def store_path(self) -> Path:
        return self.data_dir / STORE_FILE

    @property
    def destinations(self) -> DestinationPolicy:
        return DestinationPolicy(allow_loopback=self.allow_loopback,
                                 allow_private=self.allow_private_networks,
                                 set_by_server=True)


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError("a port is 0 to 65535")
    return port


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not value >= 0:  # also refuses nan
        raise ValueError("must be 0 or more")
    return value


def _log_format(text: str) -> str:
    if text not in LOG_FORMATS:
        raise ValueError(f"must be one of {', '.join(LOG_FORMATS)}")
    return text


def _llm(text: str) -> str:
    if text not in LLM_KINDS:
        raise ValueError(f"must be one of {', '.join(LLM_KINDS)}")
    return text


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered not in _TRUE + _FALSE:
        raise ValueError("must be true or false (also yes/no, on/off, 1/0)")
    return lowered in _TRUE


def _host(text: str) -> str:
    if not text:
        raise ValueError("must not be empty")
    return text


@dataclass(frozen=True, slots=True)
class Setting:
    """One row of the table: a field of ServerSettings and its three names."""

    key: str  # the ServerSettings field, and the config file key
    flag: str
    variable: str
    metavar: str
    parse: Callable[[str], Any]  # text (a flag, a variable, a TOML value) to the value
    help: str
    toml_types: tuple[type, ...] = (str,)  # what a config file may give

    @property
    def default(self) -> object:
        return getattr(ServerSettings(), self.key)


SETTINGS = (
    Setting("host", "--host", "CALLKERNEL_SERVER_HOST", "HOST", _host,
            "the address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)"),
    Setting("port", "--port", "CALLKERNEL_SERVER_PORT", "PORT", _port,
            "the TCP port (default 8080; 0 picks a free one)", (int,)),
    Setting("data_dir", "--data-dir", "CALLKERNEL_SERVER_DATA_DIR", "DIR", Path,
            "where the store lives (default ./callkernel-data; created if missing)"),
    Setting("max_body_bytes", "--max-body-bytes", "CALLKERNEL_SERVER_MAX_BODY_BYTES", "N",
            _positive_int, "the largest request body accepted, in bytes (default 1048576)",
            (int,)),
    Setting("log_format", "--log-format", "CALLKERNEL_SERVER_LOG_FORMAT", "FORMAT",
            _log_format, "json (default: one object a line) or text"),
    Setting("shutdown_timeout", "--shutdown-timeout", "CALLKERNEL_SERVER_SHUTDOWN_TIMEOUT",
            "SECONDS", _non_negative_float,
            "how long in-flight requests may run after SIGTERM or SIGINT (default 10)",
            (int, float)),
    Setting("llm", "--llm", "CALLKERNEL_SERVER_LLM", "KIND", _llm,
            "the model of ai calls started without `model` rules: none (default: such a "
            "call is refused) or openai (the OpenAI-compatible server the CALLKERNEL_LLM_* "
            "variables name)"),
    Setting("model_rules", "--model-rules", "CALLKERNEL_SERVER_MODEL_RULES", "FILE", Path,
            "scripted model rules (docs/ai.md) that answer ai calls started without their "
            "own: for demos and trying flows without a model server (not with --llm openai)"),
    Setting("max_live_calls", "--max-live-calls", "CALLKERNEL_SERVER_MAX_LIVE_CALLS", "N",
            _positive_int, "calls live at once; a call over it is refused with 503 "
            "too-many-calls (default 1000)", (int,)),
    Setting("drain_timeout", "--drain-timeout", "CALLKERNEL_SERVER_DRAIN_TIMEOUT",
            "SECONDS", _non_negative_float,
            "after SIGTERM or SIGINT, how long live calls may go on before they are ended "
            "with a spoken goodbye (default 30)", (int, float)),
    Setting("allow_loopback", "--allow-loopback", "CALLKERNEL_SERVER_ALLOW_LOOPBACK", "BOOL",
            _bool, "let calls' outbound requests reach loopback addresses (default false, "
            "or CALLKERNEL_ALLOW_LOOPBACK)", (bool,)),
    Setting("allow_private_networks", "--allow-private-networks",
            "CALLKERNEL_SERVER_ALLOW_PRIVATE_NETWORKS", "BOOL", _bool,
            "let calls' outbound requests reach private networks (default false, or "
            "CALLKERNEL_ALLOW_PRIVATE_NETWORKS)", (bool,)),
    Setting("signing_key_file", "--signing-key-file", "CALLKERNEL_SERVER_SIGNING_KEY_FILE",
            "FILE", Path, "a file of whsec_ signing secrets, one a line, the current first: "
            f"outbound requests are signed (else {SIGNING_KEY_VARIABLE}; default unsigned)"),
)

# Every variable the server reads, with what it does (cli.py's --help shows these).
ENVIRONMENT = {CONFIG_VARIABLE: "a TOML config file (its [server] table); --config wins",
               **{setting.variable: setting.help for setting in SETTINGS},
               SIGNING_KEY_VARIABLE: "the signing secret itself (whsec_...; several "
               "space-separated, the current first), when no key file is named"}


def read_config_file(path: Path) -> dict[str, object]:
    """The `[server]` table of a TOML file (ConfigError if unreadable, not
    TOML, or holding keys no setting has: a typo must not pass silently)."""
    try:
        with path.open("rb") as file:
            document = tomllib.load(file)
    except OSError as error:
        raise ConfigError(f"{path}: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not TOML: {error}") from None
    unknown_tables = sorted(set(document) - {"server"})
    if unknown_tables:
        raise ConfigError(f"{path}: unknown table or key {unknown_tables[0]!r} "
                          "(server settings go in a [server] table)")
    table = document.get("server", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: server must be a table ([server])")
    known = {setting.key for setting in SETTINGS}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{path}: [server] has no setting {unknown[0]!r} "
                          f"(known: {', '.join(sorted(known))})")
    return dict(table)


def resolve(flags: Mapping[str, object | None], environ: Mapping[str, str],
            config_path: Path | None = None,
            keys: Collection[str] | None = None) -> ServerSettings:
    """The settings from `flags` (a key's value, None when not given), the
    config file (`config_path`, else the one CALLKERNEL_SERVER_CONFIG names)
    and `environ`; ConfigError naming the source of a bad value. With `keys`,
    only those are looked up (the rest keep their defaults): `token` needs
    the data directory, and a bad port must not stop it."""
    if config_path is None and environ.get(CONFIG_VARIABLE):
        config_path = Path(environ[CONFIG_VARIABLE])
    from_file = read_config_file(config_path) if config_path is not None else {}
    values: dict[str, Any] = {}
    for setting in SETTINGS:
        if keys is not None and setting.key not in keys:
            continue
        flag = flags.get(setting.key)
        if flag is not None:
            values[setting.key] = _parsed(setting, str(flag), f"{setting.flag} {flag}")
        elif setting.key in from_file:
            assert config_path is not None
            values[setting.key] = _from_file(setting, from_file[setting.key], config_path)
        elif environ.get(setting.variable):
            text = environ[setting.variable]
            values[setting.key] = _parsed(setting, text, f"{setting.variable}={text}")
        elif environ.get(DESTINATION_FALLBACKS.get(setting.key, "")):
            variable = DESTINATION_FALLBACKS[setting.key]
            text = environ[variable]
            values[setting.key] = _parsed(setting, text, f"{variable}={text}")
    if keys is None or "signing_key_file" in keys:
        values["signer"] = _signer(values.get("signing_key_file"), environ)
    if values.get("model_rules") is not None:
        if values.get("llm") == "openai":
            raise ConfigError("--model-rules and --llm openai both give ai calls their "
                              "model: choose one")
        load_model_rules(values["model_rules"])  # a bad file stops the server before it starts
    if values.get("llm") == "openai":
        problem = openai_problem(environ)
        if problem is not None:
            raise ConfigError(problem.replace("--llm openai", "serve --llm openai"))
    return ServerSettings(**values)


def load_model_rules(path: Path) -> ScriptedProvider:
    """The scripted model in `path`; ConfigError saying where it is wrong."""
    try:
        return load_rules(path.read_bytes(), str(path))
    except OSError as error:
        raise ConfigError(f"model rules {path}: {error.strerror or error}") from None
    except DocumentError as error:
        found = "\n".join(d.render() for d in error.diagnostics)
        raise ConfigError(f"model rules {path} are not valid:\n{found}") from None


def _signer(key_file: Path | None, environ: Mapping[str, str]) -> RequestSigner | None:
    """The signer from the key file, else from the variable; None when neither
    is given. The messages name where a bad secret is, never the secret."""
    if key_file is not None:
        try:
            text = key_file.read_text()
        except OSError as error:
            raise ConfigError(f"signing key file {key_file}: "
                              f"{error.strerror or error}") from None
        lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)
                 if line.strip() and not line.lstrip().startswith("#")]
        if not lines:
            raise ConfigError(f"signing key file {key_file}: no secret in it")
        return RequestSigner(tuple(_secret(secret, f"{key_file}:{number}")
                                   for number, secret in lines))
    secrets = environ.get(SIGNING_KEY_VARIABLE, "").split()
    if not secrets:
        return None
    return RequestSigner(tuple(_secret(secret, f"{SIGNING_KEY_VARIABLE} (secret {index})")
                               for index, secret in enumerate(secrets, 1)))


def _secret(text: str, source: str) -> bytes:
    try:
        return parse_secret(text)
    except ValueError as error:
        raise ConfigError(f"{source}: {error}") from None


def _parsed(setting: Setting, text: str, source: str) -> Any:
    try:
        return setting.parse(text.strip())
    except ValueError as error:
        raise ConfigError(f"{source}: {_reason(str(error))}") from None


def _reason(message: str) -> str:
    # int("x") says "invalid literal for int() with base 10: 'x'": not for operators.
    return "not a number" if message.startswith(("invalid literal", "could not convert")) \
        else message


def _from_file(setting: Setting, value: object, path: Path) -> Any:
    source = f"{path}: [server] {setting.key} = {value!r}"
    # bool is an int in Python; `port = true` is a mistake all the same.
    if (isinstance(value, bool) and bool not in setting.toml_types) \
            or not isinstance(value, setting.toml_types):
        wanted = " or ".join(dict.fromkeys(_TOML_WORDS[kind] for kind in setting.toml_types))
        raise ConfigError(f"{source}: must be {wanted}")
    parsed = _parsed(setting, str(value), source)
    if setting.key in ("data_dir", "signing_key_file", "model_rules") \
            and not parsed.is_absolute():
        return path.parent / parsed
    return parsed


_TOML_WORDS = {int: "a number", float: "a number", str: "a string", bool: "true or false"}
