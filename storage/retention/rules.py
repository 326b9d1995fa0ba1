"""The retention schedule as data: ONE table (RULES), read by the sweeper, `supportdesk
sweep --dry-run` and the admin schedule page, so what is shown is what runs.

Each rule says, in Dutch and English, which data it covers, its period, the moment the
period starts, the legal ground and the controller, after the privacy statement's table.
Periods can be changed per deployment with SUPPORTDESK_RETENTION_PERIODS (JSON, days by
rule key, e.g. {"recordings": 60}).

Adding a rule = one `Rule(...)` entry in RULES below + one sweep function (see the contract
at the top of storage/retention/jobs.py; keep the function next to the data it deletes).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta

from storage.retention import jobs, privacy_files

SweepFn = Callable[[jobs.Job], Awaitable[jobs.Outcome]]


@dataclass(frozen=True)
class Text:
    nl: str
    en: str

    def get(self, lang: str) -> str:
        return self.en if lang == "en" else self.nl


US = Text("Dynamic Telecom BV", "Dynamic Telecom BV")
CONTRACT = Text("Uitvoering overeenkomst", "Performance of the contract")
INTEREST_RECORDINGS = Text(
    "Gerechtvaardigd belang: training van supportmedewerkers en bewijs van gemaakte afspraken",
    "Legitimate interest: training support staff and evidence of agreements made",
)
SECURITY = Text(
    "Gerechtvaardigd belang: beveiliging van de beheeromgeving",
    "Legitimate interest: security of the admin environment",
)
ACCOUNTABILITY = Text(
    "Wettelijke verplichting: verantwoording (AVG art. 5 lid 2)",
    "Legal obligation: accountability (GDPR art. 5(2))",
)
YEAR = 365


@dataclass(frozen=True)
class Rule:
    key: str
    data: Text
    period: timedelta
    start: Text
    ground: Text
    controller: Text
    sweep: SweepFn

    @property
    def days(self) -> int:
        return self.period.days

    def period_text(self, lang: str) -> str:
        days = self.period.days
        if days == 0:
            return "direct" if lang != "en" else "immediately"
        if days % YEAR == 0:
            years = days // YEAR
            return f"{years} jaar" if lang != "en" else f"{years} year{'s' * (years > 1)}"
        return f"{days} dagen" if lang != "en" else f"{days} days"


RULES: tuple[Rule, ...] = (
    Rule(
        key="support_information",
        data=Text(
            "Informatie aangeleverd door gebruiker voor supportvragen: tickets, berichten "
            "en bijlagen",
            "Information supplied for support questions: tickets, messages and attachments",
        ),
        period=timedelta(days=3 * YEAR),
        start=Text("na het sluiten van het ticket", "after the ticket was closed"),
        ground=CONTRACT,
        controller=US,
        sweep=jobs.support_information,
    ),
    Rule(
        key="held_messages",
        data=Text(
            "Berichten aan de bot die wachten tot u kiest voor welk ticket ze zijn (eenmaal "
            "gekozen horen ze bij dat ticket)",
            "Messages to the bot waiting for you to choose their ticket (once chosen they "
            "are part of that ticket)",
        ),
        period=timedelta(days=30),
        start=Text(
            "na ontvangst, als er geen ticket is gekozen", "after receipt, if no ticket was chosen"
        ),
        ground=CONTRACT,
        controller=US,
        sweep=jobs.held_messages,
    ),
    Rule(
        key="recordings",
        data=Text("Gespreksopnames als u ons belt", "Recordings of calls to us"),
        period=timedelta(days=90),
        start=Text(
            "na het gesprek, tenzij een training- of bewijsblokkade geldt",
            "after the call, unless a training or evidence hold applies",
        ),
        ground=INTEREST_RECORDINGS,
        controller=US,
        sweep=jobs.call_recordings,
    ),
    Rule(
        key="recording_tombstones",
        data=Text(
            "Gegevens van verwijderde opnames, teruggebracht tot een niet-persoonlijke "
            "notitie (maand, duur)",
            "Metadata of deleted recordings, reduced to a non-personal tombstone (month, duration)",
        ),
        period=timedelta(days=3 * YEAR),
        start=Text("na verwijdering van de opname", "after the recording was deleted"),
        ground=ACCOUNTABILITY,
        controller=US,
        sweep=jobs.recording_tombstones,
    ),
    Rule(
        key="contact_form",
        data=Text(
            "Ingevulde gegevens contactformulier", "Data entered in the website's contact form"
        ),
        period=timedelta(days=YEAR),
        start=Text("na het versturen van het formulier", "after the form was sent"),
        ground=CONTRACT,
        controller=US,
        sweep=jobs.contact_form_submissions,
    ),
    Rule(
        key="contact_persons",
        data=Text(
            "Naam, telefoonnummer en e-mailadres van de contactpersoon van uw organisatie",
            "Name, phone number and e-mail address of your organisation's contact person",
        ),
        period=timedelta(0),
        start=Text("tot einde dienstverlening", "until the end of the service"),
        ground=CONTRACT,
        controller=US,
        sweep=jobs.ended_service_contacts,
    ),
    Rule(
        key="staff_sessions",
        data=Text("Inlogsessies van medewerkers", "Staff login sessions"),
        period=timedelta(0),
        start=Text("na het verlopen van de sessie", "after the session expired"),
        ground=SECURITY,
        controller=US,
        sweep=jobs.staff_sessions,
    ),
    Rule(
        key="api_tokens",
        data=Text("API-sleutels van medewerkers", "Staff API tokens"),
        period=timedelta(0),
        start=Text("na intrekking van de sleutel", "after the token was revoked"),
        ground=SECURITY,
        controller=US,
        sweep=jobs.api_tokens,
    ),
    Rule(
        key="audit_events",
        data=Text(
            "Audittrail (wie deed wat wanneer); persoonsgegevens worden verwijderd zodra "
            "het onderwerp wordt verwijderd",
            "Audit trail (who did what when); personal data is stripped as soon as the "
            "subject is deleted",
        ),
        period=timedelta(days=3 * YEAR),
        start=Text("na de gebeurtenis", "after the event"),
        ground=ACCOUNTABILITY,
        controller=US,
        sweep=jobs.audit_events,
    ),
    Rule(
        key="privacy_id_copies",
        data=Text(
            "Kopie identiteitsbewijs bij een privacyverzoek (verwijderd zodra uw identiteit "
            "is gecontroleerd)",
            "Copy of an identity document for a privacy request (deleted as soon as your "
            "identity is verified)",
        ),
        period=timedelta(days=7),
        start=Text("na het uploaden, uiterlijk", "after upload, at the latest"),
        ground=Text(
            "Wettelijke verplichting (AVG art. 12 lid 6)", "Legal obligation (GDPR art. 12(6))"
        ),
        controller=US,
        sweep=privacy_files.id_copies,
    ),
    Rule(
        key="privacy_exports",
        data=Text(
            "Export van uw gegevens (inzage- of overdrachtsverzoek)",
            "Export of your data (access or portability request)",
        ),
        period=timedelta(days=7),
        start=Text("na het aanmaken van de export", "after the export was made"),
        ground=Text(
            "Wettelijke verplichting (AVG art. 15 en 20)", "Legal obligation (GDPR art. 15 and 20)"
        ),
        controller=US,
        sweep=privacy_files.exports,
    ),
)


class UnknownRule(ValueError):
    pass


def schedule(overrides: Mapping[str, int] | None = None) -> tuple[Rule, ...]:
    """The rules with this deployment's periods (days by key) applied."""
    overrides = dict(overrides or {})
    known = {rule.key for rule in RULES}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise UnknownRule(
            f"unknown retention rule {', '.join(unknown)} (known: {', '.join(sorted(known))})"
        )
    negative = sorted(key for key, days in overrides.items() if days < 0)
    if negative:
        raise UnknownRule(f"retention period of {', '.join(negative)} must be 0 or more days")
    return tuple(
        replace(rule, period=timedelta(days=overrides[rule.key])) if rule.key in overrides else rule
        for rule in RULES
    )
