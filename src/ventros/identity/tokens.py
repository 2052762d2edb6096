"""Access tokens: HS256 JWTs with sub, tid, role, exp, iat, jti. The algorithm is pinned
on decode, so `alg: none` or an RS/HS confusion is rejected."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt

from ventros.identity.domain import Principal, Role
from ventros.kernel.clock import utcnow
from ventros.kernel.errors import NotAuthenticated
from ventros.kernel.ids import TenantId, UserId, new_id

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["sub", "tid", "role", "exp", "iat", "jti"]


@dataclass(frozen=True)
class TokenService:
    secret_key: str
    ttl_seconds: int
    previous_secret_key: str | None = None

    def issue(self, principal: Principal) -> str:
        now = utcnow()
        claims = {
            "sub": str(principal.user_id),
            "tid": str(principal.tenant_id),
            "role": principal.role.value,
            "email": principal.email,
            "iat": now,
            "exp": now + timedelta(seconds=self.ttl_seconds),
            "jti": str(new_id()),
        }
        return jwt.encode(claims, self.secret_key, algorithm=ALGORITHM)

    def verify(self, token: str) -> Principal:
        keys = [self.secret_key] + ([self.previous_secret_key] if self.previous_secret_key else [])
        last_error: Exception | None = None
        for key in keys:
            try:
                claims = jwt.decode(
                    token, key, algorithms=[ALGORITHM], options={"require": REQUIRED_CLAIMS}
                )
                return Principal(
                    user_id=UserId(uuid.UUID(claims["sub"])),
                    tenant_id=TenantId(uuid.UUID(claims["tid"])),
                    role=Role(claims["role"]),
                    email=str(claims.get("email", "")),
                )
            except jwt.ExpiredSignatureError as error:
                raise NotAuthenticated("token expired") from error
            except jwt.InvalidSignatureError as error:
                last_error = error
            except (jwt.InvalidTokenError, ValueError, KeyError) as error:
                raise NotAuthenticated("invalid token") from error
        raise NotAuthenticated("invalid token") from last_error
