"""Where a `ServerConfig` comes from: command-line flags, then GLASSCLOUD_* variables, then
the defaults of `ServerConfig` itself.

Each setting is read the same way: the flag's value if it was given, else GLASSCLOUD_<NAME>
(an empty variable, e.g. `GLASSCLOUD_PORT=` in a compose file, counts as unset), else the
default. A bad value raises `ConfigError` whose message names where the value came from
(`--port` or `GLASSCLOUD_PORT`), so the operator knows which one to fix. Nothing here knows
argparse: the command line hands over a `ServeFlags`, tests can pass any `environ`.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

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
    key_check_interval: str | None = None


def server_config_from(flags: ServeFlags, environ: Mapping[str, str] | None = None) -> ServerConfig:
    """The ServerConfig for these flags and environment (default: `os.environ`)."""
    source = _Sources(flags, os.environ if environ is None else environ)
    settings: dict[str, Any] = {"database": database_url_from(flags.database, source.environ)}
    for name, check in _SIMPLE_SETTINGS:
        raw, label = source.value(name)
        if raw is not None and (value := check(raw, label)) is not None:
            settings[name] = value
    settings["system_networks"] = _system_networks(source)
    settings.update(_asr_settings(source))
    settings.update(_translation_settings(source.environ))
    settings["secret"] = secret_from(source.environ)
    return ServerConfig(**settings)


def database_url_from(flag: str | None, environ: Mapping[str, str] | None = None) -> str:
    """--database, else GLASSCLOUD_DATABASE, else ./glasscloud.db; the scheme is checked."""
    url = flag if flag is not None else _variable(environ, "database")
    url = url or default_database_url()
    try:
        parse_database_url(url)
    except StoreError as exc:
        raise ConfigError(exc.message) from None
    return url


def secret_from(environ: Mapping[str, str] | None = None) -> str | None:
    """GLASSCLOUD_SECRET, or None (then the secret kept in the database signs tokens)."""
    return _variable(environ, "secret")


# -- reading ---------------------------------------------------------------------------------


def _variable(environ: Mapping[str, str] | None, name: str) -> str | None:
    """GLASSCLOUD_<NAME>, None when unset or empty."""
    source = os.environ if environ is None else environ
    return source.get("GLASSCLOUD_" + name.upper()) or None


@dataclass(frozen=True, slots=True)
class _Sources:
    flags: ServeFlags
    environ: Mapping[str, str]

    def value(self, name: str) -> tuple[str | None, str]:
        """The flag's value, else GLASSCLOUD_<NAME>; with a label naming where it came from."""
        value = getattr(self.flags, name)
        if value is not None:
            return value, "--" + name.replace("_", "-")
        return _variable(self.environ, name), "GLASSCLOUD_" + name.upper()


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
    ("key_check_interval", _seconds),
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


def _system_networks(source: _Sources) -> tuple[str, ...]:
    """--system-networks A B ..., else GLASSCLOUD_SYSTEM_NETWORKS=A,B, else the defaults."""
    if source.flags.system_networks is not None:
        return _networks(source.flags.system_networks, "--system-networks")
    if raw := _variable(source.environ, "system_networks"):
        items = [part for part in raw.split(",") if part.strip()]
        return _networks(items, "GLASSCLOUD_SYSTEM_NETWORKS")
    return DEFAULT_SYSTEM_NETWORKS


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
    if workers := _variable(source.environ, "asr_workers"):
        if not workers.isdigit():
            raise ConfigError("GLASSCLOUD_ASR_WORKERS must be a whole number (0 = one per core)")
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
