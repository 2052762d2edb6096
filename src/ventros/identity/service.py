"""Identity use cases: tenants, login, users."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from ventros.identity.domain import (
    DEFAULT_TENANT_SETTINGS,
    Principal,
    Role,
    Tenant,
    TenantSettings,
    User,
    check_password_policy,
    normalise_email,
)
from ventros.identity.passwords import hash_password, verify_password
from ventros.identity.repository import (
    TenantRepository,
    UserRepository,
    WebSessionRepository,
    find_login,
    standing_of,
)
from ventros.identity.tokens import TokenService
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotAuthenticated, NotFound, RuleViolation, TooManyRequests
from ventros.kernel.events import Actor
from ventros.kernel.ids import TenantId, UserId
from ventros.platform.invalidation import TENANT_SETTINGS, Invalidations, announce
from ventros.platform.ratelimit import RateLimits
from ventros.platform.uow import UnitOfWork, UnitOfWorkFactory

NO_TENANT = uuid.UUID(int=0)
DEACTIVATED = "this user is deactivated; an admin can reactivate them"


@dataclass(frozen=True)
class CreatedTenant:
    tenant_id: uuid.UUID
    admin_id: uuid.UUID


@dataclass(frozen=True)
class AccessToken:
    access_token: str
    expires_in: int


async def create_tenant(
    uow: UnitOfWorkFactory, *, name: str, admin_email: str, admin_password: str
) -> CreatedTenant:
    check_password_policy(admin_password)
    tenant = Tenant.create(name)
    password_hash = await hash_password(admin_password)
    # The new tenant is set on the transaction first, so RLS admits its own rows.
    async with uow(tenant.id, Actor.system()) as tx:
        await TenantRepository(tx).add(tenant)
        admin = User.register(
            tenant_id=tenant.id,
            email=admin_email,
            name="Administrator",
            role=Role.ADMIN,
            password_hash=password_hash,
        )
        await UserRepository(tx).add(admin)
        await tx.commit()
    return CreatedTenant(tenant_id=tenant.id, admin_id=admin.id)


async def authenticate(
    uow: UnitOfWorkFactory,
    throttle: RateLimits,
    *,
    email: str,
    password: str,
    client_ip: str,
) -> Principal:
    """The user behind an email and password, throttled per email and address (the API's
    bearer login and the web app's cookie login share it)."""
    email = normalise_email(email)
    wait = await throttle.login_blocked(email, client_ip)
    if wait is not None:
        raise TooManyRequests("too many failed logins; try again later", retry_after_seconds=wait)
    async with uow(NO_TENANT, Actor.system()) as tx:
        record = await find_login(tx, email)
    if not await verify_password(record.password_hash if record else None, password):
        await throttle.record_login_failure(email, client_ip)
        raise NotAuthenticated("wrong email or password")
    assert record is not None
    if not record.active:
        raise NotAuthenticated(DEACTIVATED)
    return Principal(
        user_id=UserId(record.user_id),
        tenant_id=TenantId(record.tenant_id),
        role=record.role,
        email=record.email,
    )


async def login(
    uow: UnitOfWorkFactory,
    tokens: TokenService,
    throttle: RateLimits,
    *,
    email: str,
    password: str,
    client_ip: str,
) -> AccessToken:
    principal = await authenticate(
        uow, throttle, email=email, password=password, client_ip=client_ip
    )
    return AccessToken(tokens.issue(principal), tokens.ttl_seconds)


async def confirm_principal(uow: UnitOfWorkFactory, claimed: Principal) -> Principal:
    """The caller as they stand now: a token (or a web session) says who they were when it
    was issued; the role and the active flag are read again on every request, so a demotion
    or a deactivation applies to the very next one. `NotAuthenticated` when the user is
    gone or deactivated. (One indexed primary-key read per request.)"""
    async with uow(claimed.tenant_id, Actor.user(claimed.user_id)) as tx:
        standing = await standing_of(tx, claimed.user_id)
    if standing is None:
        raise NotAuthenticated("this user no longer exists")
    if not standing.active:
        raise NotAuthenticated(DEACTIVATED)
    if standing.role is claimed.role:
        return claimed
    return replace(claimed, role=standing.role)


async def get_user(uow: UnitOfWorkFactory, principal: Principal, user_id: uuid.UUID) -> User:
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        user = await UserRepository(tx).get(user_id)
    if user is None:
        raise NotFound("user not found")
    return user


async def rate_limit_of(uow: UnitOfWorkFactory, tenant_id: uuid.UUID) -> int:
    async with uow(tenant_id, Actor.system()) as tx:
        return (await tenant_settings(tx)).rate_limit_per_minute


async def get_settings(uow: UnitOfWorkFactory, principal: Principal) -> dict[str, Any]:
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        tenant = await TenantRepository(tx).get(principal.tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant.effective_settings()


async def update_settings(
    uow: UnitOfWorkFactory,
    principal: Principal,
    changes: dict[str, Any],
    *,
    announced: Invalidations | None = None,
) -> dict[str, Any]:
    """`announced` is this process's listener: the change is answered only once it has been
    delivered there, so the next request to any API process applies it."""
    unknown = set(changes) - set(DEFAULT_TENANT_SETTINGS)
    if unknown:
        raise RuleViolation(f"unknown settings: {', '.join(sorted(unknown))}")
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        tenants = TenantRepository(tx)
        tenant = await tenants.get(principal.tenant_id)
        if tenant is None:
            raise NotFound("tenant not found")
        tenant.settings = {**tenant.settings, **changes}
        tenant.record("tenant.settings_updated", {"changes": changes})
        await tenants.save_settings(tenant)
        # Every API process forgets its cached copy when this commits (the rate limit).
        notice = await announce(tx, TENANT_SETTINGS, str(principal.tenant_id))
        await tx.commit()
    if announced is not None:
        await announced.delivered(notice)
    return tenant.effective_settings()


@dataclass(frozen=True)
class DemoLogin:
    """One user of the demo tenant, as `ventros run` prints it."""

    role: Role
    email: str
    password: str


@dataclass(frozen=True)
class DemoTenant:
    created: bool  # False: it was there from an earlier start
    logins: list[DemoLogin]  # admin first


async def ensure_demo_tenant(
    uow: UnitOfWorkFactory, *, name: str, email: str, password: str
) -> DemoTenant:
    """Seeds the demo tenant once; returns the logins of its users, whoever seeded them."""
    logins = [DemoLogin(Role.ADMIN, email, password)]
    async with uow(NO_TENANT, Actor.system()) as tx:
        if await find_login(tx, normalise_email(email)) is not None:
            return DemoTenant(created=False, logins=logins)
    await create_tenant(uow, name=name, admin_email=email, admin_password=password)
    return DemoTenant(created=True, logins=logins)


async def acting_user(uow: UnitOfWorkFactory, *, email: str) -> Principal | None:
    """The user with this login email, acting (the demo's seeding, the CLI)."""
    async with uow(NO_TENANT, Actor.system()) as tx:
        login = await find_login(tx, normalise_email(email))
    if login is None:
        return None
    return Principal(
        user_id=UserId(login.user_id),
        tenant_id=TenantId(login.tenant_id),
        role=login.role,
        email=login.email,
    )


demo_admin = acting_user  # the demo tenant's admin, for seeding its channel


async def settings_in(tx: UnitOfWork) -> dict[str, Any]:
    """The tenant's settings as JSON (the API's view), inside an open unit of work."""
    tenant = await TenantRepository(tx).get(tx.tenant_id)
    return tenant.effective_settings() if tenant else dict(DEFAULT_TENANT_SETTINGS)


async def tenant_settings(tx: UnitOfWork) -> TenantSettings:
    """The tenant's settings, read inside another context's open unit of work."""
    tenant = await TenantRepository(tx).get(tx.tenant_id)
    return tenant.typed_settings() if tenant else TenantSettings()


@dataclass(frozen=True)
class RegisterUser:
    email: str
    name: str
    password: str
    role: Role
    max_concurrent_sessions: int = 5
    skills: tuple[str, ...] = ()


async def register_user(
    uow: UnitOfWorkFactory, principal: Principal, command: RegisterUser
) -> User:
    check_password_policy(command.password)
    password_hash = await hash_password(command.password)
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        user = User.register(
            tenant_id=principal.tenant_id,
            email=command.email,
            name=command.name,
            role=command.role,
            password_hash=password_hash,
            max_concurrent_sessions=command.max_concurrent_sessions,
            skills=list(command.skills),
        )
        await UserRepository(tx).add(user)
        await tx.commit()
    return user


async def list_users(uow: UnitOfWorkFactory, principal: Principal) -> list[User]:
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        return await UserRepository(tx).list()


# --------------------------------------------------------------------------- web sessions


@dataclass(frozen=True)
class WebSession:
    """A web login: the cookie's secret goes to the browser, only its hash is stored."""

    token: str
    csrf_token: str
    principal: Principal
    locale: str | None


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_web_session(
    uow: UnitOfWorkFactory,
    throttle: RateLimits,
    *,
    email: str,
    password: str,
    client_ip: str,
    locale: str | None,
    ttl_seconds: int,
) -> WebSession:
    principal = await authenticate(
        uow, throttle, email=email, password=password, client_ip=client_ip
    )
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    async with uow(NO_TENANT, Actor.user(principal.user_id)) as tx:
        await WebSessionRepository(tx).add(
            token_hash=_token_hash(token),
            user_id=principal.user_id,
            tenant_id=principal.tenant_id,
            csrf_token=csrf,
            locale=locale,
            created_at=now,
            expires_at=now + timedelta(seconds=ttl_seconds),
        )
        await tx.commit()
    return WebSession(token, csrf, principal, locale)


async def resolve_web_session(uow: UnitOfWorkFactory, token: str) -> WebSession:
    """The live session of a cookie, with the user's role as it is now in the database (a
    demoted or removed user loses the old role at the next request). NotAuthenticated if
    unknown, revoked or expired."""
    async with uow(NO_TENANT, Actor.system()) as tx:
        record = await WebSessionRepository(tx).get(_token_hash(token))
    if record is None or record.revoked_at is not None or record.expires_at <= utcnow():
        raise NotAuthenticated("session expired")
    async with uow(record.tenant_id, Actor.user(record.user_id)) as tx:
        user = await UserRepository(tx).get(record.user_id)
    if user is None:
        raise NotAuthenticated("session expired")
    principal = Principal(
        user_id=UserId(user.id),
        tenant_id=TenantId(user.tenant_id),
        role=user.role,
        email=user.email,
    )
    return WebSession(token, record.csrf_token, principal, record.locale)


async def revoke_web_session(uow: UnitOfWorkFactory, token: str) -> None:
    async with uow(NO_TENANT, Actor.system()) as tx:
        await WebSessionRepository(tx).revoke(_token_hash(token), utcnow())
        await tx.commit()


async def save_web_locale(uow: UnitOfWorkFactory, token: str, locale: str) -> None:
    async with uow(NO_TENANT, Actor.system()) as tx:
        await WebSessionRepository(tx).set_locale(_token_hash(token), locale)
        await tx.commit()
