"""Staff accounts. argon2 hashing costs ~100 ms of CPU, so it runs in a thread."""

from __future__ import annotations

import asyncio
import unicodedata

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
USERNAME_MAX = 64
_hasher = PasswordHasher()


def normal_username(username: str) -> str:
    """The one spelling of a username used to store, find and throttle it: NFKC (a
    full-width "ｂｅｒｔ" is "bert"), no whitespace or invisible format characters at either
    end, case-folded. Every spelling of one account then shares one lookup and one
    throttle."""
    name = unicodedata.normalize("NFKC", username)
    start, end = 0, len(name)
    while start < end and _blank(name[start]):
        start += 1
    while end > start and _blank(name[end - 1]):
        end -= 1
    return name[start:end].casefold()


def _blank(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp")


async def find_user(session: AsyncSession, username: str) -> StaffUser | None:
    """The account this spelling names. Names are stored normalised; accounts made before
    that may carry capitals, so the stored name is compared lower-cased as well."""
    key = normal_username(username)
    if not key or len(key) > USERNAME_MAX:
        return None
    user = await session.scalar(select(StaffUser).where(StaffUser.username == key))
    if user is None:
        user = await session.scalar(
            select(StaffUser).where(func.lower(StaffUser.username) == key).limit(1)
        )
    return user


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
    given, username = username.strip(), normal_username(username)
    if (
        not username
        or len(username) > USERNAME_MAX
        or not username.replace(".", "").replace("-", "").replace("_", "").isalnum()
    ):
        raise InvalidInput(N_("username must be 1-64 letters, digits, '.', '-' or '_'"))
    check_password_strength(password)
    # Also against accounts stored before names were normalised ("Alice" next to "alice"
    # would be two accounts that look alike and share one login throttle).
    if existing := await find_user(session, username):
        raise Conflict(N_("user {username!r} already exists"), username=existing.username)
    now = clock.now()
    user = StaffUser(
        username=username,
        display_name=display_name or given,  # the spelling as typed
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
