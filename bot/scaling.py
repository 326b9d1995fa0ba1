"""Bot state across instances: with SUPPORTDESK_REDIS_URL the FSM lives in Redis (with a TTL,
so abandoned conversations do not pile up) and a Redis lock keeps one user's updates in
order whichever instance receives them. Without it aiogram's in-process defaults apply."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiogram.fsm.storage.redis import DefaultKeyBuilder, RedisStorage

from storage.config import Settings

STATE_TTL = timedelta(days=1)
KEY_PREFIX = "supportdesk"


def fsm_backends(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for `Dispatcher(...)`: storage and events_isolation, or none.
    aiogram closes both on shutdown (Dispatcher.shutdown -> fsm.close)."""
    if not settings.redis_url:
        return {}
    storage = RedisStorage.from_url(
        settings.redis_url,
        # The bot id in the key keeps two bots sharing one Redis apart.
        key_builder=DefaultKeyBuilder(prefix=KEY_PREFIX, with_bot_id=True),
        state_ttl=STATE_TTL,
        data_ttl=STATE_TTL,
    )
    return {"storage": storage, "events_isolation": storage.create_isolation()}
