# ruff: noqa: E501  (catalog texts read best on one line each)
"""Message catalog for the bot, keyed by language (nl default, en).

A small in-repo dict for now; to be replaced by aiogram's gettext i18n with Babel catalogs.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("nl", "en")
DEFAULT_LANGUAGE = "nl"

CATALOG: dict[str, dict[str, str]] = {
    "nl": {
        "start": (
            "Welkom bij de klantenservice. Stuur ons gewoon een bericht: we maken er een "
            "ticket van en een medewerker antwoordt hier.\n\n"
            "Privacy: we bewaren uw berichten als supportinformatie (3 jaar). "
            "Zie onze privacyverklaring voor uw rechten.\n"
            "Taal wijzigen: /language. Hulp: /help."
        ),
        "help": (
            "Stuur een bericht om een ticket te openen of aan te vullen.\n"
            "/tickets - uw open tickets\n/close - een ticket sluiten\n"
            "/language - taal kiezen\n/help - deze hulp\n"
            "Meerdere open tickets? Antwoord (reply) op een bericht van mij over dat ticket."
        ),
        "code_invalid": "Deze code is ongeldig of verlopen. Vraag uw contactpersoon om een nieuwe code.",
        "ticket_opened": "Bedankt! Uw ticket {reference} is aangemaakt. Een medewerker neemt contact met u op.",
        "added_to": "Toegevoegd aan ticket {reference}.",
        "added_to_recent": (
            "U heeft meerdere open tickets; uw bericht is toegevoegd aan het meest recente, "
            "{reference}. Bedoelde u een ander ticket? Antwoord dan (reply) op een bericht "
            "van mij over dat ticket."
        ),
        "no_open": "U heeft geen open tickets. Stuur een bericht om er een te openen.",
        "tickets_header": "Uw open tickets:",
        "ticket_line": "{reference} - {status} - laatste activiteit {activity}\n  {subject}",
        "close_choose": "Welk ticket wilt u sluiten?",
        "closed": "Ticket {reference} is gesloten. Een nieuw bericht opent een nieuw ticket.",
        "not_yours": "Dit ticket hoort niet bij u.",
        "language_choose": "Kies uw taal:",
        "language_set": "De taal is nu Nederlands.",
        "unknown_command": "Onbekend commando. Zie /help.",
        "error": "Er ging iets mis bij het verwerken van uw bericht. Probeert u het opnieuw?",
        "media_too_large": "Dit bestand is groter dan {limit} MB en kon niet worden opgeslagen. Uw ticket {reference} heeft er wel een notitie van.",
        "status_new": "nieuw",
        "status_open": "in behandeling",
        "status_waiting": "wacht op uw reactie",
        "status_closed": "gesloten",
    },
    "en": {
        "start": (
            "Welcome to customer support. Just send us a message: we turn it into a ticket "
            "and an agent answers here.\n\n"
            "Privacy: we keep your messages as support information (3 years). "
            "See our privacy statement for your rights.\n"
            "Change language: /language. Help: /help."
        ),
        "help": (
            "Send a message to open or add to a ticket.\n"
            "/tickets - your open tickets\n/close - close a ticket\n"
            "/language - choose language\n/help - this help\n"
            "Several open tickets? Reply to one of my messages about that ticket."
        ),
        "code_invalid": "This code is invalid or has expired. Ask your contact for a new code.",
        "ticket_opened": "Thank you! Your ticket {reference} has been created. An agent will get back to you.",
        "added_to": "Added to ticket {reference}.",
        "added_to_recent": (
            "You have several open tickets; your message was added to the most recent one, "
            "{reference}. Meant another ticket? Reply to one of my messages about that ticket."
        ),
        "no_open": "You have no open tickets. Send a message to open one.",
        "tickets_header": "Your open tickets:",
        "ticket_line": "{reference} - {status} - last activity {activity}\n  {subject}",
        "close_choose": "Which ticket do you want to close?",
        "closed": "Ticket {reference} is closed. A new message opens a new ticket.",
        "not_yours": "This ticket is not yours.",
        "language_choose": "Choose your language:",
        "language_set": "The language is now English.",
        "unknown_command": "Unknown command. See /help.",
        "error": "Something went wrong while handling your message. Could you try again?",
        "media_too_large": "This file is larger than {limit} MB and could not be stored. Your ticket {reference} has a note of it.",
        "status_new": "new",
        "status_open": "in progress",
        "status_waiting": "waiting for your reply",
        "status_closed": "closed",
    },
}


def language_of(code: str | None) -> str:
    """The catalog language for a Telegram language_code (nl unless it is English)."""
    if code and code.lower().split("-")[0] == "en":
        return "en"
    return DEFAULT_LANGUAGE


def t(language: str, key: str, **values: Any) -> str:
    catalog = CATALOG.get(language, CATALOG[DEFAULT_LANGUAGE])
    text = catalog.get(key) or CATALOG[DEFAULT_LANGUAGE][key]
    return text.format(**values) if values else text
