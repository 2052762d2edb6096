"""Identity use cases: tenants, login, users."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

from ventros.identity.domain import (
    DEFAULT_TENANT_SETTINGS,
    Principal,
    Role,
    Tenant,
    User,
    check_password_policy,
    normalise_email,
)
from ventros.identity.passwords import hash_password, verify_password
from ventros.identity.repository import (
    TenantRepository,
    UserRepository,
    find_login,
    standing_of,
)
from ventros.identity.tokens import TokenService
from ventros.kernel.errors import NotAuthenticated, NotFound, RuleViolation, TooManyRequests
from ventros.kernel.events import Actor
from ventros.kernel.ids import TenantId, UserId
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


async def login(
    uow: UnitOfWorkFactory,
    tokens: TokenService,
    throttle: RateLimits,
    *,
    email: str,
    password: str,
    client_ip: str,
) -> AccessToken:
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
    principal = Principal(
        user_id=UserId(record.user_id),
        tenant_id=TenantId(record.tenant_id),
        role=record.role,
        email=record.email,
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
        return int((await settings_in(tx))["rate_limit_per_minute"])


async def get_settings(uow: UnitOfWorkFactory, principal: Principal) -> dict[str, Any]:
    async with uow(principal.tenant_id, Actor.user(principal.user_id)) as tx:
        tenant = await TenantRepository(tx).get(principal.tenant_id)
    if tenant is None:
        raise NotFound("tenant not found")
    return tenant.effective_settings()


async def update_settings(
    uow: UnitOfWorkFactory, principal: Principal, changes: dict[str, Any]
) -> dict[str, Any]:
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
        await tx.commit()
    return tenant.effective_settings()


async def ensure_demo_tenant(
    uow: UnitOfWorkFactory, *, name: str, email: str, password: str
) -> CreatedTenant | None:
    """Seeds the demo tenant once; returns None when its admin already exists."""
    async with uow(NO_TENANT, Actor.system()) as tx:
        if await find_login(tx, normalise_email(email)) is not None:
            return None
    return await create_tenant(uow, name=name, admin_email=email, admin_password=password)


async def demo_admin(uow: UnitOfWorkFactory, *, email: str) -> Principal | None:
    """The demo tenant's admin, acting (what seeding the demo's channel needs)."""
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


async def settings_in(tx: UnitOfWork) -> dict[str, Any]:
    """The tenant's settings, read inside another context's open unit of work."""
    tenant = await TenantRepository(tx).get(tx.tenant_id)
    return tenant.effective_settings() if tenant else dict(DEFAULT_TENANT_SETTINGS)


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
