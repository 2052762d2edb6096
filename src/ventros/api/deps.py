"""FastAPI dependencies, used at the edge only through the Annotated aliases below."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ventros.identity.domain import Principal
from ventros.identity.permissions import Permission, require
from ventros.identity.service import confirm_principal
from ventros.kernel.errors import NotAuthenticated
from ventros.platform.uow import UnitOfWorkFactory

if TYPE_CHECKING:
    from ventros.runtime.container import Container

_bearer = HTTPBearer(auto_error=False, description="JWT from POST /api/v1/auth/login")


async def get_container(request: Request) -> Container:
    container: Container = request.app.state.container
    return container


# A forward reference: the Container lives in the runtime, above the API and the contexts.
ContainerDep = Annotated["Container", Depends(get_container)]


async def get_uow(container: ContainerDep) -> UnitOfWorkFactory:
    return container.uow


Uow = Annotated[UnitOfWorkFactory, Depends(get_uow)]


async def current_principal(
    container: ContainerDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise NotAuthenticated("missing bearer token")
    claimed = container.tokens.verify(credentials.credentials)
    return await confirm_principal(container.uow, claimed)


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def authorized(permission: Permission) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that resolves the caller and checks one permission of the role table."""

    async def check(principal: CurrentPrincipal) -> Principal:
        require(principal, permission)
        return principal

    return check
