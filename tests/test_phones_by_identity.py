"""A person's recordings and forms are found by their number itself (E.164), whatever way
the PBX or the person typed it: the recordings filter (API and admin page), the access
export, restriction (the trainer loses the calls) and erasure. Real app, moto S3, both
databases."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from urllib.parse import quote

import pytest
from recording_audio_helpers import make_audio
from recordings_web_fixtures import *  # noqa: F403  (fixture: vault)
from recordings_web_fixtures import Vault
from sqlalchemy import func, select

from admin.keys import RECORDINGS
from recordings.service import IngestMetadata
from storage.models import ContactFormSubmission, ContactPerson, Organisation, Recording, StaffRole
from storage.services.audit import Actor
from storage.services.contact_form import ContactFormService, FormInvalid
from storage.services.customers import CustomerService
from storage.services.errors import InvalidInput
from storage.services.privacy import PrivacyService
from storage.services.privacy_erasure import erase_contact
from storage.services.privacy_export import export_contact
from storage.services.tickets import TicketService

pytestmark = pytest.mark.storage
AGENT, PO, TRAINER = StaffRole.AGENT, StaffRole.PRIVACY_OFFICER, StaffRole.TRAINER
STAFF = Actor("staff", 1, "privacy-officer")
# How a PBX or an agent may have typed the contact's 0655556666.
AS_TYPED = ("06-5555 6666", "+31 6 5555 6666", "0031655556666", "(06) 55556666")


async def _contact(vault: Vault, phone: str) -> int:
    async with vault.sessions() as s:
        now = vault.clock.now()
        org = Organisation(name="Bol BV", customer_number="C-7", created_at=now, updated_at=now)
        s.add(org)
        await s.flush()
        contact = await CustomerService(vault.clock).create_contact(
            s, {"name": "Els Bol", "phone": phone, "organisation_id": str(org.id)}, actor=STAFF
        )
        await s.commit()
        return contact.id


async def _found(vault: Vault, number: str) -> set[int]:
    response = await vault.client.get(
        f"/api/v1/recordings?number={quote(number)}", headers=vault.tokens[AGENT]
    )
    assert response.status == 200, await response.text()
    return {r["id"] for r in (await response.json())["items"]}


async def test_a_contacts_calls_are_found_in_every_notation(vault: Vault, tmp_path: Path) -> None:
    contact_id = await _contact(vault, "0655556666")
    mine = []
    for frequency, typed in enumerate(AS_TYPED, start=300):
        created = await vault.create(make_audio(tmp_path, "mp3", frequency=frequency), caller=typed)
        assert created["caller"] == typed  # shown as typed
        mine.append(created["id"])
    called = await vault.create(make_audio(tmp_path, "mp3", frequency=500), callee="06 5555 6666")
    mine.append(called["id"])  # we called them
    stranger = await vault.create(make_audio(tmp_path, "mp3", frequency=600), caller="0655556667")

    # The recordings filter: API and admin page, in any notation of the number.
    for number in ("0655556666", *AS_TYPED):
        assert await _found(vault, number) == set(mine), number
    await vault.login(AGENT)
    page = await (await vault.client.get("/recordings?number=06-5555%206666")).text()
    assert all(f'href="/recordings/{i}"' in page for i in mine)
    assert f'href="/recordings/{stranger["id"]}"' not in page

    # The access export lists them all.
    privacy = PrivacyService(vault.clock, vault.store)
    out = tmp_path / "export.zip"
    async with vault.sessions() as s:
        await export_contact(privacy, s, contact_id, actor=STAFF, out=out)
        await s.commit()
    with zipfile.ZipFile(out) as zf:
        exported = json.loads(zf.read("recordings.json"))
    assert {r["id"] for r in exported} == set(mine)

    # Restriction: every one of their calls leaves the training library for the trainer.
    for recording_id in [*mine, stranger["id"]]:
        hold = await vault.client.post(
            f"/api/v1/recordings/{recording_id}/holds",
            json={"kind": "training", "reason": "goed voorbeeld"},
            headers=vault.tokens[AGENT],
        )
        assert hold.status == 201
    await vault.login(TRAINER)
    for recording_id in [*mine, stranger["id"]]:
        assert (await vault.client.get(f"/training/{recording_id}/audio")).status == 200
    async with vault.sessions() as s:
        request = await privacy.create_request(
            s, type="restriction", contact_id=contact_id, channel="phone", actor=STAFF
        )
        await privacy.set_flag(s, request.id, "restricted", True, actor=STAFF)
        await s.commit()
    for recording_id in mine:
        assert (await vault.client.get(f"/training/{recording_id}/audio")).status == 404
    assert (await vault.client.get(f"/training/{stranger['id']}/audio")).status == 200
    training = await (await vault.client.get("/training")).text()
    assert all(f"/training/{i}/audio" not in training for i in mine)

    # Erasure finds the same calls; their training holds yield to it.
    async with vault.sessions() as s:
        erasure = await privacy.create_request(
            s, type="erasure", contact_id=contact_id, channel="phone", actor=STAFF
        )
        await privacy.verify_identity(s, erasure.id, actor=STAFF)
        result = await erase_contact(
            privacy, vault.client.app[RECORDINGS], s, contact_id, actor=STAFF,
            request_id=erasure.id,
        )  # fmt: skip
        await s.commit()
    erased = {i.id for i in result.items if i.type == "recording" and i.outcome == "erased"}
    assert erased == set(mine) and result.status == "completed"


async def test_contact_form_of_the_number_is_in_the_export(vault: Vault, tmp_path: Path) -> None:
    contact_id = await _contact(vault, "+31 6 5555 6666")
    forms = ContactFormService(vault.clock, TicketService(vault.clock))
    async with vault.sessions() as s:
        for n, typed in enumerate(("(06) 55556666", "0031 6 5555 6666", "06 5555 6667")):
            await forms.submit(
                s,
                {
                    "name": "E. Bol",
                    "email": f"other{n}@bol.example",
                    "phone": typed,
                    "message": "?",
                },
                sender=str(n),
                language="nl",
            )
        await s.commit()
        stored = list(await s.scalars(select(ContactFormSubmission.phone_e164)))
    assert stored == ["+31655556666", "+31655556666", "+31655556667"]
    out = tmp_path / "export.zip"
    async with vault.sessions() as s:
        await export_contact(
            PrivacyService(vault.clock, vault.store), s, contact_id, actor=STAFF, out=out
        )
    with zipfile.ZipFile(out) as zf:
        exported = json.loads(zf.read("contact_form.json"))
    assert [f["phone"] for f in exported] == ["(06) 55556666", "0031 6 5555 6666"]


async def test_a_form_refuses_what_is_no_phone_number(vault: Vault) -> None:
    """Where a person gives their number, text that is none is a clear error, kept nowhere."""
    async with vault.sessions() as s:
        with pytest.raises(InvalidInput, match="not a phone number"):
            await CustomerService(vault.clock).create_contact(
                s, {"name": "Els Bol", "phone": "bel me maar"}, actor=STAFF
            )
        with pytest.raises(FormInvalid) as refused:
            await ContactFormService(vault.clock, TicketService(vault.clock)).submit(
                s,
                {"name": "E", "email": "e@bol.example", "phone": "06 12", "message": "?"},
                sender="x",
                language="nl",
            )
        assert refused.value.errors == {"phone": "field_phone"}
        await s.rollback()
        assert await s.scalar(select(func.count()).select_from(ContactPerson)) == 0
        assert await s.scalar(select(func.count()).select_from(ContactFormSubmission)) == 0


async def test_a_pbx_field_that_is_no_number_is_kept_without_e164(
    vault: Vault, tmp_path: Path
) -> None:
    """A PBX writes extensions and "anonymous": kept as written, found by no number."""
    extension = await vault.create(make_audio(tmp_path, "mp3", frequency=300), callee="201")
    async with vault.sessions() as s:
        anonymous = await vault.client.app[RECORDINGS].ingest(
            s,
            make_audio(tmp_path, "mp3", frequency=400),
            IngestMetadata(caller="anonymous", callee="+31 20 765 4321"),
            STAFF,
        )
        await s.commit()
        rows = {
            r.id: (r.caller, r.caller_e164, r.callee, r.callee_e164)
            for r in await s.scalars(select(Recording))
        }
    assert rows == {
        extension["id"]: (None, None, "201", None),
        anonymous.recording.id: ("anonymous", None, "+31 20 765 4321", "+31207654321"),
    }
    refused = await vault.client.get("/api/v1/recordings?number=201", headers=vault.tokens[AGENT])
    assert refused.status == 422
    assert await _found(vault, "020-765 43 21") == {anonymous.recording.id}
