"""Where a `ServerConfig` comes from: command-line flags, then GLASSCLOUD_* variables, then
a TOML config file (`--config PATH` / `GLASSCLOUD_CONFIG`), then the defaults of
`ServerConfig` itself.

Each setting is read the same way: the flag's value if it was given, else GLASSCLOUD_<NAME>
(an empty variable, e.g. `GLASSCLOUD_PORT=` in a compose file, counts as unset), else the
file's `<name>` key, else the default. A bad value raises `ConfigError` whose message names
where the value came from (`--port`, `GLASSCLOUD_PORT` or `glasscloud.toml: port`), so the
operator knows which one to fix; a key the file does not know is an error naming it (a typo
must not silently leave a default). `resolve` also says where each setting came from, for
`glasscloud config`. Nothing here knows argparse: the command line hands over a
`ServeFlags`, tests can pass any `environ`.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url

from glasscloud.server.config import (
    DEFAULT_SYSTEM_NETWORKS,
    ServerConfig,
    asr_options_from_env,
    default_database_url,
)
from glasscloud.store.errors import StoreError
from glasscloud.store.urls import parse_database_url

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


class ConfigError(ValueError):
    """A setting's value is unacceptable; the message names the flag or variable."""


@dataclass(frozen=True, slots=True)
class ServeFlags:
    """The values `glasscloud serve` was given on its command line (None: not given)."""

    host: str | None = None
    port: str | None = None
    database: str | None = None
    public_url: str | None = None
    internal_url: str | None = None
    system_networks: Sequence[str] | None = None
    log_level: str | None = None
    asr_provider: str | None = None
    dashboard_package: str | None = None
    header_timeout: str | None = None
    keepalive_timeout: str | None = None
    max_pending_per_address: str | None = None
    fd_reserve: str | None = None
    webhook_concurrency: str | None = None
    key_check_interval: str | None = None
    metrics_token: str | None = None
    metrics_networks: Sequence[str] | None = None
    drain_delay: str | None = None
    redis: str | None = None
    node_id: str | None = None
    lease_seconds: str | None = None
    config: str | None = None


# Every setting the config file may hold (its keys), in the order `glasscloud config` prints.
FILE_SETTINGS = (
    "host",
    "port",
    "database",
    "public_url",
    "internal_url",
    "system_networks",
    "secret",
    "log_level",
    "dashboard_package",
    "asr_provider",
    "asr_workers",
    "header_timeout",
    "keepalive_timeout",
    "max_pending_per_address",
    "fd_reserve",
    "webhook_concurrency",
    "key_check_interval",
    "metrics_token",
    "metrics_networks",
    "drain_delay",
    "redis",
    "node_id",
    "lease_seconds",
)
SECRET_SETTINGS = frozenset({"secret", "metrics_token"})


@dataclass(frozen=True, slots=True)
class Resolved:
    """A configuration and, per setting, where it came from: `flag`, `env`, `file` or
    `default` (and the flag, variable or file key in `labels`)."""

    config: ServerConfig
    origins: dict[str, str]
    labels: dict[str, str]

    def describe(self) -> list[dict[str, Any]]:
        """One entry per setting for `glasscloud config`: secrets as present/absent only,
        the database URL's password hidden."""
        rows = []
        for name in FILE_SETTINGS:
            value: Any = getattr(self.config, name)
            if name in SECRET_SETTINGS:
                value = "set (hidden)" if value else "not set"
            elif name == "database":
                value = make_url(value).render_as_string(hide_password=True)
            elif name == "redis" and value:
                value = hide_password(value)
            elif value is None:
                value = "not set"
            elif isinstance(value, tuple):
                value = list(value)
            rows.append(
                {
                    "setting": name,
                    "value": value,
                    "source": self.origins.get(name, "default"),
                    "from": self.labels.get(name, ""),
                }
            )
        return rows


def server_config_from(flags: ServeFlags, environ: Mapping[str, str] | None = None) -> ServerConfig:
    """The ServerConfig for these flags, environment (default: `os.environ`) and the config
    file they name."""
    return resolve(flags, environ).config


def resolve(flags: ServeFlags, environ: Mapping[str, str] | None = None) -> Resolved:
    """The ServerConfig and where each of its settings came from."""
    environment = os.environ if environ is None else environ
    path = flags.config or _variable(environment, "config")
    source = _Sources(flags, environment, load_config_file(path) if path else {}, path or "")
    settings: dict[str, Any] = {"database": _database_url(source)}
    for name, check in _SIMPLE_SETTINGS:
        raw, label = source.value(name)
        if raw is not None and (value := check(raw, label)) is not None:
            settings[name] = value
        else:
            source.forget(name)
    settings["system_networks"] = _network_setting(source, "system_networks")
    if flags.metrics_networks is not None or source.has("metrics_networks"):
        settings["metrics_networks"] = _network_setting(source, "metrics_networks")
    settings.update(_asr_settings(source))
    settings.update(_translation_settings(source.environ))
    secret, _ = source.value("secret")
    settings["secret"] = secret
    settings["metrics_token"] = source.value("metrics_token")[0]
    return Resolved(ServerConfig(**settings), source.origins, source.labels)


