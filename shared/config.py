"""Configuration: environment variables and OpenFaaS secrets.

Everything a function needs to know about its deployment comes from here, read once
per process (functions are long-lived waitress processes, so a module-level cache is
both correct and the cheapest option).

Secrets follow OpenFaaS: one file per secret under ``/var/openfaas/secrets/``
(``SECRETS_DIR`` overrides the folder). When the file is missing, a local fallback
is used: the ``LOCAL_SECRETS_DIR`` folder that ``make up`` fills (``.local/secrets``)
and finally an environment variable ``SECRET_<NAME>``. Production sets neither, so a
missing secret there is an error, not a silent default.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import overload


class MissingSecret(RuntimeError):
    pass


# The terms of use (CGU) in force: the text of each version is
# ``frontend/templates/cgu/<version>.html`` (the front-end page ``/cgu/`` shows this
# one). A new text gets a new version here, and every aidant is asked to accept it
# again before acting on a mandate (``shared.cgu``). Not an environment variable:
# the version must be the text that ships with the code.
CGU_VERSION = "2026-11"


# With a default the value is always a string; without one, None means unset.
@overload
def _env(name: str) -> str | None: ...
@overload
def _env(name: str, default: str) -> str: ...
def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def _env_bool(name: str, default: bool) -> bool:
    value = _env(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_int(name: str, default: int) -> int:
    value = _env(name)
    return int(value) if value is not None else default


def _env_ms(name: str) -> int | None:
    """An ISO date or time (UTC when it names no zone) as epoch milliseconds."""
    value = _env(name)
    if value is None:
        return None
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return int(moment.timestamp() * 1000)


PRODUCTION = "production"
SANDBOX = "sandbox"  # the training sandbox ("bac à sable"): shared/sandbox/
PROFILES = (PRODUCTION, SANDBOX)
# What "production" is, for the sandbox's refusal to start against it: the table and
# the issuer of stack.yml's environment (tests/deploy/test_sandbox_stack.py checks
# that they are the same). A deployment may name more (PRODUCTION_TABLE_NAMES,
# PRODUCTION_ISSUERS, comma-separated), never fewer.
PRODUCTION_TABLE_NAMES = ("aidants-connect",)
PRODUCTION_ISSUERS = ("https://aidantsconnect.beta.gouv.fr",)


def _env_list(name: str, always: tuple[str, ...]) -> tuple[str, ...]:
    extra = [v.strip().rstrip("/") for v in (_env(name) or "").split(",") if v.strip()]
    return tuple(dict.fromkeys([*always, *extra]))


@dataclass(frozen=True)
class Settings:
    # Which service this is: production, or the training sandbox (PROFILE=sandbox),
    # a second stack of the same functions with its own table, issuer, keys and
    # FranceConnect stand-in, fictitious data that expire, and no e-mail leaving it.
    profile: str
    production_table_names: tuple[str, ...]
    production_issuers: tuple[str, ...]
    # Sandbox: a trainee's account, structure and everything in it expire this long
    # after sign-up; sign-ups are public, so limited per address per day and in all
    # per hour.
    sandbox_trainee_days: int
    sandbox_signups_per_email_per_day: int
    sandbox_signups_per_hour: int
    # Store
    table_name: str
    dynamodb_host: str | None  # None means AWS itself
    aws_region: str
    store_timeout_seconds: float
    # A request's own time: no write starts after it, and a write whose outcome is
    # unknown is sent again within it (store/writes.py). Below the watchdog's and
    # the gateway's timeouts, so the function answers before anyone gives up on it.
    request_budget_seconds: float
    # Public URLs
    issuer: str  # our OIDC issuer, also the public base URL of the service
    frontend_url: str  # where the static front-end is served (same origin by default)
    gateway_url: str  # internal URL used for /async-function calls
    # Login
    login_link_enabled: bool
    login_link_ttl_seconds: int
    session_ttl_seconds: int  # absolute lifetime
    session_idle_seconds: int  # inactivity timeout
    otp_max_failures: int
    otp_lockout_seconds: int
    otp_valid_window: int  # accepted clock drift, in TOTP steps
    # Mail
    smtp_host: str
    smtp_port: int
    smtp_starttls: bool
    smtp_ssl: bool
    smtp_user: str | None
    mail_from: str
    # Outbox delivery (shared.notifications). A scheduled run drains the backlog until
    # it is empty or this budget is spent: it stays below notify's watchdog
    # exec_timeout (16 s in stack.yml), with room for the last SMTP exchange.
    notify_run_seconds: float
    # A kick (POST /async-function/notify) that the gateway refuses is tried again
    # within this budget, in all; the request that wrote the item waits no longer.
    notify_kick_budget_seconds: float
    # notify keeps an SMTP connection open this long after an async delivery, for the
    # next one (a burst of items then shares it); 0 opens one per item.
    notify_smtp_keep_seconds: float
    # A failed attempt is retried after outbox_retry_base_seconds, doubled each time
    # up to outbox_retry_max_seconds; after outbox_max_attempts the item is failed.
    # 12 attempts, 30 s doubling to at most 1 h: about six hours of SMTP outage.
    outbox_max_attempts: int
    outbox_retry_base_seconds: int
    outbox_retry_max_seconds: int
    # A delivery's lease on its item: longer than one SMTP exchange (timeout 10 s).
    outbox_lease_seconds: int
    # Expiry reminders: mandates ending within this many Paris days, written from
    # this hour (Paris time) on.
    reminder_window_days: int
    reminder_hour: int
    # Journal seals (shared.seals). The scheduled run seals up to the last window
    # boundary older than the grace (longer than any request + index lag + clock
    # skew), and stops starting seals after its run budget. The first seal starts at
    # journal_seal_since_ms, otherwise lookback days before its end, at midnight UTC.
    journal_seal_grace_seconds: int
    journal_seal_window_seconds: int
    journal_seal_run_seconds: int
    journal_seal_since_ms: int | None
    journal_seal_lookback_days: int
    # FranceConnect (we are its service provider when creating mandates)
    franceconnect_url: str
    franceconnect_client_id: str
    # HTTP limits
    max_body_bytes: int
    # Habilitation requests are public and e-mail the address typed: per address per
    # day, and in all per hour (a bound on what spraying addresses can send).
    habilitation_requests_per_email_per_day: int
    habilitation_requests_per_hour: int
    # Each valid /oidc/authorize stores a transaction (deleted by TTL after 10 min)
    # for an anonymous caller: per client and minute, a bound on what a flood can
    # make us store. Far above FranceConnect's real rate; past it, the client gets
    # temporarily_unavailable (RFC 6749 §4.1.2.1).
    oidc_authorize_per_client_per_minute: int
    # A draft that is never submitted expires this long after its last change (the
    # person filing it was never accountable for anything yet); a submitted request
    # is kept. The requester's messages on a submitted request, per request per day.
    habilitation_draft_ttl_days: int
    habilitation_messages_per_request_per_day: int
    # Public statistics (shared.stats): how long a process keeps the figures it read
    # (0: read at every request), and how long a scheduled expiry run may spend.
    stats_cache_seconds: float
    stats_expiry_run_seconds: float
    # Invitations of a person to a structure (shared.invitations): how long one stays
    # valid, and how many a structure may send a day (each e-mails an address typed
    # by its référent).
    invitation_ttl_days: int
    invitations_per_structure_per_day: int
    # Diagnostics: X-Store-Calls / Server-Timing on every answer (benchmarks, local
    # runs). Off in production: call counts and timings would tell an attacker which
    # branch a request took (e.g. whether an e-mail belongs to an aidant).
    expose_diagnostics: bool
    # Benchmarks only: every DynamoDB call asks for its ConsumedCapacity, summed per
    # request (X-Store-Units with the diagnostics, and the access line), so that read
    # and write units per flow are measured, not guessed (bench capacity).
    measure_store_capacity: bool
    # This function's deployed name (stack.yml), for its log lines.
    function_name: str | None

    @property
    def secure_cookies(self) -> bool:
        return self.issuer.startswith("https://")

    @property
    def sandbox(self) -> bool:
        return self.profile == SANDBOX

    @property
    def profile_problem(self) -> str | None:
        """Why this process must not serve, or None. A sandbox pointed at the
        production table or issuer would show trainees real usagers and let them act
        for them (and write fictitious mandates, with a TTL, into the real table): it
        refuses every request instead (shared.http answers 503 and logs this). It must
        also play FranceConnect with its own stand-in, never the real one."""
        if self.profile not in PROFILES:
            return f"PROFILE={self.profile!r} is neither {PRODUCTION!r} nor {SANDBOX!r}"
        if not self.sandbox:
            return None
        if self.table_name in self.production_table_names:
            return f"the sandbox's TABLE_NAME {self.table_name!r} is a production table"
        if self.issuer in self.production_issuers or self.frontend_url in self.production_issuers:
            return f"the sandbox's ISSUER {self.issuer!r} is a production issuer"
        if not self.franceconnect_url.startswith(self.issuer + "/"):
            return (
                f"the sandbox's FRANCECONNECT_URL {self.franceconnect_url!r} is not its own stand-in "
                f"(under {self.issuer}/): the sandbox never calls real FranceConnect"
            )
        return None


@functools.lru_cache(maxsize=1)
def settings() -> Settings:
    issuer = _env("ISSUER", "http://127.0.0.1:8080").rstrip("/")
    profile = (_env("PROFILE", PRODUCTION) or PRODUCTION).strip().lower()
    return Settings(
        profile=profile,
        production_table_names=_env_list("PRODUCTION_TABLE_NAMES", PRODUCTION_TABLE_NAMES),
        production_issuers=_env_list("PRODUCTION_ISSUERS", PRODUCTION_ISSUERS),
        sandbox_trainee_days=_env_int("SANDBOX_TRAINEE_DAYS", 30),
        sandbox_signups_per_email_per_day=_env_int("SANDBOX_SIGNUPS_PER_EMAIL_PER_DAY", 3),
        sandbox_signups_per_hour=_env_int("SANDBOX_SIGNUPS_PER_HOUR", 120),
        table_name=_env("TABLE_NAME", "aidants-connect"),
        dynamodb_host=_env("DYNAMODB_HOST"),
        aws_region=_env("AWS_REGION", _env("AWS_DEFAULT_REGION", "eu-west-3")),
        store_timeout_seconds=float(_env("STORE_TIMEOUT_SECONDS", "2")),
        request_budget_seconds=float(_env("REQUEST_BUDGET_SECONDS", "8")),
        issuer=issuer,
        frontend_url=_env("FRONTEND_URL", issuer).rstrip("/"),
        gateway_url=_env("GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/"),
        # The sandbox sends no e-mail: a right code opens the session at once.
        login_link_enabled=_env_bool("LOGIN_LINK_ENABLED", True) and profile != SANDBOX,
        login_link_ttl_seconds=_env_int("LOGIN_LINK_TTL_SECONDS", 300),
        session_ttl_seconds=_env_int("SESSION_TTL_SECONDS", 12 * 3600),
        session_idle_seconds=_env_int("SESSION_IDLE_SECONDS", 30 * 60),
        otp_max_failures=_env_int("OTP_MAX_FAILURES", 5),
        otp_lockout_seconds=_env_int("OTP_LOCKOUT_SECONDS", 15 * 60),
        otp_valid_window=_env_int("OTP_VALID_WINDOW", 1),
        smtp_host=_env("SMTP_HOST", "127.0.0.1"),
        smtp_port=_env_int("SMTP_PORT", 1025),
        smtp_starttls=_env_bool("SMTP_STARTTLS", False),
        smtp_ssl=_env_bool("SMTP_SSL", False),
        smtp_user=_env("SMTP_USER"),
        mail_from=_env("MAIL_FROM", "Aidants Connect <nepasrepondre@aidantsconnect.beta.gouv.fr>"),
        notify_run_seconds=float(_env("NOTIFY_RUN_SECONDS", "10")),
        notify_kick_budget_seconds=float(_env("NOTIFY_KICK_BUDGET_SECONDS", "1")),
        notify_smtp_keep_seconds=float(_env("NOTIFY_SMTP_KEEP_SECONDS", "30")),
        outbox_max_attempts=_env_int("OUTBOX_MAX_ATTEMPTS", 12),
        outbox_retry_base_seconds=_env_int("OUTBOX_RETRY_BASE_SECONDS", 30),
        outbox_retry_max_seconds=_env_int("OUTBOX_RETRY_MAX_SECONDS", 3600),
        outbox_lease_seconds=_env_int("OUTBOX_LEASE_SECONDS", 60),
        reminder_window_days=_env_int("REMINDER_WINDOW_DAYS", 7),
        reminder_hour=_env_int("REMINDER_HOUR", 8),
        journal_seal_grace_seconds=_env_int("JOURNAL_SEAL_GRACE_SECONDS", 300),
        journal_seal_window_seconds=_env_int("JOURNAL_SEAL_WINDOW_SECONDS", 3600),
        journal_seal_run_seconds=_env_int("JOURNAL_SEAL_RUN_SECONDS", 5),
        journal_seal_since_ms=_env_ms("JOURNAL_SEAL_SINCE"),
        journal_seal_lookback_days=_env_int("JOURNAL_SEAL_LOOKBACK_DAYS", 7),
        franceconnect_url=_env("FRANCECONNECT_URL", issuer + "/franceconnect").rstrip("/"),
        franceconnect_client_id=_env("FRANCECONNECT_CLIENT_ID", "aidants-connect-local"),
        max_body_bytes=_env_int("MAX_BODY_BYTES", 64 * 1024),
        habilitation_requests_per_email_per_day=_env_int("HABILITATION_REQUESTS_PER_EMAIL_PER_DAY", 3),
        habilitation_requests_per_hour=_env_int("HABILITATION_REQUESTS_PER_HOUR", 200),
        oidc_authorize_per_client_per_minute=_env_int("OIDC_AUTHORIZE_PER_CLIENT_PER_MINUTE", 600),
        habilitation_draft_ttl_days=_env_int("HABILITATION_DRAFT_TTL_DAYS", 30),
        habilitation_messages_per_request_per_day=_env_int("HABILITATION_MESSAGES_PER_REQUEST_PER_DAY", 10),
        stats_cache_seconds=float(_env("STATS_CACHE_SECONDS", "5")),
        stats_expiry_run_seconds=float(_env("STATS_EXPIRY_RUN_SECONDS", "5")),
        invitation_ttl_days=_env_int("INVITATION_TTL_DAYS", 14),
        invitations_per_structure_per_day=_env_int("INVITATIONS_PER_STRUCTURE_PER_DAY", 30),
        expose_diagnostics=_env_bool("EXPOSE_DIAGNOSTICS", False),
        measure_store_capacity=_env_bool("STORE_MEASURE_CAPACITY", False),
        function_name=_env("FUNCTION_NAME"),
    )


@functools.lru_cache(maxsize=None)
def secret(name: str) -> str:
    """Read an OpenFaaS secret, with the local fallbacks described above."""
    folders = [Path(_env("SECRETS_DIR", "/var/openfaas/secrets"))]
    local = _env("LOCAL_SECRETS_DIR")
    if local:
        folders.append(Path(local))
    for folder in folders:
        path = folder / name
        if path.is_file():
            return path.read_text().strip()
    value = _env("SECRET_" + name.upper().replace("-", "_"))
    if value:
        return value
    raise MissingSecret(f"secret {name!r} is not configured")


def reset_caches() -> None:
    """Tests change the environment between cases; production never calls this."""
    settings.cache_clear()
    secret.cache_clear()
