# ruff: noqa: E501  (message ids read best on one line each)
"""Bot texts through aiogram's gettext i18n (Babel catalogs in bot/locales).

Message ids are the English source texts; bot/locales/{nl,en}/LC_MESSAGES/messages.po hold
the translations (Dutch first). `t(language, key)` is the call API of the bot's modules: the
key names a message below, the language is the contact's stored one. After changing texts:
  pybabel extract -F babel.cfg -k N_ -o bot/locales/messages.pot bot
  pybabel update -i bot/locales/messages.pot -d bot/locales
  pybabel compile -d bot/locales
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

from aiogram.utils.i18n import I18n
from babel.dates import format_date, format_time

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"
LOCALES_DIR = Path(__file__).parent / "locales"


def N_(message: str) -> str:
    """Marks a message id for extraction (the gettext convention); translated by `t`."""
    return message


MESSAGES: dict[str, str] = {
    "start": N_(
        "Welcome to customer support. Just send us a message: we turn it into a ticket and an agent answers here.\n\nPrivacy: we keep your messages as support information (3 years). See our privacy statement for your rights.\nChange language: /language. Help: /help."
    ),
    "help": N_(
        "Send a message to open or add to a ticket.\n/new - open a new ticket step by step\n/tickets - your open tickets\n/close - close a ticket\n/language - choose language\n/privacy - your privacy rights (access, correction, erasure, ...)\n/cancel - stop a question in progress\n/help - this help\nSeveral open tickets? Reply to one of my messages about that ticket, or pick the ticket when I ask."
    ),
    "code_invalid": N_("This code is invalid or has expired. Ask our support desk for a new code."),
    "linked": N_(
        "Your Telegram account is now linked to your customer account. Your tickets are handled for your organisation from now on."
    ),
    "ticket_opened": N_(
        "Thank you! Your ticket {reference} has been created. An agent will get back to you."
    ),
    "added_to": N_("Added to ticket {reference}."),
    "added_to_recent": N_(
        "You have several open tickets; your message was added to the most recent one, {reference}. Meant another ticket? Reply to one of my messages about that ticket."
    ),
    "which_ticket": N_("You have several open tickets. Which one is this message about?"),
    "new_ticket_button": N_("A new ticket"),
    "held_gone": N_("This message has already been filed."),
    "which_ticket_again": N_(
        "Your message is still waiting: which ticket is it about? If you do not choose, it is added to the most recent one, {reference}, in {minutes} minutes."
    ),
    "held_filed_recent": N_(
        "You did not choose a ticket, so your message was added to the most recent one, {reference}."
    ),
    "no_open": N_("You have no open tickets. Send a message to open one."),
    "tickets_header": N_("Your open tickets:"),
    "ticket_line": N_("{reference} - {status} - last activity {activity}\n  {subject}"),
    "close_choose": N_("Which ticket do you want to close?"),
    "closed": N_("Ticket {reference} is closed. A new message opens a new ticket."),
    "closed_one_left": N_(
        "Ticket {reference} is closed. Still open: {remaining}. Your next message is added to that ticket; to start another one, use /new."
    ),
    "closed_several_left": N_(
        "Ticket {reference} is closed. Still open: {remaining}. With your next message I will ask which ticket it is about."
    ),
    "agent_closed": N_(
        "Ticket {reference} ({subject}) has been closed by our support desk."
    ),
    "agent_reopened": N_(
        "Ticket {reference} ({subject}) has been reopened by our support desk. Reply to this message to add something to it."
    ),
    "reply_reference": N_("About ticket {reference}:"),
    "not_yours": N_("This ticket is not yours."),
    "language_choose": N_("Choose your language:"),
    "language_set": N_("The language is now English."),
    "unknown_command": N_("Unknown command. See /help."),
    "error": N_("Something went wrong while handling your message. Could you try again?"),
    "media_too_large": N_(
        "This file is larger than {limit} and could not be stored. Your ticket {reference} has a note of it."
    ),
    # Telegram would not hand the file over (over its 20 MB download limit, or expired).
    "media_refused": N_(
        "Telegram did not let us fetch this file (files over 20 MB cannot be passed on, or the file is no longer available), so it could not be stored. Your ticket {reference} has a note of it. Could you send a smaller file?"
    ),
    "status_new": N_("new"),
    "status_open": N_("in progress"),
    "status_waiting": N_("waiting for your reply"),
    "status_closed": N_("closed"),
    "category_ask": N_("What is it about? Your message is kept whatever you choose."),
    "category_set": N_("Thank you, ticket {reference} is filed under {category}."),
    "category_internet": N_("Internet"),
    "category_voip": N_("Telephony (VoIP)"),
    "category_mobile": N_("Mobile"),
    "category_alarm_247": N_("Alarm line 24/7"),
    "category_billing": N_("Invoices and billing"),
    "category_other": N_("Something else"),
    "new_category": N_("New ticket. First choose the subject:"),
    "new_describe": N_("Describe your question or problem in one message."),
    "new_need_text": N_(
        "Kept. Now please describe your question or problem in a text message, or /cancel to stop."
    ),
    "new_attach": N_(
        "Would you like to add photos or documents? Send them now, or press Continue."
    ),
    "new_attached": N_("Attachment received ({count}). More, or Continue?"),
    "new_attach_described": N_(
        "Thank you, your description is kept. Would you like to add photos or documents? Send them now, or press Continue."
    ),
    "new_added": N_("Added to your ticket. More, or Continue?"),
    "new_kept_choose": N_(
        "Thank you, this is kept for your ticket. Now choose the subject with the buttons below, or /cancel to stop."
    ),
    "continue_button": N_("Continue"),
    "new_confirm": N_(
        "Please check your ticket:\nSubject: {category}\n{description}\nAttachments: {count}\nSend it?"
    ),
    "send_button": N_("Send"),
    "cancel_button": N_("Cancel"),
    "new_cancelled": N_("Cancelled; no ticket was created."),
    "new_cancel_ask": N_(
        "Stop this new ticket? What you wrote has not been sent yet. Send it as a ticket ({category}), or discard it?"
    ),
    "new_cancel_file_button": N_("Send it as a ticket"),
    "new_cancel_discard_button": N_("Discard"),
    "new_discarded": N_("Discarded; no ticket was created."),
    "category_ask_later": N_("subject still to choose"),
    "continue_with": N_("Done. Send {command} again to continue."),
    "nothing_to_cancel": N_("There is nothing to cancel."),
    "after_hours": N_(
        "We are closed right now (office hours Mon-Fri 9:00-17:30). An agent will look at your ticket from {moment}."
    ),
    "button_stale": N_("This button is no longer valid."),
    # /privacy (bot/privacy.py); privacy_right_<RequestType value> label its buttons.
    "privacy_summary": N_(
        "Privacy at Dynamic Telecom BV\n\nWe keep your support questions (tickets, messages, attachments) 3 years after closing, call recordings 90 days (longer only under a training or evidence hold) and contact-form messages 1 year. The name, phone number and e-mail address of your organisation's contact person are kept until the end of the service.\n\nUsage data of fixed and mobile telephony (who was called, where, when and how much) and traffic data of e-mail, telephony and internet under a legal interception obligation or information request are kept 6 months. This support chat does not store them.\n\nYou have the right of access, correction, erasure, restriction of processing, objection, portability of your data and withdrawing consent. We answer within one month. Choose a right below to make a request; we will then ask you to confirm your identity.\n\nQuestions: privacy@dynamictelcom.nl{link}"
    ),
    "privacy_link": N_("\nPrivacy statement: {url}"),
    "privacy_confirmed": N_(
        "Your request ({right}) was received as number P-{id}. We will answer by {deadline} at the latest. We will contact you to confirm your identity."
    ),
    "privacy_already_open": N_(
        "Your request ({right}) is already being handled as number P-{id}. We will answer by {deadline} at the latest."
    ),
    "privacy_download": N_("Download your data (ZIP)"),
    "privacy_delivered": N_("Here is your data. The export is deleted after 7 days."),
    "privacy_no_export": N_("No export is waiting for you any more."),
    "privacy_confirm_ask": N_(
        "Do you want to make a privacy request: {right}? We will then contact you to confirm your identity."
    ),
    "privacy_confirm_button": N_("Yes, make the request"),
    "privacy_right_access": N_("Access"),
    "privacy_right_correction": N_("Correction"),
    "privacy_right_erasure": N_("Erasure"),
    "privacy_right_restriction": N_("Restriction"),
    "privacy_right_objection": N_("Objection"),
    "privacy_right_portability": N_("Portability"),
    "privacy_right_consent_withdrawal": N_("Withdraw consent"),
    "privacy_done": N_("Your privacy request P-{id} is done: {outcome}"),
    "privacy_rejected": N_("Your privacy request P-{id} was rejected: {outcome}"),
    "privacy_export_ready": N_(
        "Your export for request P-{id} is ready: use /privacy to download it. It is deleted after 7 days."
    ),
    "privacy_ask_correction": N_(
        "Which of the data we keep about you is wrong, and how should it read? Send it in one message, or /cancel to stop."
    ),
    "privacy_ask_objection": N_(
        "What do you object to, and why? Send it in one message, or /cancel to stop."
    ),
    "privacy_need_text": N_(
        "Please describe it in one text message (at most 4000 characters), or /cancel to stop."
    ),
    "privacy_cancelled": N_("Stopped: no request was made."),
    # A failed update kept for an automatic retry (bot/inbox_notice.py).
    "update_received": N_(
        "We have received your message and will process it shortly. There is no need to send it again."
    ),
}


def create_i18n() -> I18n:
    """The compiled catalogs; built once by the dispatcher factory."""
    return I18n(path=LOCALES_DIR, default_locale=DEFAULT_LANGUAGE, domain="messages")


def language_of(code: str | None) -> str:
    """The catalog language for a Telegram language_code (nl unless it is English)."""
    if code and code.lower().split("-")[0] == "en":
        return "en"
    return DEFAULT_LANGUAGE


def t(language: str, key: str, **values: Any) -> str:
    """The text `key` in `language`, through the I18n the current update runs under."""
    i18n = I18n.get_current(no_error=True)
    if i18n is None:
        raise LookupError("bot texts need the I18n context of the dispatcher")
    return translate(i18n, language, key, **values)


def translate(i18n: I18n, language: str, key: str, **values: Any) -> str:
    """`t` with the catalogs given: for code outside an update's handling."""
    lang = language if language in LANGUAGES else DEFAULT_LANGUAGE
    text = i18n.gettext(MESSAGES[key], locale=lang)
    return text.format(**values) if values else text


class FiledNoticeText:
    """storage.services.unfiled.FiledNotice: what the customer is told when their message
    was filed without their ticket choice."""

    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    def __call__(self, language: str, reference: str, *, opened: bool) -> str:
        key = "ticket_opened" if opened else "held_filed_recent"
        return translate(self.i18n, language, key, reference=reference)


def day_text(language: str, day: date) -> str:
    """A date as the customer's language writes it: '7 januari 2027' / 'January 7, 2027'."""
    return format_date(day, "long", locale=_locale(language))


def moment_text(language: str, moment: datetime) -> str:
    """A date and time in the customer's language: '7 jan 2027, 14:05' / 'Jan 7, 2027, 2:05 PM'."""
    locale = _locale(language)
    return f"{format_date(moment, 'medium', locale=locale)}, {format_time(moment, 'short', locale=locale)}"


def _locale(language: str) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE
