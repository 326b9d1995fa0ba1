# ruff: noqa: E501  (message ids read best on one line each)
"""Stored values and codes shown in words: value -> English message id of the admin catalog
(admin/locales). Pages call `label(table, value)`; an unknown value is shown as stored.
`N_` / `NP_` only mark ids for extraction (pybabel -k N_ -k NP_:1c,2)."""

from __future__ import annotations

Message = str | tuple[str, str]  # a message id, or (context, message id)


def N_(message: str) -> str:
    return message


def NP_(context: str, message: str) -> tuple[str, str]:
    return context, message


TABLES: dict[str, dict[str, Message]] = {
    # Categories in the bot's wording (bot/texts.py): the same names everywhere.
    "category": {
        "internet": N_("Internet"),
        "voip": N_("Telephony (VoIP)"),
        "mobile": N_("Mobile"),
        "alarm_247": N_("Alarm line 24/7"),
        "billing": N_("Invoices and billing"),
        "other": N_("Something else"),
    },
    "priority": {
        "low": N_("Low"),
        "normal": N_("Normal"),
        "high": N_("High"),
        "urgent": N_("Urgent"),
    },
    "ticket_status": {
        "new": N_("New"),
        "open": N_("Open"),
        "waiting": N_("Waiting on customer"),
        "closed": N_("Closed"),
    },
    "delivery": {
        "pending": N_("queued"),
        "sent": N_("sent"),
        "failed": N_("failed, will be retried"),
        "undeliverable": N_("not delivered"),
        "n/a": N_("not sent: this ticket has no Telegram chat"),
    },
    # Keys of admin.display.delivery_reason (Telegram's error texts in plain words).
    "delivery_reason": {
        "blocked": N_("the customer has blocked the bot"),
        "deactivated": N_("the customer's Telegram account no longer exists"),
        "chat_not_found": N_("the chat with the customer does not exist (any more)"),
        "no_chat": N_("the customer has no Telegram chat or processing is restricted"),
    },
    "hold_kind": {
        "training": N_("Training"),
        "evidence": N_("Evidence of an agreement"),
    },
    "role": {
        "agent": N_("Agent"),
        "trainer": N_("Trainer"),
        "privacy_officer": N_("Privacy officer"),
        "admin": N_("Administrator"),
    },
    "service_status": {
        "active": N_("Active"),
        "ended": N_("Ended"),
    },
    "privacy_type": {
        "access": N_("Access"),
        "correction": N_("Correction"),
        "erasure": N_("Erasure"),
        "restriction": N_("Restriction of processing"),
        "objection": N_("Objection"),
        "portability": N_("Portability"),
        "consent_withdrawal": N_("Consent withdrawal"),
    },
    "privacy_status": {
        "received": N_("received"),
        "verified": N_("identity verified"),
        "done": N_("done"),
        "rejected": N_("rejected"),
    },
    "privacy_channel": {
        "telegram": N_("Telegram"),
        "letter": N_("letter"),
        "email": N_("e-mail"),
        "phone": N_("phone"),
        "admin": N_("admin"),
    },
    # storage.services.privacy.deadline_state
    "deadline": {
        "ok": N_("on time"),
        "warning": N_("within a week"),
        "overdue": N_("overdue"),
        "closed": N_("closed"),
    },
    "erasure_mode": {
        "anonymise": N_("anonymised"),
        "delete": N_("deleted"),
    },
    "document_kind": {
        "id_copy": N_("ID copy"),
        "export": N_("Export"),
    },
    "privacy_flag": {
        "restricted": N_("Processing restricted"),
        "consent_withdrawn": N_("Consent withdrawn"),
        "objected": N_("Objection made"),
    },
    # The privacy request's log (PrivacyRequestEvent.action).
    "privacy_event": {
        "received": N_("Request received"),
        "id_copy_uploaded": N_("ID copy uploaded"),
        "id_copy_deleted": N_("ID copy deleted"),
        "identity_verified": N_("Identity verified"),
        "export_created": N_("Export created"),
        "export_delivered": N_("Export delivered"),
        "erased": N_("Data erased"),
        "restricted_on": N_("Processing restricted"),
        "restricted_off": N_("Restriction of processing lifted"),
        "consent_withdrawn_on": N_("Consent withdrawn"),
        "consent_withdrawn_off": N_("Consent withdrawal lifted"),
        "objected_on": N_("Objection made"),
        "objected_off": N_("Objection lifted"),
        "done": N_("Request completed"),
        "rejected": N_("Request rejected"),
    },
    # Notice codes of admin.privacy_notify on the privacy request page.
    "privacy_notice": {
        "told": N_("The customer was told in Telegram."),
        "tell_failed": N_(
            "The Telegram message to the customer could not be sent: inform the customer another way."
        ),
        "no_bot": N_("No Telegram bot is reachable from the admin: inform the customer another way."),
        "no_chat": N_(
            "The customer cannot be reached in Telegram: inform the customer another way (letter, e-mail or phone)."
        ),
        "export_waits": N_(
            "The export can be downloaded once the identity is verified; the customer is told then."
        ),
    },
    # Audit log actions (AuditEvent.action).
    "audit_action": {
        "api_token.created": N_("API token created"),
        "api_token.revoked": N_("API token revoked"),
        "attachment.object_missing": N_("Attachment file missing"),
        "contact.created": N_("Contact person created"),
        "contact.delete": N_("Contact person deleted"),
        "contact.link_code_created": N_("Telegram link code created"),
        "contact.telegram_linked": N_("Telegram linked"),
        "contact_form.submitted": N_("Contact form sent"),
        "organisation.created": N_("Organisation created"),
        "privacy.request": N_("Privacy request recorded"),
        "privacy.verify": N_("Identity verified"),
        "privacy.close": N_("Privacy request closed"),
        "privacy.export": N_("Export created"),
        "privacy.export.delivered": N_("Export delivered"),
        "privacy.erasure": N_("Data erased"),
        "privacy.id_copy.store": N_("ID copy uploaded"),
        "privacy.restricted_on": N_("Processing restricted"),
        "privacy.restricted_off": N_("Restriction of processing lifted"),
        "privacy.consent_withdrawn_on": N_("Consent withdrawn"),
        "privacy.consent_withdrawn_off": N_("Consent withdrawal lifted"),
        "privacy.objected_on": N_("Objection made"),
        "privacy.objected_off": N_("Objection lifted"),
        "recording.delete": N_("Recording deleted"),
        "recording.download": N_("Recording downloaded"),
        "recording.hold": N_("Hold placed on a recording"),
        "recording.ingest": N_("Recording uploaded"),
        "recording.linked_to_ticket": N_("Recording linked to a ticket"),
        "recording.play": N_("Recording played"),
        "recording.release": N_("Hold on a recording released"),
        "recording.tags": N_("Recording tags changed"),
        "retention.purge": N_("Removed by the retention period"),
        "staff.created": N_("User created"),
        "staff.disabled": N_("User disabled"),
        "staff.enabled": N_("User enabled"),
        "staff.login": N_("Logged in"),
        "staff.logout": N_("Logged out"),
        "staff.password_changed": N_("Password changed"),
        "staff.role_changed": N_("Role changed"),
        "ticket.assigned": N_("Ticket assigned"),
        "ticket.category": N_("Category changed"),
        "ticket.closed": N_("Ticket closed"),
        "ticket.customer_message": N_("Customer message"),
        "ticket.customer_message_edited": N_("Customer message edited"),
        "ticket.delete": N_("Ticket deleted"),
        "ticket.note": N_("Internal note added"),
        "ticket.opened": N_("Ticket opened"),
        "ticket.priority": N_("Priority changed"),
        "ticket.reopened": N_("Ticket reopened"),
        "ticket.reply": N_("Reply sent"),
        "ticket.reply_edited": N_("Reply edited"),
    },
    "retention_rule": {
        "support_information": N_("Support information"),
        "held_messages": N_("Held messages"),
        "recordings": N_("Call recordings"),
        "recording_tombstones": N_("Traces of deleted recordings"),
        "contact_form": N_("Contact form"),
        "contact_persons": N_("Contact persons"),
        "staff_sessions": N_("Login sessions"),
        "api_tokens": NP_("retention rule", "API tokens"),
        "login_failures": N_("Failed logins"),
        "ticket_presence": N_("Also open by"),
        "audit_events": N_("Audit log"),
        "privacy_id_copies": N_("ID copies"),
        "privacy_exports": N_("Privacy exports"),
    },
    "run_status": {
        "running": N_("running"),
        "done": NP_("sweep run", "done"),
        "failed": N_("failed"),
        "interrupted": N_("interrupted"),
    },
    "run_trigger": {
        "serve": N_("automatic"),
        "cli": N_("command line"),
    },
    # Why items went (Outcome.deleted_by) or were kept back (Outcome.kept).
    "deleted_why": {
        "closed": N_("after closing"),
        "inactive": N_("never closed, inactive"),
    },
    "kept_why": {
        "open_privacy_request": N_("kept (open privacy request)"),
    },
    # Codes handed to a page: error pages, warnings, form errors and notices.
    "code": {
        "forbidden": N_("Access denied."),
        "not_found": N_("Not found."),
        "error": N_("Something went wrong."),
        "login_failed": N_("Wrong username or password."),
        "login_throttled": N_("Too many failed attempts. Please try again in 15 minutes."),
        "stale": N_(
            "The thread changed since you opened it. Read the new messages and send your reply again."
        ),
        "closed_ticket": N_("This ticket is closed."),
        "field_required": N_("This field is required."),
        "field_too_long": N_("This field is too long."),
        "field_email": N_("This is not a valid e-mail address."),
        "field_phone": N_("This is not a phone number (for example +31 6 1234 5678)."),
        "form_rate_limited": N_("You sent many messages in a short time. Please try again in an hour."),
    },
}
