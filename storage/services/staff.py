"""Staff accounts. argon2 hashing costs ~100 ms of CPU, so it runs in a thread."""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import Clock
from storage.models import StaffRole, StaffUser
from storage.services import audit
from storage.services.audit import Actor
from storage.services.errors import N_, Conflict, InvalidInput

MIN_PASSWORD_LENGTH = 12
_hasher = PasswordHasher()


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def verify() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(verify)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            N_("password must be at least {min_length} characters"),
            min_length=MIN_PASSWORD_LENGTH,
        )


async def create_user(
    session: AsyncSession,
    clock: Clock,
    *,
    username: str,
    password: str,
    role: StaffRole,
    actor: Actor,
    display_name: str = "",
) -> StaffUser:
    username = username.strip()
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise InvalidInput(N_("username must be 1-64 letters, digits, '.', '-' or '_'"))
    check_password_strength(password)
    # Case-insensitively: "Alice" next to "alice" would be two accounts that look alike
    # and share one login throttle.
    taken = select(StaffUser.username).where(func.lower(StaffUser.username) == username.lower())
    if existing := await session.scalar(taken.limit(1)):
        raise Conflict(N_("user {existing!r} already exists"), existing=existing)
    now = clock.now()
    user = StaffUser(
        username=username,
        display_name=display_name or username,
        password_hash=await hash_password(password),
        role=role,
        is_active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="staff.created",
        subject_type="staff_user",
        subject_id=user.id,
        at=now,
        details={"username": username, "role": role.value},
    )
    return user
