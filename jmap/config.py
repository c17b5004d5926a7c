"""Server configuration: defaults, a TOML file, environment variables, command-line flags.

Later sources win: defaults < config file < FULMAR_* environment < command-line flags.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .roles import ALL_ROLES, RolesError, parse_roles, roles_problem
from .s3_url import parse_s3_url


class ConfigError(Exception):
    """A configuration value is missing or malformed."""


@dataclass(frozen=True, slots=True)
class Limits:
    """The core limits of RFC 8620 §2 plus the mail limits of RFC 8621 §1.3.1."""

    max_size_upload: int = 50_000_000
    max_concurrent_upload: int = 4
    max_size_request: int = 10_000_000
    max_concurrent_requests: int = 4
    max_calls_in_request: int = 16
    max_objects_in_get: int = 500
    max_objects_in_set: int = 500
    max_mailboxes_per_email: int = 100
    max_mailbox_depth: int = 20
    #: Mailbox/set create answers overQuota (RFC 8620 §5.3) past this many Mailboxes
    max_mailboxes_per_account: int = 10_000
    max_size_mailbox_name: int = 255
    max_size_attachments_per_email: int = 50_000_000
    #: the largest message Email/import, Email/set create and ``fulmar import`` accept
    max_size_email: int = 50_000_000
    #: the method responses of one request, in octets of JSON (then a ``limit`` error)
    max_size_response: int = 20_000_000
    #: what the result references of one request may expand to, in octets of JSON
    max_size_references: int = 10_000_000
    #: arrays and objects nested in a request; deeper is ``notJSON`` (RFC 8259 §9)
    max_json_depth: int = 128
    #: ``header`` conditions in one Email/query or SearchSnippet/get filter: each reads every
    #: header field of its name in the account (more is ``unsupportedFilter``)
    max_header_conditions: int = 16


@dataclass(frozen=True, slots=True)
class Config:
    data_dir: Path = Path("data")
    listen: str = "127.0.0.1:8080"
    base_url: str = ""
    tls_cert: str | None = None
    tls_key: str | None = None
    limits: Limits = field(default_factory=Limits)
    #: how long an unreferenced upload stays downloadable (RFC 8620 §6.1: at least an hour)
    upload_ttl_seconds: int = 24 * 3600
    #: how long the change log keeps entries (RFC 8620 §5.2 suggests 30 days)
    changes_retention_days: int = 30
    #: failed password logins allowed per login per window before answering 429
    auth_failures_allowed: int = 10
    auth_failure_window_seconds: int = 60
    #: failed logins allowed from one client address per window (many users may share one)
    auth_address_failures_allowed: int = 100
    #: proxies whose X-Forwarded-For / X-Forwarded-Proto are believed (addresses or CIDRs)
    trusted_proxies: tuple[str, ...] = ()
    access_log: bool = True
    #: worker processes for CPU-heavy work (MIME parsing, HTML to text, body values,
    #: snippets); 0: one per core
    worker_processes: int = 0
    #: wall-clock seconds one such task may run before its worker is killed (0: no limit)
    cpu_budget_seconds: float = 30.0
    log_level: str = "info"
    # -- connections and shutdown --
    #: a request line and headers must arrive within this many seconds (else 408 and closed);
    #: a new connection may stay silent this long too (0: no limit, as for the next two)
    header_timeout_seconds: float = 30.0
    #: a request body may pause this long between chunks before the connection is closed
    body_timeout_seconds: float = 60.0
    #: open connections (HTTP, WebSocket, EventSource) per process; more are answered 503
    max_connections: int = 1000
    #: downloads in flight per user; more are answered 429 with Retry-After
    max_concurrent_downloads: int = 8
    #: on SIGTERM requests in flight get this long to finish; then they are answered 503
    shutdown_grace_seconds: float = 10.0
    # -- metrics: with neither setting, /metrics is not served --
    #: HOST:PORT of a listener serving only the metrics (at any path)
    metrics_listen: str | None = None
    #: serve /metrics on the public listener to requests with ``Authorization: Bearer TOKEN``
    metrics_token: str | None = None
    # -- push (see docs/push.md) --
    #: Redis URL for the bus across nodes (redis://host:port/db); unset: in-process bus
    redis_url: str | None = None
    # -- blobs --
    #: blobs in S3/MinIO: http(s)://KEY:SECRET@host:port/bucket?region=… (key and secret
    #: percent-encoded; the bucket is created if missing); unset: files under DATA_DIR/blobs
    s3_url: str | None = None
    # -- production backends (see docs/scaling.md) --
    #: MongoDB URL of the data role and the mail index (mongodb://host/db); unset: SQLite
    mongodb_url: str | None = None
    #: WebSocket keep-alive: ping every N seconds, drop a peer silent for N more (0: off)
    ws_ping_interval: float = 20.0
    ws_ping_timeout: float = 20.0
    #: accept permessage-deflate: less traffic, about 35 KiB more memory per connection
    ws_per_message_deflate: bool = True
    #: how often an idle push connection's credentials are checked again
    push_reauth_seconds: float = 300.0
    #: how often watched accounts are checked for changes made where no bus reaches (another
    #: process on the same data without Redis, ``fulmar import``); 0 turns it off
    push_poll_seconds: float = 5.0
    #: open WebSocket + EventSource connections per user, per node
    push_max_connections: int = 100
    #: the range EventSource ``ping`` is clamped to (RFC 8620 §7.3: min <= 30, max >= 300)
    eventsource_ping_min: int = 5
    eventsource_ping_max: int = 300
    #: PushSubscription: lifetime cap, count and creation-rate limits per user
    push_subscription_max_days: int = 7
    push_max_subscriptions: int = 20
    push_max_creations_per_hour: int = 30
    #: delivery: retries (with exponential backoff from the base) and the TTL header
    push_retry_attempts: int = 5
    push_retry_base_seconds: float = 2.0
    push_ttl_seconds: int = 86400
    #: VAPID (RFC 8292): key file (default DATA_DIR/vapid.pem) and contact
    push_vapid_key_file: str | None = None
    push_vapid_subject: str = "mailto:postmaster@localhost"
    #: allow PushSubscription urls on loopback addresses, over http too (tests only!)
    push_allow_local_http: bool = False
    # -- content scanning of inbound mail: a configured scanner is required (451 when down) --
    #: rspamd's normal worker (http://127.0.0.1:11333); unset: no spam scanning
    rspamd_url: str | None = None
    rspamd_password: str | None = None
    #: clamd's INSTREAM socket, HOST:PORT or a Unix socket path; unset: no virus scanning
    clamd_address: str | None = None
    # -- SMTP: DNS and message authentication (see docs/architecture.md) --
    #: the SMTP host name (EHLO, Received, MX); empty: the host of base_url, else socket.getfqdn()
    smtp_hostname: str = ""
    #: seconds a DNS query may take before it counts as a temporary error
    dns_timeout_seconds: float = 5.0
    #: a zone file (dnspython's format, absolute names) answered before any DNS server
    dns_zone_file: str | None = None
    #: DNS servers to ask, as IP or IP:PORT ([v6]:PORT); empty: the system's (resolv.conf)
    dns_nameservers: tuple[str, ...] = ()
    #: ask no DNS server: only dns_zone_file answers, other names do not exist (tests,
    #: air-gapped sites)
    dns_offline: bool = False
    # -- SMTP inbound (smtp_gateway/, see docs/architecture.md) --
    #: HOST:PORT the SMTP listener of ``serve`` takes (production: port 25); empty: none
    smtp_listen: str = "127.0.0.1:2525"
    #: PEM certificate and key for STARTTLS (unset: tls_cert/tls_key, else a self-signed
    #: pair made once in the data directory)
    smtp_tls_cert: str | None = None
    smtp_tls_key: str | None = None
    #: open SMTP connections; more are answered 421 and closed
    smtp_max_connections: int = 1000
    #: a client silent this long (between commands, or within DATA) is answered 421 and closed
    smtp_timeout_seconds: float = 300.0
    #: recipients per message (RFC 5321 §4.5.3.1.8: at least 100); more get 452 4.5.3, and
    #: per EmailSubmission (tooManyRecipients)
    smtp_max_recipients: int = 100
    #: octets per line of message data, with CRLF (RFC 5321 §4.5.3.1.6: at least 1000)
    smtp_max_line_length: int = 1000
    #: bad commands (5xx syntax and sequence errors) before a session is closed with 421
    smtp_max_bad_commands: int = 20
    #: how long a delivery worker holds an inbound job before another node may take it
    smtp_delivery_lease_seconds: float = 60.0
    #: backpressure: while this many accepted messages wait for the local delivery worker,
    #: a new transaction waits at MAIL FROM (0: no bound)
    smtp_intake_backlog: int = 32
    #: the longest such a wait; then MAIL FROM is answered 451 4.3.2 (the client retries)
    smtp_intake_max_wait_seconds: float = 60.0
    #: HOST:PORT of the submission listener for mail clients (STARTTLS then AUTH;
    #: production: port 587); empty: none
    submission_listen: str = ""
    #: HOST:PORT of the submission listener with implicit TLS (RFC 8314; production: 465)
    submissions_listen: str = ""
    # -- SMTP out (see docs/architecture.md, "SMTP: outbound") --
    #: domain -> "host:port" routes, checked before MX (tests, relaying per domain)
    smtp_routes: tuple[tuple[str, str], ...] = ()
    #: smart host for everything not routed: smtp://user:pass@host:port (AUTH, STARTTLS)
    smtp_relay: str | None = None
    #: local address outgoing connections are made from ("" = the system's choice)
    smtp_source_address: str = ""
    #: CA certificates (PEM) for verified TLS: the relay, MTA-STS hosts ("" = the system's)
    smtp_tls_ca_file: str = ""
    #: EmailSubmission sendAt may lie at most this far ahead (maxDelayedSend; 0: no delay)
    smtp_max_delayed_send_seconds: int = 30 * 86400
    #: after this long undelivered a recipient is given up (RFC 5321 §4.5.4.1: 4-5 days)
    smtp_give_up_seconds: int = 5 * 86400
    #: a "delayed" DSN goes to the sender once a recipient has waited this long
    smtp_delayed_dsn_seconds: int = 4 * 3600
    #: EmailSubmissions an account may create per hour, on all nodes (rateLimit past it; 0: any)
    smtp_max_messages_per_hour: int = 1000
    #: a hard-bounced (5.1.x) address is not sent to again by that account for this long
    #: (0: no suppression list)
    smtp_suppress_days: int = 30
    #: connections open to one destination at a time, per node
    smtp_max_per_destination: int = 4
    #: seconds for each SMTP command of a delivery (connect, MAIL, RCPT, DATA)
    smtp_send_timeout_seconds: float = 120.0
    #: how long a worker holds an outbound job before another node may take it
    smtp_lease_seconds: float = 600.0
    #: how often an idle outbound worker looks for due jobs
    smtp_queue_poll_seconds: float = 1.0
    # -- search (see docs/architecture.md, "Search role") --
    #: Meilisearch's URL (http(s)://host:port); unset: search follows the data role
    #: (SQLite: FTS5 in the same database)
    meilisearch_url: str | None = None
    #: the API key sent to Meilisearch (a key allowed search, documents, settings and tasks)
    meilisearch_key: str | None = None
    #: the most Emails one text condition may match with a search engine; a search matching
    #: more answers unsupportedFilter (the embedded FTS5 has no such bound)
    meilisearch_max_hits: int = 10_000
    # -- nodes (see jmap/roles.py and docs/architecture.md, "Roles and nodes") --
    #: what ``serve`` runs on this node: api (JMAP over HTTP, push), smtp (the SMTP
    #: listeners), worker (queues, housekeeping, search feeding); default all three
    roles: tuple[str, ...] = ALL_ROLES

    @property
    def host(self) -> str:
        # "[::1]:8080" listens on ::1 (the brackets only separate the port)
        return self.listen.rpartition(":")[0].removeprefix("[").removesuffix("]") or "127.0.0.1"

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """Host and port of ``metrics_listen``, if set."""
        if not self.metrics_listen:
            return None
        host, _, port = self.metrics_listen.rpartition(":")
        return host.removeprefix("[").removesuffix("]"), int(port)

    @property
    def public_url(self) -> str:
        """The base of every URL in the Session, without a trailing slash."""
        if self.base_url:
            return self.base_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.listen}"

    @property
    def database_path(self) -> Path:
        return self.data_dir / "fulmar.db"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"


_ENV = {
    "FULMAR_DATA_DIR": "data_dir",
    "FULMAR_LISTEN": "listen",
    "FULMAR_BASE_URL": "base_url",
    "FULMAR_TLS_CERT": "tls_cert",
    "FULMAR_TLS_KEY": "tls_key",
    "FULMAR_LOG_LEVEL": "log_level",
    "FULMAR_REDIS_URL": "redis_url",
    "FULMAR_MONGODB_URL": "mongodb_url",
    "FULMAR_METRICS_TOKEN": "metrics_token",
    "FULMAR_RSPAMD_URL": "rspamd_url",
    "FULMAR_CLAMD_ADDRESS": "clamd_address",
    "FULMAR_DNS_ZONE_FILE": "dns_zone_file",
    "FULMAR_DNS_NAMESERVERS": "dns_nameservers",
    "FULMAR_SMTP_ROUTES": "smtp_routes",
    "FULMAR_SMTP_RELAY": "smtp_relay",
    "FULMAR_S3_URL": "s3_url",
    "FULMAR_MEILISEARCH_URL": "meilisearch_url",
    "FULMAR_MEILISEARCH_KEY": "meilisearch_key",
    "FULMAR_SUBMISSION_LISTEN": "submission_listen",
    "FULMAR_SUBMISSIONS_LISTEN": "submissions_listen",
    "FULMAR_ROLES": "roles",
}


_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


def _coerce(name: str, value: Any) -> Any:
    if name == "data_dir":
        return Path(value)
    if name in ("listen", "metrics_listen") or (
        name in ("smtp_listen", "submission_listen", "submissions_listen") and value != ""
    ):
        host, sep, port = str(value).rpartition(":")
        digits = port.isascii() and port.isdigit()
        if not sep or not host or not digits or not 0 < int(port) < 65536:
            raise ConfigError(f"{name} must be HOST:PORT, not {value!r}")
    if name == "smtp_max_recipients" and (not _is_int(value) or value < 100):
        raise ConfigError(f"smtp_max_recipients must be at least 100, not {value!r}")
    if name == "smtp_max_line_length" and (not _is_int(value) or value < 1000):
        raise ConfigError(f"smtp_max_line_length must be at least 1000, not {value!r}")
    if name in ("smtp_max_connections", "smtp_max_bad_commands") and (
        not _is_int(value) or value < 1
    ):
        raise ConfigError(f"{name} must be a positive integer, not {value!r}")
    if name == "trusted_proxies":
        return _proxy_networks(value)
    if name == "dns_nameservers":
        return _nameservers(value)
    if name == "dns_timeout_seconds" and not value:
        raise ConfigError("dns_timeout_seconds must be more than 0")
    if name == "smtp_routes":
        return _smtp_routes(value)
    if name == "roles":
        try:
            return parse_roles(value)
        except RolesError as exc:
            raise ConfigError(str(exc)) from None
    if name == "s3_url":
        try:
            parse_s3_url(value)
        except ValueError as exc:
            raise ConfigError(f"s3_url {exc}") from None
    if name == "meilisearch_url" and value and not str(value).startswith(("http://", "https://")):
        raise ConfigError(f"meilisearch_url must start with http:// or https://, not {value!r}")
    if name == "log_level" and str(value).lower() not in _LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {', '.join(_LOG_LEVELS)}, not {value!r}")
    return value


def _proxy_networks(value: Any) -> tuple[str, ...]:
    """A list of addresses or CIDRs (or one comma-separated string), each checked."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"trusted_proxies must be a list of addresses, not {value!r}")
    networks = []
    for item in (i.strip() for i in items):
        try:
            networks.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise ConfigError(f"trusted_proxies: {item!r} is not an address or CIDR") from None
    return tuple(networks)


