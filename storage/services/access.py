"""Staff access: server-side sessions, login throttling, personal API tokens, disabling
users. The caller owns the AsyncSession and commits."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import Clock
from storage.models import ApiToken, LoginFailure, StaffRole, StaffSession, StaffUser
from storage.services import audit
from storage.services.audit import Actor
from storage.services.errors import Conflict, InvalidInput, NotFound
from storage.services.staff import check_password_strength, hash_password, verify_password

IDLE_TIMEOUT = timedelta(minutes=30)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at/last_used_at: renewed at most this often
ABSOLUTE_TIMEOUT = timedelta(hours=12)
THROTTLE_WINDOW = timedelta(minutes=15)
THROTTLE_FAILURES = 5
TOKEN_PREFIX = "sdt_"
# Verified against when the username is unknown, so timing does not reveal which exist.
_DUMMY_HASH = (
    "$argon2id$v=19$m=65536,t=3,p=4$lsrSIUpGYoq0ZRC5azInIA$c1Aor/"
    "OgYYvp/ZDazsDzkkwqul/SEqhBEH/o+CbK+Fc"
)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewSession:
    token: str  # goes into the cookie, never stored
    record: StaffSession


async def failures(session: AsyncSession, clock: Clock, username: str, ip: str) -> int:
    since = clock.now() - THROTTLE_WINDOW
    count = await session.scalar(
        select(func.count())
        .select_from(LoginFailure)
        .where(
            LoginFailure.username == username.lower()[:64],
            LoginFailure.ip == ip[:64],
            LoginFailure.occurred_at > since,
        )
    )
    return int(count or 0)


async def is_throttled(session: AsyncSession, clock: Clock, username: str, ip: str) -> bool:
    return await failures(session, clock, username, ip) >= THROTTLE_FAILURES


async def authenticate(
    session: AsyncSession, clock: Clock, *, username: str, password: str, ip: str
) -> StaffUser | None:
    """The active user with this password, or None (and a failure is recorded)."""
    user = await session.scalar(select(StaffUser).where(StaffUser.username == username.strip()))
    ok = await verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if not ok or user is None or not user.is_active:
        session.add(
            LoginFailure(username=username.lower()[:64], ip=ip[:64], occurred_at=clock.now())
        )
        await session.flush()
        return None
    await session.execute(
        delete(LoginFailure).where(
            LoginFailure.username == username.lower()[:64], LoginFailure.ip == ip[:64]
        )
    )
    user.last_login_at = clock.now()
    return user


async def start_session(
    session: AsyncSession, clock: Clock, user: StaffUser, *, ip: str = "", user_agent: str = ""
) -> NewSession:
    """Always a new id (no fixation). Expired sessions of the user are pruned."""
    now = clock.now()
    await session.execute(
        delete(StaffSession).where(StaffSession.user_id == user.id, StaffSession.expires_at <= now)
    )
    token = secrets.token_urlsafe(32)
    record = StaffSession(
        id=token_hash(token),
        user_id=user.id,
        created_at=now,
        last_seen_at=now,
        expires_at=now + ABSOLUTE_TIMEOUT,
        csrf_token=secrets.token_urlsafe(32),
        ip=ip[:64],
        user_agent=user_agent[:300],
    )
    session.add(record)
    audit.record(
        session,
        actor=Actor.staff(user),
        action="staff.login",
        subject_type="staff_user",
        subject_id=user.id,
        at=now,
        details={"ip": ip[:64]},
    )
    await session.flush()
    return NewSession(token, record)


@dataclass(frozen=True)
class Resumed:
    """A staff session found by its token. Reading it writes nothing; what it needs written
    (`ended`: delete it; `touch_due`: renew last_seen_at) the caller settles with
    `settle_session`, so a read-only request stays read-only most of the time."""

    record: StaffSession
    user: StaffUser | None  # None: not usable (ended, or the user is gone or disabled)
    ended: bool  # expired or idle too long
    touch_due: bool

    @property
    def needs_write(self) -> bool:
        return self.ended or (self.user is not None and self.touch_due)


async def resume_session(session: AsyncSession, clock: Clock, token: str) -> Resumed | None:
    """The session behind a cookie token, or None when there is none. Reads only."""
    if not token or len(token) > 200:
        return None
    record = await session.get(StaffSession, token_hash(token))
    if record is None:
        return None
    now = clock.now()
    if now >= record.expires_at or now - record.last_seen_at > IDLE_TIMEOUT:
        return Resumed(record, None, ended=True, touch_due=False)
    user = await session.get(StaffUser, record.user_id)
    if user is None or not user.is_active:
        user = None
    return Resumed(record, user, ended=False, touch_due=now - record.last_seen_at >= TOUCH_EVERY)


async def settle_session(session: AsyncSession, clock: Clock, resumed: Resumed) -> None:
    """Delete an ended session, or renew a live one's last_seen_at. A statement, not an
    attribute change: `resumed` may belong to another (read-only) session."""
    if resumed.ended:
        await session.execute(delete(StaffSession).where(StaffSession.id == resumed.record.id))
        return
    now = clock.now()
    await session.execute(
        update(StaffSession).where(StaffSession.id == resumed.record.id).values(last_seen_at=now)
    )


async def end_session(session: AsyncSession, clock: Clock, record: StaffSession) -> None:
    await session.execute(delete(StaffSession).where(StaffSession.id == record.id))
    audit.record(
        session,
        actor=Actor("staff", record.user_id),
        action="staff.logout",
        subject_type="staff_user",
        subject_id=record.user_id,
        at=clock.now(),
    )


async def revoke_user_sessions(session: AsyncSession, user_id: int) -> None:
    await session.execute(delete(StaffSession).where(StaffSession.user_id == user_id))


async def set_active(
    session: AsyncSession, clock: Clock, user_id: int, *, active: bool, actor: Actor
) -> StaffUser:
    """Enable or disable a user; disabling revokes every session and API token at once."""
    user = await session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"staff user {user_id} not found", nl=f"gebruiker {user_id} niet gevonden")
    if not active:
        await _keep_an_admin(session, user)
    now = clock.now()
    user.is_active = active
    user.updated_at = now
    if not active:
        await revoke_user_sessions(session, user_id)
        await session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    audit.record(
        session,
        actor=actor,
        action="staff.enabled" if active else "staff.disabled",
        subject_type="staff_user",
        subject_id=user_id,
        at=now,
    )
    await session.flush()
    return user


async def create_api_token(
    session: AsyncSession, clock: Clock, *, username: str, name: str, actor: Actor
) -> tuple[ApiToken, str]:
    user = await session.scalar(select(StaffUser).where(StaffUser.username == username))
    if user is None or not user.is_active:
        raise NotFound(
            f"no active staff user {username!r}", nl=f"geen actieve gebruiker {username!r}"
        )
    if len(name) > 100:
        raise InvalidInput(
            "token name is longer than 100 characters", nl="de tokennaam is langer dan 100 tekens"
        )
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = clock.now()
    record = ApiToken(user_id=user.id, name=name, token_hash=token_hash(token), created_at=now)
    session.add(record)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_token.created",
        subject_type="staff_user",
        subject_id=user.id,
        at=now,
        details={"token_id": record.id, "name": name},
    )
    return record, token


async def revoke_api_token(
    session: AsyncSession, clock: Clock, token_id: int, actor: Actor
) -> None:
    record = await session.get(ApiToken, token_id)
    if record is None:
        raise NotFound(f"api token {token_id} not found", nl=f"API-token {token_id} niet gevonden")
    record.revoked_at = record.revoked_at or clock.now()
    audit.record(
        session,
        actor=actor,
        action="api_token.revoked",
        subject_type="staff_user",
        subject_id=record.user_id,
        at=clock.now(),
        details={"token_id": token_id},
    )


async def user_for_token(
    session: AsyncSession, clock: Clock, token: str
) -> tuple[ApiToken, StaffUser] | None:
    """The live token and its active user. Reads only; `token_touch_due` says whether
    `touch_token` should renew its last_used_at."""
    if not token or len(token) > 200:
        return None
    record = await session.scalar(
        select(ApiToken).where(
            ApiToken.token_hash == token_hash(token), ApiToken.revoked_at.is_(None)
        )
    )
    if record is None:
        return None
    user = await session.get(StaffUser, record.user_id)
    if user is None or not user.is_active:
        return None
    return record, user


def token_touch_due(clock: Clock, record: ApiToken) -> bool:
    return record.last_used_at is None or clock.now() - record.last_used_at > TOUCH_EVERY


async def touch_token(session: AsyncSession, clock: Clock, record: ApiToken) -> None:
    now = clock.now()
    await session.execute(update(ApiToken).where(ApiToken.id == record.id).values(last_used_at=now))


async def _keep_an_admin(session: AsyncSession, user: StaffUser) -> None:
    """Refuse to take away the last active admin: nobody could manage users any more
    (only the CLI on the server could make a new one)."""
    if user.role != StaffRole.ADMIN or not user.is_active:
        return
    others = await session.scalar(
        select(func.count())
        .select_from(StaffUser)
        .where(
            StaffUser.role == StaffRole.ADMIN,
            StaffUser.is_active.is_(True),
            StaffUser.id != user.id,
        )
    )
    if not others:
        raise Conflict(
            f"{user.username!r} is the last active admin; make another admin first",
            nl=f"{user.username!r} is de laatste actieve admin; maak eerst een andere "
            "gebruiker admin",
        )


async def change_role(
    session: AsyncSession, clock: Clock, user_id: int, *, role: StaffRole, actor: Actor
) -> StaffUser:
    user = await session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(f"staff user {user_id} not found", nl=f"gebruiker {user_id} niet gevonden")
    if role != StaffRole.ADMIN:
        await _keep_an_admin(session, user)
    previous = user.role
    user.role = role
    user.updated_at = clock.now()
    audit.record(
        session,
        actor=actor,
        action="staff.role_changed",
        subject_type="staff_user",
        subject_id=user_id,
        at=clock.now(),
        details={"from": previous.value, "to": role.value},
    )
    await session.flush()
    return user


async def change_password(
    session: AsyncSession,
    clock: Clock,
    user: StaffUser,
    *,
    current: str,
    new: str,
    keep_session: StaffSession | None = None,
) -> None:
    """Change one's own password; every other session of the user is revoked."""
    if not await verify_password(user.password_hash, current):
        raise InvalidInput("the current password is wrong", nl="het huidige wachtwoord is onjuist")
    check_password_strength(new)
    user.password_hash = await hash_password(new)
    user.updated_at = clock.now()
    stmt = delete(StaffSession).where(StaffSession.user_id == user.id)
    if keep_session is not None:
        stmt = stmt.where(StaffSession.id != keep_session.id)
    await session.execute(stmt)
    audit.record(
        session,
        actor=Actor.staff(user),
        action="staff.password_changed",
        subject_type="staff_user",
        subject_id=user.id,
        at=clock.now(),
    )
    await session.flush()
