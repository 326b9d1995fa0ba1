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

import calendar
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

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
CLIENT = Text("Opdrachtgevende partij", "The client organisation")
SECURITY = Text(
    "Gerechtvaardigd belang: beveiliging van de beheeromgeving",
    "Legitimate interest: security of the admin environment",
)
ACCOUNTABILITY = Text(
    "Wettelijke verplichting: verantwoording (AVG art. 5 lid 2)",
    "Legal obligation: accountability (GDPR art. 5(2))",
)


@dataclass(frozen=True)
class Months:
    """A calendar period: "3 years" ends on the same date 3 years later, not after 1095
    days (which falls a day early across a 29 February). Data from a date the end month
    lacks (29 February, 31 August + 6 months) is due when that month is over: 1 March
    00:00, never early."""

    count: int


def months_before(now: datetime, months: int) -> datetime:
    """The same moment `months` calendar months earlier; a day the earlier month lacks
    becomes its last day. Data started at or before it has had its full period at `now`.
    (A 28 Feb anniversary for 29 Feb data cannot be one cutoff: it would be due before
    data from earlier on 28 Feb, so it is due at 1 March, when the cutoff passes it.)"""
    index = now.year * 12 + now.month - 1 - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return now.replace(year=year, month=month + 1, day=min(now.day, last))


def months_after(now: datetime, months: int) -> datetime:
    """The same moment `months` calendar months later; a day the later month lacks becomes
    its last day (31 March + 11 months = 29 February)."""
    index = now.year * 12 + now.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return now.replace(year=year, month=month + 1, day=min(now.day, last))


def years(count: int) -> Months:
    return Months(12 * count)


@dataclass(frozen=True)
class Rule:
    key: str
    data: Text
    period: timedelta | Months
    start: Text
    ground: Text
    controller: Text
    sweep: SweepFn
    # The longest period a deployment may set (SUPPORTDESK_RETENTION_PERIODS), where the
    # privacy statement caps it below what the rule's own default would suggest.
    max_days: int | None = None

    @property
    def days(self) -> int | None:
        """The period in days; None for a calendar period (its length in days varies)."""
        return self.period.days if isinstance(self.period, timedelta) else None

    def cutoff(self, now: datetime) -> datetime:
        """Data whose period started at or before this moment is due at `now`."""
        if isinstance(self.period, Months):
            return months_before(now, self.period.count)
        return now - self.period

    def period_text(self, lang: str) -> str:
        if isinstance(self.period, Months):
            count, unit_nl, unit_en = self.period.count, "maanden", "month"
            if count % 12 == 0:
                count, unit_nl, unit_en = count // 12, "jaar", "year"
            return f"{count} {unit_nl}" if lang != "en" else f"{count} {unit_en}{'s' * (count > 1)}"
        days = self.period.days
        if days == 0:
            return "direct" if lang != "en" else "immediately"
        return f"{days} dagen" if lang != "en" else f"{days} days"


