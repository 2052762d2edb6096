import uuid
from datetime import timedelta

import jwt
import pytest

from ventros.identity.domain import Principal, Role, check_password_policy
from ventros.identity.permissions import Permission, allows
from ventros.identity.tokens import TokenService
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotAuthenticated, RuleViolation
from ventros.kernel.ids import TenantId, UserId

PRINCIPAL = Principal(UserId(uuid.uuid4()), TenantId(uuid.uuid4()), Role.AGENT, "a@example.com")


def test_a_viewer_reads_but_never_writes() -> None:
    writes = [p for p in Permission if not p.value.endswith(":read")]
    assert all(not allows(Role.VIEWER, p) for p in writes)
    assert allows(Role.VIEWER, Permission.CONTACTS_READ)


def test_a_viewer_reads_reports_which_agents_do_not() -> None:
    assert allows(Role.VIEWER, Permission.REPORTS_READ)
    assert not allows(Role.AGENT, Permission.REPORTS_READ)


def test_the_roles_nest() -> None:
    for permission in Permission:
        if allows(Role.VIEWER, permission) and permission is not Permission.REPORTS_READ:
            assert allows(Role.AGENT, permission)
        if allows(Role.AGENT, permission):
            assert allows(Role.SUPERVISOR, permission)
        assert allows(Role.ADMIN, permission)


def test_only_admins_create_users_and_manage_webhooks() -> None:
    for role in (Role.SUPERVISOR, Role.AGENT, Role.VIEWER):
        assert not allows(role, Permission.USERS_CREATE)
        assert not allows(role, Permission.WEBHOOKS_MANAGE)


def test_a_token_round_trips_the_principal() -> None:
    tokens = TokenService("k" * 40, 60)
    assert tokens.verify(tokens.issue(PRINCIPAL)) == PRINCIPAL


def test_a_token_signed_with_the_previous_key_is_accepted_during_rotation() -> None:
    old = TokenService("old-key" * 6, 60)
    rotated = TokenService("new-key" * 6, 60, previous_secret_key="old-key" * 6)
    assert rotated.verify(old.issue(PRINCIPAL)) == PRINCIPAL


def test_an_alg_none_token_is_refused() -> None:
    claims = {"sub": str(PRINCIPAL.user_id), "tid": str(PRINCIPAL.tenant_id), "role": "admin"}
    now = utcnow()
    claims |= {"iat": now, "exp": now + timedelta(hours=1), "jti": "x"}  # type: ignore[dict-item]
    token = jwt.encode(claims, key=None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(NotAuthenticated):
        TokenService("k" * 40, 60).verify(token)


def test_an_expired_token_is_refused() -> None:
    with pytest.raises(NotAuthenticated, match="expired"):
        TokenService("k" * 40, -1).verify(TokenService("k" * 40, -1).issue(PRINCIPAL))


@pytest.mark.parametrize("password", ["short1A", "12345678901", "onlylowercaseletters"])
def test_weak_passwords_are_refused(password: str) -> None:
    with pytest.raises(RuleViolation):
        check_password_policy(password)
