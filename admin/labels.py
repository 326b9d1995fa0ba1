# ruff: noqa: E501  (message ids read best on one line each)
"""Stored values and codes shown in words: value -> English message id of the admin catalog
(admin/locales). Pages call `label(table, value)`; an unknown value is shown as stored.
`L_` / `LP_` only mark ids for extraction (pybabel -k L_ -k LP_:1c,2; `N_` marks service errors, another domain)."""

from __future__ import annotations

Message = str | tuple[str, str]  # a message id, or (context, message id)


def L_(message: str) -> str:
    return message


def LP_(context: str, message: str) -> tuple[str, str]:
    return context, message


TABLES: dict[str, dict[str, Message]] = {
    # Categories in the bot's wording (bot/texts.py): the same names everywhere.
    "category": {
        "internet": L_("Internet"),
        "voip": L_("Telephony (VoIP)"),
        "mobile": L_("Mobile"),
        "alarm_247": L_("Alarm line 24/7"),
        "billing": L_("Invoices and billing"),
        "other": L_("Something else"),
    },
    # What the placeholders of saved replies stand for (storage/services/saved_replies.py).
    "placeholder": {
        "customer_name": L_("the customer's name"),
        "ticket_reference": L_("the ticket's reference"),
        "agent_name": L_("your name"),
    },
    "priority": {
        "low": L_("Low"),
        "normal": L_("Normal"),
        "high": L_("High"),
        "urgent": L_("Urgent"),
    },
    "ticket_status": {
        "new": L_("New"),
        "open": L_("Open"),
        "waiting": L_("Waiting on customer"),
        "closed": L_("Closed"),
    },
    "delivery": {
        "pending": L_("queued"),
        "sent": L_("sent"),
        "failed": L_("failed: no more attempts"),
        "undeliverable": L_("not delivered"),
        "n/a": L_("not sent: this ticket has no Telegram chat"),
    },
    # Keys of admin.display.delivery_reason (Telegram's error texts in plain words).
    "delivery_reason": {
        "blocked": L_("the customer has blocked the bot"),
        "deactivated": L_("the customer's Telegram account no longer exists"),
        "chat_not_found": L_("the chat with the customer does not exist (any more)"),
        "no_chat": L_("the customer has no Telegram chat or processing is restricted"),
    },
    "hold_kind": {
        "training": L_("Training"),
        "evidence": L_("Evidence of an agreement"),
    },
    "role": {
        "agent": L_("Agent"),
        "trainer": L_("Trainer"),
        "privacy_officer": L_("Privacy officer"),
        "admin": L_("Administrator"),
    },
    "service_status": {
        "active": L_("Active"),
        "ended": L_("Ended"),
    },
    "privacy_type": {
        "access": L_("Access"),
        "correction": L_("Correction"),
        "erasure": L_("Erasure"),
        "restriction": L_("Restriction of processing"),
        "objection": L_("Objection"),
        "portability": L_("Portability"),
        "consent_withdrawal": L_("Consent withdrawal"),
    },
    "privacy_status": {
        "received": L_("received"),
        "verified": L_("identity verified"),
        "done": L_("done"),
        "rejected": L_("rejected"),
    },
    "privacy_channel": {
        "telegram": L_("Telegram"),
        "letter": L_("letter"),
        "email": L_("e-mail"),
        "phone": L_("phone"),
        "admin": L_("admin"),
    },
    # storage.services.privacy.deadline_state
    "deadline": {
        "ok": L_("on time"),
        "warning": L_("within a week"),
        "overdue": L_("overdue"),
        "closed": L_("closed"),
    },
    "erasure_mode": {
        "anonymise": L_("anonymised"),
        "delete": L_("deleted"),
    },
    "document_kind": {
        "id_copy": L_("ID copy"),
        "export": L_("Export"),
    },
    "privacy_flag": {
        "restricted": L_("Processing restricted"),
        "consent_withdrawn": L_("Consent withdrawn"),
        "objected": L_("Objection made"),
    },
    # The privacy request's log (PrivacyRequestEvent.action).
    "privacy_event": {
        "received": L_("Request received"),
        "id_copy_uploaded": L_("ID copy uploaded"),
        "id_copy_deleted": L_("ID copy deleted"),
        "identity_verified": L_("Identity verified"),
        "export_created": L_("Export created"),
        "export_delivered": L_("Export delivered"),
        "erased": L_("Data erased"),
        "restricted_on": L_("Processing restricted"),
        "restricted_off": L_("Restriction of processing lifted"),
        "consent_withdrawn_on": L_("Consent withdrawn"),
        "consent_withdrawn_off": L_("Consent withdrawal lifted"),
        "objected_on": L_("Objection made"),
        "objected_off": L_("Objection lifted"),
        "done": L_("Request completed"),
        "rejected": L_("Request rejected"),
    },
    # Notice codes of admin.privacy_notify on the privacy request page.
    "privacy_notice": {
        "told": L_("The customer was told in Telegram."),
        "tell_queued": L_(
            "Telegram is not answering right now: the message to the customer is sent as soon as it is back."
        ),
        "tell_failed": L_(
            "The Telegram message to the customer could not be sent: inform the customer another way."
        ),
        "no_bot": L_("No Telegram bot is reachable from the admin: inform the customer another way."),
        "no_chat": L_(
            "The customer cannot be reached in Telegram: inform the customer another way (letter, e-mail or phone)."
        ),
        "export_waits": L_(
            "The export can be downloaded once the identity is verified; the customer is told then."
        ),
    },
    # What an audit entry is about (AuditEvent.subject_type).
    "audit_subject": {
        "attachment": L_("attachment"),
        "contact": L_("contact person"),
        "contact_form_submission": L_("contact form"),
        "organisation": L_("organisation"),
        "privacy_document": L_("privacy file"),
        "privacy_request": L_("privacy request"),
        "recording": L_("recording"),
        "staff_user": L_("staff user"),
        "ticket": L_("ticket"),
    },
    # Audit log actions (AuditEvent.action).
    "audit_action": {
        "api_token.created": L_("API token created"),
        "api_token.revoked": L_("API token revoked"),
        "attachment.object_missing": L_("Attachment file missing"),
        "attachment.version_adopted": L_("Attachment file re-linked after a bucket restore"),
        "contact.created": L_("Contact person created"),
        "contact.delete": L_("Contact person deleted"),
        "contact.link_code_created": L_("Telegram link code created"),
        "contact.telegram_linked": L_("Telegram linked"),
        "contact_form.submitted": L_("Contact form sent"),
        "organisation.created": L_("Organisation created"),
        "privacy.request": L_("Privacy request recorded"),
        "privacy.verify": L_("Identity verified"),
        "privacy.close": L_("Privacy request closed"),
        "privacy.export": L_("Export created"),
        "privacy.export.delivered": L_("Export delivered"),
        "privacy.erasure": L_("Data erased"),
        "privacy.id_copy.store": L_("ID copy uploaded"),
        "privacy.restricted_on": L_("Processing restricted"),
        "privacy.restricted_off": L_("Restriction of processing lifted"),
        "privacy.consent_withdrawn_on": L_("Consent withdrawn"),
        "privacy.consent_withdrawn_off": L_("Consent withdrawal lifted"),
        "privacy.objected_on": L_("Objection made"),
        "privacy.objected_off": L_("Objection lifted"),
        "recording.delete": L_("Recording deleted"),
        "recording.download": L_("Recording downloaded"),
        "recording.hold": L_("Hold placed on a recording"),
        "recording.ingest": L_("Recording uploaded"),
        "recording.linked_to_ticket": L_("Recording linked to a ticket"),
        "recording.note_added": L_("Training note added to a recording"),
        "recording.note_deleted": L_("Training note deleted from a recording"),
        "recording.play": L_("Recording played"),
        "recording.release": L_("Hold on a recording released"),
        "recording.tags": L_("Recording tags changed"),
        "recording.version_adopted": L_("Recording file re-linked after a bucket restore"),
        "retention.purge": L_("Removed by the retention period"),
        "staff.created": L_("User created"),
        "staff.disabled": L_("User disabled"),
        "staff.enabled": L_("User enabled"),
        "staff.login": L_("Logged in"),
        "staff.logout": L_("Logged out"),
        "staff.password_changed": L_("Password changed"),
        "staff.role_changed": L_("Role changed"),
        "ticket.assigned": L_("Ticket assigned"),
        "ticket.category": L_("Category changed"),
        "ticket.closed": L_("Ticket closed"),
        "ticket.customer_message": L_("Customer message"),
        "ticket.customer_message_edited": L_("Customer message edited"),
        "ticket.delete": L_("Ticket deleted"),
        "ticket.note": L_("Internal note added"),
        "ticket.opened": L_("Ticket opened"),
        "ticket.priority": L_("Priority changed"),
        "ticket.reopened": L_("Ticket reopened"),
        "ticket.reply": L_("Reply sent"),
        "ticket.reply_edited": L_("Reply edited"),
    },
    "retention_rule": {
        "support_information": L_("Support information"),
        "held_messages": L_("Held messages"),
        "recordings": L_("Call recordings"),
        "training_holds": L_("Training holds"),
        "organisation_service_data": L_("Billing name and delivery address"),
        "recording_tombstones": L_("Traces of deleted recordings"),
        "contact_form": L_("Contact form"),
        "contact_persons": L_("Contact persons"),
        "staff_sessions": L_("Login sessions"),
        "api_tokens": LP_("retention rule", "API tokens"),
        "login_failures": L_("Failed logins"),
        "ticket_presence": L_("Also open by"),
        "audit_events": L_("Audit log"),
        "privacy_id_copies": L_("ID copies"),
        "privacy_exports": L_("Privacy exports"),
    },
    "run_status": {
        "running": L_("running"),
        "done": LP_("sweep run", "done"),
        "failed": L_("failed"),
        "interrupted": L_("interrupted"),
    },
    "run_trigger": {
        "serve": L_("automatic"),
        "cli": L_("command line"),
    },
    # Why items went (Outcome.deleted_by) or were kept back (Outcome.kept).
    "deleted_why": {
        "closed": L_("after closing"),
        "inactive": L_("never closed, inactive"),
        "review_passed": L_("released (review date passed)"),
    },
    "kept_why": {
        "open_privacy_request": L_("kept (open privacy request)"),
        "filed": L_("filed on the most recent open ticket"),
        "not_filed": L_("kept (not filed on a ticket yet)"),
    },
    # Codes handed to a page: error pages, warnings, form errors and notices.
    "code": {
        "forbidden": L_("Access denied."),
        "not_found": L_("Not found."),
        "error": L_("Something went wrong."),
        "login_failed": L_("Wrong username or password."),
        "login_throttled": L_("Too many failed attempts."),
        "stale": L_(
            "The thread changed since you opened it. Read the new messages and send your reply again."
        ),
        "closed_ticket": L_("This ticket is closed."),
        "field_required": L_("This field is required."),
        "field_too_long": L_("This field is too long."),
        "field_email": L_("This is not a valid e-mail address."),
        "field_phone": L_("This is not a phone number (for example +31 6 1234 5678)."),
        "field_choice": L_("Choose one of the options."),
        "form_rate_limited": L_("You sent many messages in a short time. Please try again in an hour."),
    },
}