RULES: tuple[Rule, ...] = (
    Rule(
        key="support_information",
        data=Text(
            "Informatie aangeleverd door gebruiker voor supportvragen: tickets, berichten "
            "en bijlagen",
            "Information supplied for support questions: tickets, messages and attachments",
        ),
        period=years(3),
        start=Text(
            "na het sluiten van het ticket; een ticket dat niet gesloten is (bijvoorbeeld "
            "wachtend op de klant) na de laatste activiteit",
            "after the ticket was closed; a ticket not closed (e.g. waiting for the "
            "customer) after its last activity",
        ),
        ground=CONTRACT,
        controller=US,
        sweep=jobs.support_information,
    ),
    Rule(
        key="held_messages",
        data=Text(
            "Berichten aan de bot die wachten tot u kiest voor welk ticket ze zijn (eenmaal "
            "gekozen, of zonder keuze na de wachttijd bij uw laatste open ticket gevoegd, "
            "horen ze bij dat ticket)",
            "Messages to the bot waiting for you to choose their ticket (once chosen, or "
            "filed on your latest open ticket when you did not choose in time, they are "
            "part of that ticket)",
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
        key="training_holds",
        data=Text(
            "Trainingsblokkade op een gespreksopname (houdt de opname langer dan 90 dagen); "
            "een bewijsblokkade wordt nooit automatisch opgeheven",
            "Training hold on a call recording (keeps it beyond 90 days); an evidence hold is "
            "never released automatically",
        ),
        period=timedelta(0),
        start=Text(
            "op de herbeoordelingsdatum (hoogstens 12 maanden vooruit), tenzij verlengd",
            "on its review date (at most 12 months ahead), unless renewed",
        ),
        ground=INTEREST_RECORDINGS,
        controller=US,
        sweep=jobs.training_holds,
        max_days=0,  # the review date is the bound: a deployment cannot push it out
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
        period=years(3),
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
        period=years(1),
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
        key="organisation_service_data",
        data=Text(
            "Bedrijfsnaam voor facturatie en adres waar de diensten worden geleverd",
            "Billing name and the address where the services are delivered",
        ),
        period=timedelta(0),
        start=Text("tot einde dienstverlening", "until the end of the service"),
        ground=CONTRACT,
        controller=CLIENT,
        sweep=jobs.organisation_service_data,
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
        start=Text(
            "na intrekking van de sleutel, of 30 dagen nadat hij verliep",
            "after the token was revoked, or 30 days after it expired",
        ),
        ground=SECURITY,
        controller=US,
        sweep=jobs.api_tokens,
    ),
    Rule(
        key="login_failures",
        data=Text(
            "Mislukte inlogpogingen van de beheeromgeving (gebruikersnaam en IP-adres)",
            "Failed logins to the admin (username and IP address)",
        ),
        # The throttle reads 15 minutes; 30 days leaves time for a security review, far
        # inside the statement's 6 months for usage data (the cap on overrides).
        period=timedelta(days=30),
        start=Text("na de poging", "after the attempt"),
        ground=SECURITY,
        controller=US,
        sweep=jobs.login_failures,
        max_days=181,  # 6 months, counted short: the fewest days any 6 months have
    ),
    Rule(
        key="ticket_presence",
        data=Text(
            "Welke medewerker een ticket open heeft (‘Ook geopend door’)",
            "Which staff member has a ticket open (‘Also open by’)",
        ),
        period=timedelta(days=1),
        start=Text("na het laatste teken van leven", "after the last heartbeat"),
        ground=Text(
            "Gerechtvaardigd belang: voorkomen dat twee medewerkers tegelijk antwoorden",
            "Legitimate interest: keeping two staff members from answering at once",
        ),
        controller=US,
        sweep=jobs.ticket_presence,
    ),
    Rule(
        key="audit_events",
        data=Text(
            "Audittrail (wie deed wat wanneer); persoonsgegevens worden verwijderd zodra "
            "het onderwerp wordt verwijderd",
            "Audit trail (who did what when); personal data is stripped as soon as the "
            "subject is deleted",
        ),
        period=years(3),
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
    too_long = sorted(
        f"{rule.key} must be at most {rule.max_days} days"
        for rule in RULES
        if rule.max_days is not None and overrides.get(rule.key, 0) > rule.max_days
    )
    if too_long:
        raise UnknownRule(f"retention period of {', '.join(too_long)} (privacy statement)")
    return tuple(
        replace(rule, period=timedelta(days=overrides[rule.key])) if rule.key in overrides else rule
        for rule in RULES
    )


@dataclass(frozen=True)
class StatementRow:
    """One row of the privacy statement's table, and where this desk enforces it: the
    rules (keys of RULES) and code, or why the desk does not store that data at all."""

    key: str
    service: Text
    data: Text
    period: Text
    controller: Text
    ground: Text
    rules: tuple[str, ...]  # empty: not stored by the support desk
    where: Text  # the code module(s) enforcing it; for a row not stored, why


ALGEMEEN = Text("Algemeen", "General")
UNTIL_END = Text("Tot einde dienstverlening", "Until the end of the service")
SIX_MONTHS = Text("6 maanden", "6 months")
LEGAL = Text("Wettelijke verplichting", "Legal obligation")
NETWORK = Text(
    "Niet opgeslagen in de supportdesk: de netwerk- en telefoniesystemen van de diensten "
    "houden deze gegevens bij en ruimen ze op; een klant die ze zelf in een supportvraag "
    "zet, valt onder supportinformatie.",
    "Not stored by the support desk: the services' network and telephony systems keep and "
    "delete them; a customer who writes them into a support question is covered by support "
    "information.",
)
JOBS = "storage/retention/jobs.py"

STATEMENT: tuple[StatementRow, ...] = (
    StatementRow(
        "contact_person",
        ALGEMEEN,
        Text(
            "Naam, telefoonnummer en e-mailadres van de contactpersoon van uw organisatie",
            "Name, phone number and e-mail address of your organisation's contact person",
        ),
        UNTIL_END,
        US,
        CONTRACT,
        ("contact_persons",),
        Text(f"{JOBS}: ended_service_contacts", f"{JOBS}: ended_service_contacts"),
    ),
    StatementRow(
        "delivery_address",
        ALGEMEEN,
        Text("Adres waar de diensten worden geleverd", "Address where the services are delivered"),
        UNTIL_END,
        CLIENT,
        CONTRACT,
        ("organisation_service_data",),
        Text(f"{JOBS}: organisation_service_data", f"{JOBS}: organisation_service_data"),
    ),
    StatementRow(
        "billing_name",
        ALGEMEEN,
        Text("Bedrijfsnaam voor facturatie", "Company name for billing"),
        UNTIL_END,
        CLIENT,
        CONTRACT,
        ("organisation_service_data",),
        Text(f"{JOBS}: organisation_service_data", f"{JOBS}: organisation_service_data"),
    ),
    StatementRow(
        "traffic_data",
        ALGEMEEN,
        Text(
            "Verkeersinformatie e-mails, telefonie en internet in het kader van een wettelijke "
            "aftapverplichting of informatieverzoek",
            "Traffic data of e-mail, telephony and internet under a legal interception "
            "obligation or information request",
        ),
        SIX_MONTHS,
        US,
        LEGAL,
        (),
        NETWORK,
    ),
    StatementRow(
        "support_information",
        ALGEMEEN,
        Text(
            "Informatie aangeleverd door gebruiker voor supportvragen",
            "Information supplied by the user for support questions",
        ),
        Text("Drie jaar", "3 years"),
        US,
        CONTRACT,
        ("support_information", "held_messages"),
        Text(
            f"{JOBS}: support_information, held_messages",
            f"{JOBS}: support_information, held_messages",
        ),
    ),
    StatementRow(
        "call_recordings",
        ALGEMEEN,
        Text("Gespreksopnames als u ons belt", "Recordings of your calls to us"),
        Text("90 dagen", "90 days"),
        US,
        INTEREST_RECORDINGS,
        ("recordings", "training_holds", "recording_tombstones"),
        Text(
            f"{JOBS}: call_recordings, training_holds; recordings/service.py (blokkades)",
            f"{JOBS}: call_recordings, training_holds; recordings/service.py (holds)",
        ),
    ),
    StatementRow(
        "internet_line",
        Text("Internetverbinding", "Internet connection"),
        Text("ServiceId verbinding, LineId en publiek IP-adres", "ServiceId, LineId and public IP"),
        UNTIL_END,
        CLIENT,
        CONTRACT,
        (),
        NETWORK,
    ),
    StatementRow(
        "voip_devices",
        Text("VoIP-telefonie", "VoIP telephony"),
        Text(
            "IP-adres en MAC-adres toestel, naam en telefoonnummer contacten",
            "IP and MAC address of the handset, name and number of contacts",
        ),
        UNTIL_END,
        CLIENT,
        CONTRACT,
        (),
        NETWORK,
    ),
    StatementRow(
        "mobile",
        Text("Mobiele telefonie", "Mobile telephony"),
        Text(
            "Simkaartnummer, toestelnummer (IMEI), grensovergang-berichten en bundelnotificaties",
            "SIM number, handset number (IMEI), border-crossing messages and bundle notices",
        ),
        UNTIL_END,
        CLIENT,
        CONTRACT,
        (),
        NETWORK,
    ),
    StatementRow(
        "usage_data",
        Text("VoIP en mobiel", "VoIP and mobile"),
        Text(
            "Gebruiksgegevens VoIP en mobiel: met wie, waar, wanneer en hoeveel is gebeld",
            "Usage data of VoIP and mobile: who was called, where, when and how much",
        ),
        SIX_MONTHS,
        US,
        CONTRACT,
        (),
        NETWORK,
    ),
    StatementRow(
        "customer_recordings",
        Text("VoIP en mobiel", "VoIP and mobile"),
        Text(
            "Geluidsopnames van uw gesprekken indien u deze functionaliteit afneemt",
            "Recordings of your own calls, if you use that feature",
        ),
        Text("Afhankelijk van de gebruiker", "Set by the user"),
        CLIENT,
        CONTRACT,
        (),
        Text(
            "Niet opgeslagen in de supportdesk: deze opnames staan in de telefoniedienst van de "
            "klant; de supportdesk bewaart alleen gesprekken met ons (gespreksopnames).",
            "Not stored by the support desk: these recordings live in the customer's telephony "
            "service; the desk keeps only calls with us (call recordings).",
        ),
    ),
    StatementRow(
        "alarm_keyholders",
        Text("247 Alarm", "247 Alarm"),
        Text("Contactgegevens sleutelhouders", "Contact details of key holders"),
        UNTIL_END,
        CLIENT,
        CONTRACT,
        (),
        Text(
            "Niet opgeslagen in de supportdesk: de alarmdienst beheert de sleutelhouders.",
            "Not stored by the support desk: the alarm service keeps the key holders.",
        ),
    ),
    StatementRow(
        "web_statistics",
        Text("Website en smartphone applicaties", "Website and smartphone apps"),
        Text(
            "Bezoekstatistieken, functionele en statistische cookies",
            "Visit statistics, functional and statistical cookies",
        ),
        Text("Eén jaar", "1 year"),
        US,
        Text("Gerechtvaardigd belang", "Legitimate interest"),
        (),
        Text(
            "Geen bezoekstatistieken of statistische cookies. Functionele cookies: de "
            "taalkeuze (lang, verloopt na één jaar: admin/views.py) en het formuliertoken "
            "(vervalt bij sluiten van de browser: admin/contact_form.py, admin/views.py).",
            "No visit statistics or statistical cookies. Functional cookies: the language "
            "choice (lang, expires after one year: admin/views.py) and the form token (gone "
            "when the browser closes: admin/contact_form.py, admin/views.py).",
        ),
    ),
    StatementRow(
        "contact_form",
        Text("Website", "Website"),
        Text("Ingevulde gegevens contactformulier", "Data entered in the contact form"),
        Text("Eén jaar", "1 year"),
        US,
        CONTRACT,
        ("contact_form",),
        Text(
            f"{JOBS}: contact_form_submissions (ook de kopie in het onderwerp van het ticket; "
            "de vraag zelf blijft als supportinformatie)",
            f"{JOBS}: contact_form_submissions (also the copy in the ticket's subject; the "
            "question itself stays as support information)",
        ),
    ),
)