def _nameservers(value: Any) -> tuple[str, ...]:
    """DNS servers: IP or IP:PORT ([v6]:PORT), as a list or one comma-separated string."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
        raise ConfigError(f"dns_nameservers must be a list of addresses, not {value!r}")
    servers = []
    for item in (i.strip() for i in items if i.strip()):
        host, port = item, "53"
        if item.startswith("["):
            host, _, port = item[1:].partition("]:")
        elif item.count(":") == 1:
            host, _, port = item.partition(":")
        try:
            ipaddress.ip_address(host)
            ok = port.isascii() and port.isdigit() and 0 < int(port) < 65536
        except ValueError:
            ok = False
        if not ok:
            raise ConfigError(f"dns_nameservers: {item!r} is not IP or IP:PORT")
        servers.append(item)
    return tuple(servers)


def _smtp_routes(value: Any) -> tuple[tuple[str, str], ...]:
    """A table domain -> "host:port", or "dom=host:port,dom2=host:port" from the environment."""
    if isinstance(value, str):
        pairs = [item.partition("=")[::2] for item in value.split(",") if item.strip()]
    elif isinstance(value, dict):
        pairs = list(value.items())
    elif isinstance(value, list | tuple):  # ["dom=host:port", ...] or [[dom, host:port], ...]
        pairs = [i.partition("=")[::2] if isinstance(i, str) else tuple(i) for i in value]
        if not all(len(p) == 2 for p in pairs):
            raise ConfigError(f"smtp_routes must be a table of domain = host:port, not {value!r}")
    else:
        raise ConfigError(f"smtp_routes must be a table of domain = host:port, not {value!r}")
    routes = []
    for domain, target in pairs:
        domain = str(domain).strip().lower().rstrip(".")
        host, sep, port = str(target).strip().rpartition(":")
        if not domain or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"smtp_routes: {domain}={target} is not domain=host:port")
        routes.append((domain, f"{host}:{port}"))
    return tuple(routes)


def load_config(
    config_file: str | os.PathLike[str] | None = None,
    environ: dict[str, str] | None = None,
    **overrides: Any,
) -> Config:
    """Build the configuration from the file, the environment and explicit overrides."""
    environ = dict(os.environ if environ is None else environ)
    values: dict[str, Any] = {}
    config_file = config_file or environ.get("FULMAR_CONFIG")
    if config_file:
        try:
            with open(config_file, "rb") as handle:
                raw = tomllib.load(handle)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from exc
        values.update(_from_file(raw))
    for env_name, attr in _ENV.items():
        if environ.get(env_name):
            values[attr] = environ[env_name]
    if "FULMAR_SMTP_LISTEN" in environ:  # set but empty: no SMTP listener
        values["smtp_listen"] = environ["FULMAR_SMTP_LISTEN"]
    if "FULMAR_ROLES" in environ:  # set but empty: an error, not the default
        values["roles"] = environ["FULMAR_ROLES"]
    values.update({k: v for k, v in overrides.items() if v is not None})
    values = {k: _coerce(k, v) for k, v in values.items()}
    return replace(Config(), **values)


def _from_file(raw: dict[str, Any]) -> dict[str, Any]:
    known = {f.name for f in fields(Config)}
    limit_names = {f.name for f in fields(Limits)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "limits":
            if not isinstance(value, dict) or set(value) - limit_names:
                unknown = sorted(set(value) - limit_names) if isinstance(value, dict) else value
                raise ConfigError(f"unknown limits in config file: {unknown}")
            for name, limit in value.items():
                if not _is_int(limit) or limit < 1:
                    raise ConfigError(f"limits.{name} must be a positive integer, not {limit!r}")
            values["limits"] = replace(Limits(), **value)
        elif key in known:
            _check_type(key, value)
            values[key] = value
        else:
            raise ConfigError(f"unknown setting in config file: {key}")
    return values


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_type(key: str, value: Any) -> None:
    """A config-file value must have the type of the setting's default."""
    default = getattr(Config(), key)
    if isinstance(default, tuple):
        return  # lists and tables: checked item by item by _coerce
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = _is_int(value) and value >= 0
        if not ok:
            raise ConfigError(f"{key} must be a non-negative integer, not {value!r}")
    elif isinstance(default, float):
        ok = (_is_int(value) or isinstance(value, float)) and value >= 0
        if not ok:
            raise ConfigError(f"{key} must be a non-negative number, not {value!r}")
    else:  # strings, paths, optional paths
        ok = isinstance(value, str)
    if not ok:
        kind = "true or false" if isinstance(default, bool) else "a string"
        raise ConfigError(f"{key} must be {kind}, not {value!r}")


