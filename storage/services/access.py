"""Staff access: server-side sessions, login throttling, personal API tokens, disabling
users. The caller owns the AsyncSession and commits."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import Clock
from storage.models import ApiToken, LoginFailure, StaffRole, StaffSession, StaffUser
from storage.sealing import Sealer
from storage.services import audit
from storage.services.audit import Actor
from storage.services.errors import N_, Conflict, InvalidInput, NotFound
from storage.services.staff import (
    USERNAME_MAX,
    check_password_strength,
    find_user,
    hash_password,
    normal_username,
    verify_password,
)

IDLE_TIMEOUT = timedelta(minutes=30)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at/last_used_at: renewed at most this often
ABSOLUTE_TIMEOUT = timedelta(hours=12)
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


@dataclass(frozen=True)
class LoginLimits:
    """Failed logins allowed per account and per client address within `window` before
    each further try must wait; the wait doubles with every failure, up to `longest_wait`.
    No lock: once the wait has passed, the right password gets in."""

    per_username: int = 5
    per_address: int = 10  # password spraying: many accounts, one address
    window: timedelta = timedelta(minutes=15)
    first_wait: timedelta = timedelta(seconds=30)
    longest_wait: timedelta = timedelta(minutes=15)

    def wait_after(self, failures: int, free: int) -> timedelta:
        if failures < free:
            return timedelta(0)
        return min(self.first_wait * 2 ** min(failures - free, 20), self.longest_wait)


async def record_attempt(
    session: AsyncSession, clock: Clock, *, username: str, ip: str
) -> LoginFailure:
    """Count a login as failed before its password is checked; a success withdraws it.
    The caller commits right away, so parallel tries see each other before they wait."""
    attempt = LoginFailure(
        username=normal_username(username)[:USERNAME_MAX], ip=ip[:64], occurred_at=clock.now()
    )
    session.add(attempt)
    await session.flush()
    return attempt


async def login_wait(
    session: AsyncSession, clock: Clock, attempt: LoginFailure, limits: LoginLimits
) -> timedelta | None:
    """How long this attempt must still wait (by account and by address, the longer);
    None when its password may be checked. Only earlier failures count, not this one."""
    now = clock.now()
    waits = [timedelta(0)]
    for column, value, free in (
        (LoginFailure.username, attempt.username, limits.per_username),
        (LoginFailure.ip, attempt.ip, limits.per_address),
    ):
        failures, last = (
            await session.execute(
                select(func.count(), func.max(LoginFailure.occurred_at)).where(
                    column == value,
                    LoginFailure.id != attempt.id,
                    LoginFailure.occurred_at > now - limits.window,
                )
            )
        ).one()
        if last is not None:
            waits.append(last + limits.wait_after(int(failures), free) - now)
    wait = max(waits)
    return wait if wait > timedelta(0) else None


async def withdraw_attempt(session: AsyncSession, attempt: LoginFailure) -> None:
    """A try refused for waiting never reached the password check: it does not count."""
    await session.execute(delete(LoginFailure).where(LoginFailure.id == attempt.id))


async def authenticate(
    session: AsyncSession, clock: Clock, attempt: LoginFailure, password: str
) -> StaffUser | None:
    """The active user the attempt names, with this password; or None (and the attempt
    stays a failure)."""
    user = await find_user(session, attempt.username)
    ok = await verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if not ok or user is None or not user.is_active:
        return None
    # The account's own typos from this address are forgiven; others' are not.
    await session.execute(
        delete(LoginFailure).where(
            LoginFailure.username == attempt.username, LoginFailure.ip == attempt.ip
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
        raise NotFound(N_("staff user {user_id} not found"), user_id=user_id)
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
    session: AsyncSession,
    clock: Clock,
    *,
    username: str,
    name: str,
    actor: Actor,
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """A new token for the user, valid until revoked or, when given, until `expires_at`."""
    user = await find_user(session, username)
    if user is None or not user.is_active:
        raise NotFound(N_("no active staff user {username!r}"), username=username)
    if len(name) > 100:
        raise InvalidInput(N_("token name is longer than 100 characters"))
    now = clock.now()
    if expires_at is not None and expires_at <= now:
        raise InvalidInput(N_("the token's expiry must lie in the future"))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    record = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=expires_at,
    )
    session.add(record)
    await session.flush()
    audit.record(
        session,
        actor=actor,
        action="api_token.created",
        subject_type="staff_user",
        subject_id=user.id,
        at=now,
        details={
            "token_id": record.id,
            "name": name,
            "expires_at": expires_at.isoformat() if expires_at else None,
        },
    )
    return record, token


async def revoke_api_token(
    session: AsyncSession, clock: Clock, token_id: int, actor: Actor
) -> None:
    record = await session.get(ApiToken, token_id)
    if record is None:
        raise NotFound(N_("api token {token_id} not found"), token_id=token_id)
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
    now = clock.now()
    if record is None or record.expired(now):
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
            N_("{username!r} is the last active admin; make another admin first"),
            username=user.username,
        )


async def change_role(
    session: AsyncSession, clock: Clock, user_id: int, *, role: StaffRole, actor: Actor
) -> StaffUser:
    user = await session.get(StaffUser, user_id)
    if user is None:
        raise NotFound(N_("staff user {user_id} not found"), user_id=user_id)
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
        raise InvalidInput(N_("the current password is wrong"))
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


async def put_flash(
    session: AsyncSession,
    sealer: Sealer,
    session_id: str,
    name: str,
    value: str,
    expires_at: datetime,
) -> None:
    """Keep one value for the next page of this login (written in the caller's
    transaction: it exists exactly when what it shows was committed). Sealed: the row
    never holds the value (an API token) readable."""
    flash = sealer.seal(
        json.dumps({"name": name, "value": value, "expires_at": expires_at.isoformat()})
    )
    await session.execute(
        update(StaffSession).where(StaffSession.id == session_id).values(flash=flash)
    )


async def take_flash(
    session: AsyncSession, sealer: Sealer, session_id: str, name: str, now: datetime
) -> str:
    """The value kept under `name`, at most once: the read clears it, and of two requests
    racing for it only the one whose clearing update hits the row gets it. A row that does
    not unseal (sealed under another secret key) counts as expired."""
    stored = await session.scalar(select(StaffSession.flash).where(StaffSession.id == session_id))
    if stored is None:
        return ""
    opened = sealer.unseal(stored)
    flash = json.loads(opened) if opened is not None else None
    expired = flash is None or datetime.fromisoformat(flash["expires_at"]) <= now
    if flash is not None and flash["name"] != name and not expired:
        return ""  # another page's value: it waits for that page
    cleared = await session.execute(
        update(StaffSession)
        .where(StaffSession.id == session_id, StaffSession.flash == stored)
        .values(flash=None)
    )
    if flash is None or expired or cleared.rowcount != 1:
        return ""
    return str(flash["value"])