def load_config_file(path: str) -> dict[str, Any]:
    """The settings of a TOML file, keys as setting names (`public_url`; `public-url` is
    read the same). ConfigError for a missing or unparsable file or an unknown key."""
    try:
        with open(path, "rb") as handle:
            raw = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"the config file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the config file {path} is not valid TOML: {exc}") from None
    settings: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("-", "_")
        if name not in FILE_SETTINGS:
            raise ConfigError(
                f"{path}: unknown setting '{key}' (known: {', '.join(FILE_SETTINGS)})"
            )
        settings[name] = value
    return settings


def database_url_from(flag: str | None, environ: Mapping[str, str] | None = None) -> str:
    """--database, else GLASSCLOUD_DATABASE, else the file of GLASSCLOUD_CONFIG, else
    ./glasscloud.db; the scheme is checked."""
    return _database_url(_Sources.for_commands(ServeFlags(database=flag), environ))


def secret_from(environ: Mapping[str, str] | None = None) -> str | None:
    """GLASSCLOUD_SECRET (or the `secret` of the GLASSCLOUD_CONFIG file), or None (then the
    secret kept in the database signs tokens)."""
    return _Sources.for_commands(ServeFlags(), environ).value("secret")[0]


def _database_url(source: _Sources) -> str:
    url, label = source.value("database")
    url = url or default_database_url()
    try:
        parse_database_url(url)
    except StoreError as exc:
        in_file = not label.startswith(("-", "GLASSCLOUD_"))
        raise ConfigError(f"{label}: {exc.message}" if in_file else exc.message) from None
    return url


# -- reading ---------------------------------------------------------------------------------


def _variable(environ: Mapping[str, str] | None, name: str) -> str | None:
    """GLASSCLOUD_<NAME>, None when unset or empty."""
    source = os.environ if environ is None else environ
    return source.get("GLASSCLOUD_" + name.upper()) or None


@dataclass(slots=True)
class _Sources:
    flags: ServeFlags
    environ: Mapping[str, str]
    file: Mapping[str, Any] = field(default_factory=dict)
    path: str = ""
    origins: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_commands(cls, flags: ServeFlags, environ: Mapping[str, str] | None) -> _Sources:
        """For commands other than serve: flags given, the environment, GLASSCLOUD_CONFIG."""
        environment = os.environ if environ is None else environ
        path = _variable(environment, "config")
        return cls(flags, environment, load_config_file(path) if path else {}, path or "")

    def has(self, name: str) -> bool:
        return name in self.file or _variable(self.environ, name) is not None

    def value(self, name: str) -> tuple[str | None, str]:
        """The flag's value, else GLASSCLOUD_<NAME>, else the file's key (as text); with a
        label naming where it came from (recorded in `origins` / `labels`)."""
        value = getattr(self.flags, name, None)
        if value is not None:
            return self._from("flag", name, "--" + name.replace("_", "-"), value)
        if (variable := _variable(self.environ, name)) is not None:
            return self._from("env", name, "GLASSCLOUD_" + name.upper(), variable)
        if name in self.file:
            raw = self.file[name]
            label = f"{self.path}: {name}"
            if isinstance(raw, bool) or not isinstance(raw, str | int | float):
                raise ConfigError(f"{label} must be a string or a number, not {raw!r}")
            return self._from("file", name, label, str(raw))
        return None, "GLASSCLOUD_" + name.upper()

    def _from(self, origin: str, name: str, label: str, value: Any) -> tuple[Any, str]:
        self.origins[name] = origin
        self.labels[name] = label
        return value, label

    def forget(self, name: str) -> None:
        """The value given means "the default" (an empty URL flag)."""
        self.origins.pop(name, None)
        self.labels.pop(name, None)


# -- checks: (raw value, label) -> the setting, or None to keep the default -------------------


def _non_empty(raw: str, label: str) -> str:
    if not raw.strip():
        raise ConfigError(f"{label} must not be empty")
    return raw.strip()


def port_number(raw: str, label: str) -> int:
    """A TCP port (1-65535) given as text; `label` names it in the error."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise ConfigError(f"{label} must be a whole number from 1 to 65535, not '{raw}'")
    return int(text)


def _http_url(raw: str, label: str) -> str | None:
    """An http(s) base URL; an empty flag (`--public-url ''`) leaves the default."""
    if not raw:
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{label} must start with http:// or https://, not '{raw}'")
    return raw.strip()


def _redis_url(raw: str, label: str) -> str | None:
    """redis://, rediss:// or unix:// (a Redis server); empty: no cluster mode."""
    if not raw.strip():
        return None
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("redis", "rediss", "unix") or not (parts.netloc or parts.path):
        raise ConfigError(
            f"{label} must be a Redis URL such as redis://127.0.0.1:6379/0, not "
            f"'{hide_password(raw)}'"
        )
    return raw.strip()


def hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


NODE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")