#: settings whose values ``_coerce`` checks beyond their type
_CHECKED_VALUES = (
    "listen",
    "log_level",
    "dns_nameservers",
    "dns_timeout_seconds",
    "smtp_routes",
    "smtp_listen",
    "submission_listen",
    "submissions_listen",
    "smtp_max_recipients",
    "smtp_max_line_length",
    "smtp_max_connections",
    "smtp_max_bad_commands",
    "s3_url",
    "roles",
)
_URL_SCHEMES = {
    "base_url": ("http://", "https://"),
    "redis_url": ("redis://", "rediss://", "unix://"),
    "rspamd_url": ("http://", "https://"),
    "smtp_relay": ("smtp://", "smtps://"),
    "mongodb_url": ("mongodb://", "mongodb+srv://"),
    "meilisearch_url": ("http://", "https://"),
}


def check_file(config_file: str | os.PathLike[str]) -> tuple[Config, list[str]]:
    """Validate a config file alone (not the environment) for ``fulmar config check``.

    Returns the configuration it gives and warnings (legal, but likely a mistake); raises
    ConfigError with every problem found, one a line, rather than stopping at the first.
    """
    try:
        with open(config_file, "rb") as handle:
            raw = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {config_file}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {config_file} is not valid TOML: {exc}") from exc
    problems: list[str] = []
    for key, value in raw.items():
        if key == "limits" and isinstance(value, dict):
            parts = [{key: {name: limit}} for name, limit in value.items()]
        else:
            parts = [{key: value}]
        for part in parts:
            try:
                _from_file(part)
                if key in _CHECKED_VALUES:
                    _coerce(key, value)
            except ConfigError as exc:
                problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    config = replace(Config(), **{k: _coerce(k, v) for k, v in _from_file(raw).items()})
    problems += _value_problems(config)
    if problems:
        raise ConfigError("\n".join(problems))
    warnings = []
    if config.upload_ttl_seconds < 3600:
        warnings.append("upload_ttl_seconds is under an hour, the least RFC 8620 §6.1 allows")
    if config.push_allow_local_http:
        warnings.append("push_allow_local_http is for tests only: it allows local push URLs")
    return config, warnings


def _value_problems(config: Config) -> list[str]:
    """What ``serve`` would fail on (or serve wrongly) among well-typed values; relative
    file names are from the current folder, as for ``serve``."""
    problems = []
    if bool(config.tls_cert) != bool(config.tls_key):
        problems.append("tls_cert and tls_key go together")
    if bool(config.smtp_tls_cert) != bool(config.smtp_tls_key):
        problems.append("smtp_tls_cert and smtp_tls_key go together")
    for name in ("tls_cert", "tls_key", "smtp_tls_cert", "smtp_tls_key"):
        path = getattr(config, name)
        if path and not Path(path).is_file():
            problems.append(f"{name}: no such file: {path}")
    for name, schemes in _URL_SCHEMES.items():
        value = getattr(config, name)
        if value and not value.startswith(schemes):
            problems.append(f"{name} must start with {' or '.join(schemes)}, not {value!r}")
    if config.eventsource_ping_min > config.eventsource_ping_max:
        problems.append("eventsource_ping_min is larger than eventsource_ping_max")
    if problem := roles_problem(config):
        problems.append(problem)
    return problems
