"""HTTP routes of identity: login, me, tenant settings. (Every /agents route is in
ventros.agents.api.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request

from ventros.api.deps import ContainerDep, CurrentPrincipal, Uow, authorized
from ventros.identity import service
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.identity.schemas import (
    LoginRequest,
    MeRead,
    SettingsRead,
    SettingsUpdate,
    TokenRead,
)

router = APIRouter(tags=["identity"])

SettingsReader = Annotated[Principal, Depends(authorized(Permission.SETTINGS_READ))]
SettingsManager = Annotated[Principal, Depends(authorized(Permission.SETTINGS_MANAGE))]


@router.post("/auth/login", response_model=TokenRead)
async def login(body: LoginRequest, request: Request, container: ContainerDep) -> TokenRead:
    """Exchange email and password for a bearer token."""
    token = await service.login(
        container.uow,
        container.tokens,
        container.rate_limits,
        email=body.email,
        password=body.password,
        client_ip=request.client.host if request.client else "unknown",
    )
    return TokenRead(access_token=token.access_token, expires_in=token.expires_in)


@router.get("/me", response_model=MeRead)
async def me(principal: CurrentPrincipal, uow: Uow) -> MeRead:
    """The calling user."""
    user = await service.get_user(uow, principal, principal.user_id)
    return MeRead(
        id=user.id, tenant_id=user.tenant_id, email=user.email, name=user.name, role=user.role
    )


@router.get("/settings", response_model=SettingsRead)
async def get_settings(principal: SettingsReader, uow: Uow) -> SettingsRead:
    """The tenant's settings."""
    return SettingsRead(**await service.get_settings(uow, principal))


@router.patch("/settings", response_model=SettingsRead)
async def update_settings(
    body: SettingsUpdate, principal: SettingsManager, container: ContainerDep
) -> SettingsRead:
    """Change tenant settings (admin)."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    updated = await service.update_settings(
        container.uow, principal, changes, announced=container.tenant_settings_changes
    )
    return SettingsRead(**updated)
