"""HTTP routes of identity: login, me, tenant settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, status

from ventros.api.deps import ContainerDep, CurrentPrincipal, Uow, authorized
from ventros.identity import service
from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission
from ventros.identity.schemas import (
    AgentCreate,
    AgentRead,
    LoginRequest,
    MeRead,
    SettingsRead,
    SettingsUpdate,
    TokenRead,
)

router = APIRouter(tags=["identity"])

SettingsReader = Annotated[Principal, Depends(authorized(Permission.SETTINGS_READ))]
SettingsManager = Annotated[Principal, Depends(authorized(Permission.SETTINGS_MANAGE))]
AgentReader = Annotated[Principal, Depends(authorized(Permission.AGENTS_READ))]
UserCreator = Annotated[Principal, Depends(authorized(Permission.USERS_CREATE))]


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
    body: SettingsUpdate, principal: SettingsManager, uow: Uow
) -> SettingsRead:
    """Change tenant settings (admin)."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    return SettingsRead(**await service.update_settings(uow, principal, changes))


@router.post(
    "/agents", status_code=status.HTTP_201_CREATED, response_model=AgentRead, tags=["agents"]
)
async def create_agent(body: AgentCreate, principal: UserCreator, uow: Uow) -> AgentRead:
    """Create a user of this tenant with a role (admin)."""
    command = service.RegisterUser(
        email=str(body.email),
        name=body.name,
        password=body.password,
        role=body.role,
        max_concurrent_sessions=body.max_concurrent_sessions,
        skills=tuple(body.skills),
    )
    return AgentRead.of(await service.register_user(uow, principal, command))


@router.get("/agents", response_model=list[AgentRead], tags=["agents"])
async def list_agents(principal: AgentReader, uow: Uow) -> list[AgentRead]:
    """The tenant's users."""
    return [AgentRead.of(u) for u in await service.list_users(uow, principal)]


# GET /agents/{agent_id} (with the current load) is in ventros.agents.api.
