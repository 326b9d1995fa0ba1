"""Dutch and English labels of the privacy desk pages."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "nl": {
        "title": "Privacyverzoeken",
        "new": "Verzoek vastleggen",
        "new_intro": "Leg een verzoek vast dat per brief, e-mail of telefoon binnenkwam. De "
        "termijn (één maand) loopt vanaf de ontvangst.",
        "recorded": "Verzoek vastgelegd; de privacy officer neemt het op.",
        "contact": "Contactpersoon (#)",
        "subject": "Betrokkene",
        "type": "Soort",
        "channel": "Kanaal",
        "received": "Ontvangen op",
        "details": "Toelichting",
        "deadline": "Uiterste datum",
        "status": "Status",
        "ok": "op tijd",
        "warning": "binnen een week",
        "overdue": "te laat",
        "closed": "afgehandeld",
        "none": "Geen verzoeken.",
        "gone": "verwijderd",
        "log": "Verloop",
        "verify": "Identiteit gecontroleerd",
        "verified": "Identiteit gecontroleerd op",
        "id_copy": "Kopie identiteitsbewijs uploaden",
        "id_copy_note": "Alleen bewaard tot de identiteit is gecontroleerd (dan automatisch "
        "verwijderd), nooit langer dan 7 dagen. JPEG, PNG of PDF, max. 10 MB.",
        "upload": "Uploaden",
        "files": "Tijdelijke bestanden",
        "expires": "verloopt",
        "deleted": "verwijderd",
        "export": "Export maken (ZIP)",
        "export_note": "Alle gegevens over de betrokkene als JSON en CSV, met bijlagen; 7 dagen "
        "te downloaden.",
        "erase": "Gegevens wissen",
        "erase_note": "Verwijdert alles over de betrokkene; wat onder een bewijsblokkade valt "
        "blijft bewaard met de grond. Tickets worden: ",
        "confirm": "Ik begrijp dat dit niet ongedaan kan worden",
        "flags": "Gevolgen",
        "restricted": "Verwerking beperkt",
        "consent_withdrawn": "Toestemming ingetrokken",
        "objected": "Bezwaar gemaakt",
        "on": "Aanzetten",
        "off": "Opheffen",
        "outcome": "Uitkomst",
        "done": "Afronden",
        "reject": "Afwijzen",
        "save": "Vastleggen",
        # Values shown on the pages: never the raw enum/setting value (issue: Dutch desk).
        "type_access": "Inzage",
        "type_correction": "Correctie",
        "type_erasure": "Verwijdering",
        "type_restriction": "Beperking van de verwerking",
        "type_objection": "Bezwaar",
        "type_portability": "Overdraagbaarheid",
        "type_consent_withdrawal": "Intrekken toestemming",
        "status_received": "ontvangen",
        "status_verified": "identiteit gecontroleerd",
        "status_done": "afgerond",
        "status_rejected": "afgewezen",
        "channel_telegram": "Telegram",
        "channel_letter": "brief",
        "channel_email": "e-mail",
        "channel_phone": "telefoon",
        "channel_admin": "beheeromgeving",
        "mode_anonymise": "geanonimiseerd",
        "mode_delete": "verwijderd",
        "err_confirm": "Vink de bevestiging aan: wissen kan niet ongedaan worden gemaakt.",
        "err_verify_first": "Controleer eerst de identiteit van de aanvrager voordat u wist.",
        "err_subject_gone": "De betrokkene van dit verzoek bestaat niet meer.",
        "err_closed": "Dit verzoek is al afgehandeld.",
        "err_already_verified": "De identiteit is al gecontroleerd.",
        "err_already_verified_copy": "De identiteit is al gecontroleerd: er wordt geen kopie "
        "identiteitsbewijs bewaard.",
        "err_outcome": "Uitkomst: beschrijf wat er is gedaan (of waarom niet).",
        "err_outcome_long": "Uitkomst: maximaal 8000 tekens.",
        "err_id_type": "Kopie identiteitsbewijs: upload een JPEG, PNG of PDF.",
        "err_id_size": "Kopie identiteitsbewijs: 1 byte tot 10 MB.",
        "err_other": "Deze handeling is geweigerd:",
        "notice_told": "De klant heeft via Telegram bericht gekregen.",
        "notice_tell_failed": "Het Telegram-bericht aan de klant kon niet worden verstuurd: "
        "informeer de klant op een andere manier.",
        "notice_no_bot": "Er is geen Telegram-bot bereikbaar vanuit de beheeromgeving: "
        "informeer de klant op een andere manier.",
        "notice_no_chat": "De klant is niet via Telegram bereikbaar: informeer de klant op een "
        "andere manier (brief, e-mail of telefoon).",
        "notice_export_waits": "De export is te downloaden zodra de identiteit is "
        "gecontroleerd; de klant krijgt dan bericht.",
    },
    "en": {
        "title": "Privacy requests",
        "new": "Record a request",
        "new_intro": "Record a request received by letter, e-mail or phone. The deadline (one "
        "month) runs from its receipt.",
        "recorded": "Request recorded; the privacy officer takes it from here.",
        "contact": "Contact person (#)",
        "subject": "Data subject",
        "type": "Type",
        "channel": "Channel",
        "received": "Received on",
        "details": "Details",
        "deadline": "Deadline",
        "status": "Status",
        "ok": "on time",
        "warning": "within a week",
        "overdue": "overdue",
        "closed": "closed",
        "none": "No requests.",
        "gone": "erased",
        "log": "Log",
        "verify": "Identity verified",
        "verified": "Identity verified on",
        "id_copy": "Upload a copy of the ID document",
        "id_copy_note": "Kept only until the identity is verified (then deleted automatically), "
        "never longer than 7 days. JPEG, PNG or PDF, at most 10 MB.",
        "upload": "Upload",
        "files": "Temporary files",
        "expires": "expires",
        "deleted": "deleted",
        "export": "Make an export (ZIP)",
        "export_note": "All data about the data subject as JSON and CSV, with attachments; "
        "downloadable for 7 days.",
        "erase": "Erase data",
        "erase_note": "Removes everything about the data subject; what is under an evidence hold "
        "is kept, with its ground. Tickets are: ",
        "confirm": "I understand this cannot be undone",
        "flags": "Effects",
        "restricted": "Processing restricted",
        "consent_withdrawn": "Consent withdrawn",
        "objected": "Objection made",
        "on": "Turn on",
        "off": "Lift",
        "outcome": "Outcome",
        "done": "Complete",
        "reject": "Reject",
        "save": "Record",
        "type_access": "Access",
        "type_correction": "Correction",
        "type_erasure": "Erasure",
        "type_restriction": "Restriction of processing",
        "type_objection": "Objection",
        "type_portability": "Portability",
        "type_consent_withdrawal": "Consent withdrawal",
        "status_received": "received",
        "status_verified": "identity verified",
        "status_done": "done",
        "status_rejected": "rejected",
        "channel_telegram": "Telegram",
        "channel_letter": "letter",
        "channel_email": "e-mail",
        "channel_phone": "phone",
        "channel_admin": "admin",
        "mode_anonymise": "anonymised",
        "mode_delete": "deleted",
        "err_confirm": "Tick the confirmation: erasure cannot be undone.",
        "err_verify_first": "Verify the requester's identity before erasing.",
        "err_subject_gone": "The subject of this request no longer exists.",
        "err_closed": "This request is already closed.",
        "err_already_verified": "The identity is already verified.",
        "err_already_verified_copy": "The identity is already verified: no ID copy is kept.",
        "err_outcome": "Outcome: describe what was done (or why not).",
        "err_outcome_long": "Outcome: at most 8000 characters.",
        "err_id_type": "ID copy: upload a JPEG, PNG or PDF.",
        "err_id_size": "ID copy: 1 byte to 10 MB.",
        "err_other": "The action was refused:",
        "notice_told": "The customer was told in Telegram.",
        "notice_tell_failed": "The Telegram message to the customer could not be sent: inform "
        "the customer another way.",
        "notice_no_bot": "No Telegram bot is reachable from the admin: inform the customer "
        "another way.",
        "notice_no_chat": "The customer cannot be reached in Telegram: inform the customer "
        "another way (letter, e-mail or phone).",
        "notice_export_waits": "The export can be downloaded once the identity is verified; the "
        "customer is told then.",
    },
}


# A refusal reaches the page as the code below (never as English text); the service's
# messages are English, so the known ones are mapped to their code here.
ERROR_CODES: dict[str, str] = {
    "the subject of this request no longer exists": "subject_gone",
    "verify the requester's identity before erasing": "verify_first",
    "identity already verified": "already_verified",
    "identity already verified: no ID copy is kept": "already_verified_copy",
    "outcome: describe what was done (or why not)": "outcome",
    "outcome: at most 8000 characters": "outcome_long",
    "id copy: upload a JPEG, PNG or PDF": "id_type",
    "id copy: 1 byte to 10 MB": "id_size",
}


def error_text(labels: dict[str, str], code: str) -> str:
    """The page's message for a refusal code; an unknown one (a message the service added
    later) is shown after a translated lead-in rather than dropped."""
    if code.endswith(" is already closed") and code.startswith("privacy request "):
        return labels["err_closed"]
    known = labels.get(f"err_{code}")
    if known:
        return known
    mapped = ERROR_CODES.get(code)
    return labels[f"err_{mapped}"] if mapped else f"{labels['err_other']} {code}"
