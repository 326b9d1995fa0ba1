"""Edits of ticket messages. Every edit keeps the earlier text (message_edits); an agent's
edit of a reply already sent to Telegram is queued (delivery pending) so the delivery
worker edits it in the customer's chat too."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.clock import Clock
from storage.models import (
    DeliveryState,
    MessageDirection,
    MessageEdit,
    StaffRole,
    StaffUser,
    TicketMessage,
)
from storage.services import audit, outbox
from storage.services.audit import Actor
from storage.services.errors import N_, Forbidden, NotFound
from storage.services.text import clean_text


async def history(
    session: AsyncSession, message_ids: Sequence[int]
) -> dict[int, list[MessageEdit]]:
    """Earlier versions of these messages, oldest first, in one query (no lazy loads)."""
    if not message_ids:
        return {}
    rows = await session.scalars(
        select(MessageEdit)
        .where(MessageEdit.message_id.in_(message_ids))
        .order_by(MessageEdit.edited_at, MessageEdit.id)
    )
    found: dict[int, list[MessageEdit]] = {}
    for edit in rows:
        found.setdefault(edit.message_id, []).append(edit)
    return found


class MessageEditService:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock

    async def edit_customer_message(
        self,
        session: AsyncSession,
        *,
        contact_id: int,
        telegram_chat_id: int,
        telegram_message_id: int,
        text: str,
    ) -> TicketMessage | None:
        """Apply a customer's Telegram edit; None if that message is not on a ticket."""
        message = await session.scalar(
            select(TicketMessage).where(
                TicketMessage.direction == MessageDirection.IN,
                TicketMessage.author_contact_id == contact_id,
                TicketMessage.telegram_chat_id == telegram_chat_id,
                TicketMessage.telegram_message_id == telegram_message_id,
            )
        )
        if message is None:
            return None
        body = clean_text(text)
        if body == message.text:
            return message
        self._keep_history(session, message, body, contact_id=contact_id)
        audit.record(
            session,
            actor=Actor.customer(contact_id),
            action="ticket.customer_message_edited",
            subject_type="ticket",
            subject_id=message.ticket_id,
            at=self.clock.now(),
            details={"message_id": message.id},
        )
        await session.flush()
        return message

    async def edit_reply(
        self,
        session: AsyncSession,
        message_id: int,
        *,
        staff: StaffUser,
        text: str,
        ticket_id: int | None = None,
    ) -> TicketMessage:
        """Change an agent's reply (its author, or an admin); a reply Telegram already shows
        gets an edit queued. `ticket_id`: the ticket the caller addressed it through."""
        message = await session.get(TicketMessage, message_id, populate_existing=True)
        if (
            message is None
            or message.direction != MessageDirection.OUT
            or ticket_id not in (None, message.ticket_id)
        ):
            raise NotFound(N_("reply {message_id} not found"), message_id=message_id)
        if message.author_staff_id != staff.id and staff.role != StaffRole.ADMIN:
            raise Forbidden(N_("only the reply's author (or an admin) can edit it"))
        body = clean_text(text)
        if body == message.text:
            return message
        edit = self._keep_history(session, message, body, staff_id=staff.id)
        # A reply still in the outbox is sent with the new text anyway; one already sent (or
        # being sent right now) needs an edit in the chat.
        if message.delivery_state in (DeliveryState.SENT, DeliveryState.PENDING):
            edit.delivery_state = DeliveryState.PENDING
            edit.next_attempt_at = self.clock.now()
            chat_id = message.telegram_chat_id or await outbox.ticket_chat(
                session, message.ticket_id
            )
            await session.flush()  # the edit's id
            outbox.enqueue(
                session,
                outbox.NO_CHAT if chat_id is None else chat_id,
                outbox.REPLY_EDIT,
                "{}",
                self.clock.now(),
                message_edit_id=edit.id,
            )
        audit.record(
            session,
            actor=Actor.staff(staff),
            action="ticket.reply_edited",
            subject_type="ticket",
            subject_id=message.ticket_id,
            at=self.clock.now(),
            details={"message_id": message.id},
        )
        await session.flush()
        return message

    def _keep_history(
        self,
        session: AsyncSession,
        message: TicketMessage,
        body: str,
        *,
        staff_id: int | None = None,
        contact_id: int | None = None,
    ) -> MessageEdit:
        now = self.clock.now()
        edit = MessageEdit(
            message_id=message.id,
            previous_text=message.text,
            new_text=body,
            editor_staff_id=staff_id,
            editor_contact_id=contact_id,
            edited_at=now,
            delivery_state=DeliveryState.NOT_APPLICABLE,
        )
        session.add(edit)
        message.text = body
        message.edited_at = now
        return edit