def _node_id(raw: str, label: str) -> str | None:
    if not raw.strip():
        return None
    if not NODE_ID.fullmatch(raw.strip()):
        raise ConfigError(
            f"{label} must be 1-63 letters, digits, '.', '_' or '-' (e.g. node-a), not '{raw}'"
        )
    return raw.strip()


def _lease_seconds(raw: str, label: str) -> float:
    value = _seconds(raw, label)
    if not 1.0 <= value <= 300.0:
        raise ConfigError(f"{label} must be from 1 to 300 seconds, not '{raw}'")
    return value


def _log_level(raw: str, label: str) -> str:
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{label} must be one of {', '.join(LOG_LEVELS)}, not '{raw}'")
    return level


def _seconds(raw: str, label: str) -> float:
    """A finite number of seconds >= 0 (0 turns a timeout off)."""
    try:
        value = float(raw.strip())
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ConfigError(f"{label} must be a number of seconds >= 0, not '{raw}'")
    return value


def _count(raw: str, label: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        raise ConfigError(f"{label} must be a whole number >= 0, not '{raw}'")
    return int(text)


def _positive_count(raw: str, label: str) -> int:
    text = raw.strip()
    if not (text.isascii() and text.isdigit() and int(text) > 0):
        raise ConfigError(f"{label} must be a whole number >= 1, not '{raw}'")
    return int(text)


_SIMPLE_SETTINGS: tuple[tuple[str, Callable[[str, str], Any]], ...] = (
    ("host", _non_empty),
    ("port", port_number),
    ("public_url", _http_url),
    ("internal_url", _http_url),
    ("log_level", _log_level),
    ("dashboard_package", _non_empty),
    # connection admission and the check for keys rotated by another process
    ("header_timeout", _seconds),
    ("keepalive_timeout", _seconds),
    ("max_pending_per_address", _count),
    ("fd_reserve", _count),
    ("webhook_concurrency", _positive_count),
    ("key_check_interval", _seconds),
    ("drain_delay", _seconds),
    # cluster mode (docs/cluster.md)
    ("redis", _redis_url),
    ("node_id", _node_id),
    ("lease_seconds", _lease_seconds),
)


def _networks(raw: Sequence[str], label: str) -> tuple[str, ...]:
    networks = []
    for item in raw:
        try:
            networks.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise ConfigError(
                f"{label}: '{item}' is not a network in CIDR form such as 10.0.0.0/8"
            ) from None
    if not networks:
        raise ConfigError(f"{label} must name at least one network")
    return tuple(networks)


def _network_setting(source: _Sources, name: str) -> tuple[str, ...]:
    """--<name> A B ..., else GLASSCLOUD_<NAME>=A,B, else the file's list (or "A,B"), else
    the default (system networks: loopback and private ranges; metrics networks: none)."""
    flag = getattr(source.flags, name)
    if flag is not None:
        label = source._from("flag", name, "--" + name.replace("_", "-"), flag)[1]
        return _networks(flag, label)
    if raw := _variable(source.environ, name):
        label = source._from("env", name, "GLASSCLOUD_" + name.upper(), raw)[1]
        return _networks([part for part in raw.split(",") if part.strip()], label)
    if name in source.file:
        value = source.file[name]
        label = source._from("file", name, f"{source.path}: {name}", value)[1]
        if isinstance(value, str):
            value = [part for part in value.split(",") if part.strip()]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f'{label} must be a list of networks such as ["10.0.0.0/8"]')
        return _networks(value, label)
    return DEFAULT_SYSTEM_NETWORKS if name == "system_networks" else ()


def _asr_settings(source: _Sources) -> dict[str, Any]:
    """--asr-provider / GLASSCLOUD_ASR_PROVIDER, its options, GLASSCLOUD_ASR_WORKERS."""
    from glasscloud.asr.registry import (  # imported late: entry points are slow to scan
        NO_SERVER_RECOGNITION,
        default_provider_name,
        provider_names,
    )

    provider, label = source.value("asr_provider")
    provider = (provider or default_provider_name()).strip()
    if provider not in provider_names() and provider not in NO_SERVER_RECOGNITION:
        raise ConfigError(
            f"{label}: unknown speech-recognition provider '{provider}' "
            f"(known: {', '.join(provider_names())})"
        )
    settings: dict[str, Any] = {
        "asr_provider": provider,
        "asr_options": tuple(sorted(asr_options_from_env(provider, source.environ).items())),
    }
    workers, label = source.value("asr_workers")
    if workers:
        if not workers.isdigit():
            raise ConfigError(f"{label} must be a whole number (0 = one per core)")
        settings["asr_workers"] = int(workers)
    return settings


def _translation_settings(environ: Mapping[str, str]) -> dict[str, Any]:
    """GLASSCLOUD_TRANSLATION_PROVIDER (a name or package.module:Class) and its options."""
    from glasscloud.translation.registry import provider_names, settings_from_env

    settings = settings_from_env(environ)
    name = settings["translation_provider"]
    if ":" not in name and name not in provider_names():
        raise ConfigError(
            f"GLASSCLOUD_TRANSLATION_PROVIDER: unknown translation provider '{name}' "
            f"(known: {', '.join(provider_names())}, or a package.module:Class path)"
        )
    return settings
