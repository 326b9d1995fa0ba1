"""Admin pages of the recording vault: list and filters, upload form with CSRF, the
recording page (player, waveform, tags, holds, audit, delete) and the trainer library."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import aiohttp
import pytest
from recording_audio_helpers import make_audio
from recordings_web_fixtures import *  # noqa: F403  (fixture: vault)
from recordings_web_fixtures import Vault
from sqlalchemy import select

from recordings.waveform import peaks_sync, svg
from storage.models import AuditEvent, Recording, RecordingHold, RecordingListen, StaffRole

pytestmark = pytest.mark.storage
AGENT, PO, TRAINER, ADMIN = (
    StaffRole.AGENT,
    StaffRole.PRIVACY_OFFICER,
    StaffRole.TRAINER,
    StaffRole.ADMIN,
)


def _form(path: Path, csrf: str | None, **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    if csrf is not None:
        form.add_field("csrf_token", csrf)
    for name, value in fields.items():
        form.add_field(name, value)
    form.add_field("file", path.open("rb"), filename=path.name)
    return form


async def test_upload_form_needs_csrf_and_stores_the_recording(
    vault: Vault, tmp_path: Path
) -> None:
    client = vault.client
    audio = make_audio(tmp_path, "m4a_aac", seconds=2)
    client.session.cookie_jar.clear()
    anonymous = await client.get("/recordings/upload", allow_redirects=False)
    assert anonymous.status == 302 and anonymous.headers["Location"].startswith("/login")
    csrf = await vault.login(AGENT)
    page = await client.get("/recordings/upload")
    assert page.status == 200 and 'enctype="multipart/form-data"' in await page.text()
    assert "(3 MB max)" in await page.text()  # MAX_BYTES of the fixture
    for token in (None, "forged"):
        refused = await client.post(
            "/recordings/upload", data=_form(audio, token), allow_redirects=False
        )
        assert refused.status == 403
    # A token that arrives after the file is refused before the file is kept.
    late = aiohttp.FormData()
    late.add_field("file", audio.open("rb"), filename=audio.name)
    late.add_field("csrf_token", csrf)
    assert (await client.post("/recordings/upload", data=late)).status == 403
    assert await vault.count(Recording) == 0 and await vault.objects() == 0

    bad = await client.post("/recordings/upload", data=_form(audio, csrf, started_at="soon"))
    assert bad.status == 422 and "started_at" in await bad.text()
    done = await client.post(
        "/recordings/upload",
        data=_form(
            audio, csrf, caller="+3120111", caller_withheld="1", started_at="2026-11-20T14:00"
        ),
        allow_redirects=False,
    )
    assert done.status == 303, await done.text()
    assert done.headers["Location"].startswith("/recordings/")
    assert await vault.count(Recording) == 1 and await vault.objects() == 1
    for query in ("from=0001-01-01", "until=9999-12-31"):
        far = await client.get(f"/recordings?{query}")
        assert far.status == 422 and "valt buiten het bereik" in await far.text(), query
    await vault.login(TRAINER)
    assert (await client.get("/recordings/upload")).status == 403


async def test_upload_and_opening_the_page_log_an_ingest_and_no_play(
    vault: Vault, tmp_path: Path
) -> None:
    """Only a listener pressing play may log `recording.play`: the page's player does not
    fetch audio on open (preload="none"), and the upload itself logs only the ingest."""
    client = vault.client
    csrf = await vault.login(AGENT)
    audio = make_audio(tmp_path, "m4a_aac", seconds=2)
    done = await client.post("/recordings/upload", data=_form(audio, csrf), allow_redirects=False)
    assert done.status == 303, await done.text()
    page = await client.get(done.headers["Location"])
    html = await page.text()
    assert page.status == 200
    players = re.findall(r"<audio[^>]*>", html)
    assert players and all('preload="none"' in tag for tag in players), players
    async with vault.sessions() as session:
        actions = list(
            await session.scalars(
                select(AuditEvent.action)
                .where(AuditEvent.subject_type == "recording")
                .order_by(AuditEvent.id)
            )
        )
    assert actions == ["recording.ingest"]
    assert await vault.count(RecordingListen) == 0


async def test_recording_page_tags_holds_delete_and_shielded_caller(
    vault: Vault, tmp_path: Path
) -> None:
    # FreePBX puts the caller id in the file name: shielded there too.
    named = tmp_path / "in-0612345678-1001-20261128-103000-1732789800.123.wav"
    make_audio(tmp_path, "wav_mulaw", seconds=3).rename(named)
    created = await vault.create(named, caller="0612345678", caller_withheld="1")
    url = f"/recordings/{created['id']}"
    client = vault.client
    csrf = await vault.login(AGENT)
    page = await (await client.get(url)).text()
    assert "afgeschermd" in page and "0612345678" not in page
    assert f'src="{url}/audio"' in page and f'src="{url}/waveform.svg"' in page
    assert f"{url}/audio?download=1" in page and f'action="{url}/delete"' not in page
    wave = await client.get(f"{url}/waveform.svg")
    assert wave.status == 200 and (await wave.read()).startswith(b"<svg")
    # Searching for the shielded number must not reveal which call it was.
    found = await (await client.get("/recordings?number=0612345678")).text()
    assert f'href="{url}"' not in found

    async def post(path: str, **data: str) -> aiohttp.ClientResponse:
        target = path if path.startswith("/recording-holds/") else url + path
        return await client.post(target, data={"csrf_token": csrf, **data}, allow_redirects=False)

    assert (await client.post(url + "/tag", data={"tag": "x"})).status == 403  # no CSRF
    assert (await post("/tag", tag="billing dispute")).status == 303
    assert (await post("/tag", tag="escalation")).status == 303
    assert (await post("/holds", kind="training", reason="goed voorbeeld")).status == 303
    assert (await post("/holds", kind="evidence", reason="prijsafspraak")).status == 303
    assert (await post("/holds", kind="evidence", reason=" ")).status == 422
    page = await (await client.get(url)).text()
    assert '<datalist id="rec-tags">' in page and '<option value="escalation">' in page
    assert "Bewaarredenen" in page and "rec_" not in page.replace("rec-tags", "")
    client.session.cookie_jar.update_cookies({"lang": "en"})
    english = await (await client.get(url)).text()
    assert "Holds" in english and "rec_" not in english.replace("rec-tags", "")
    listing = await (await client.get("/recordings")).text()
    assert "Call recordings" in listing and "rec_" not in listing.replace("rec-tags", "")
    assert "goed voorbeeld" in page and "prijsafspraak" in page
    assert "recording.hold" in page and "recording.tags" in page  # the audit trail
    holds = (
        await (
            await client.get(f"/api/v1/recordings/{created['id']}", headers=vault.tokens[AGENT])
        ).json()
    )["holds"]
    training, evidence = holds[0]["id"], holds[1]["id"]
    # Agents place holds and may unflag training; evidence is for the privacy officer, admins.
    assert f'action="/recording-holds/{evidence}/release"' not in page
    assert f'action="/recording-holds/{training}/release"' in page
    assert (await post(f"/recording-holds/{evidence}/release", reason="klaar")).status == 403
    assert (await post(f"/recording-holds/{training}/release", reason="klaar")).status == 303

    listed = await (await client.get("/recordings?held=yes&tag=escalation")).text()
    assert f'href="{url}"' in listed
    assert f'href="{url}"' not in await (await client.get("/recordings?held=no")).text()
    assert f'href="{url}"' not in await (await client.get("/recordings?expiring=30")).text()
    assert (await client.get("/recordings?from=gisteren")).status == 422
    too_far = await client.get("/recordings?expiring=99999999999")
    assert too_far.status == 422 and "at most 36500 days" in await too_far.text()
    api_far = await client.get(
        "/api/v1/recordings?expiring=99999999999", headers=vault.tokens[AGENT]
    )
    assert api_far.status == 422
    assert "at most 36500 days" in (await api_far.json())["error"]["message"]
    assert (await post("/delete", reason="verzoek")).status == 403

    csrf = await vault.login(PO)
    page = await (await client.get(url)).text()
    assert "0612345678" in page and f'action="{url}/delete"' in page
    assert f'action="/recording-holds/{evidence}/release"' in page
    assert (await post("/delete", reason="verzoek")).status == 409  # still held
    assert (await post(f"/recording-holds/{training}/release", reason="nogmaals")).status == 409
    assert (await post(f"/recording-holds/{evidence}/release", reason="afgehandeld")).status == 303
    assert f'href="{url}"' in await (await client.get("/recordings?expiring=90")).text()
    listened = await client.get(url + "/audio", headers={"Range": "bytes=0-1"})
    assert listened.status == 206 and await vault.count(RecordingListen) == 1
    assert (await post("/delete", reason="verzoek")).status == 303
    assert await vault.count(Recording) == 0 and await vault.objects() == 0
    assert await vault.count(RecordingListen) == 0  # listening sessions go with it
    assert await vault.count(RecordingHold) == 0


async def test_trainer_library_with_player_and_cached_waveform(
    vault: Vault, tmp_path: Path
) -> None:
    kept = await vault.create(make_audio(tmp_path, "mp3", seconds=3, frequency=500))
    other = await vault.create(make_audio(tmp_path, "mp3", seconds=1, frequency=700))
    response = await vault.client.post(
        f"/api/v1/recordings/{kept['id']}/holds",
        json={"kind": "training", "reason": "Nette de-escalatie"},
        headers=vault.tokens[AGENT],
    )
    assert response.status == 201
    await vault.client.put(
        f"/api/v1/recordings/{kept['id']}/tags",
        json={"tags": ["escalation"]},
        headers=vault.tokens[AGENT],
    )
    client = vault.client
    await vault.login(TRAINER)
    page = await (await client.get("/training")).text()
    assert "Nette de-escalatie" in page and "escalation" in page and "0:03" in page
    # Recorded at the clock's 09:00 UTC: shown in SUPPORTDESK_TIMEZONE (Amsterdam, winter +1).
    assert "2026-11-27 10:00" in page and "2026-11-27 09:00" not in page
    assert f'src="/training/{kept["id"]}/audio"' in page and f"/training/{other['id']}/" not in page
    assert "<form" not in page.split("<main>", 1)[1]  # read-only for trainers
    assert (await client.get(f"/recordings/{kept['id']}")).status == 403
    assert (await client.get(f"/training/{other['id']}/audio")).status == 404
    audio = await client.get(f"/training/{kept['id']}/audio", headers={"Range": "bytes=0-9"})
    assert audio.status == 206 and len(await audio.read()) == 10

    picture = await client.get(f"/training/{kept['id']}/waveform.svg")
    assert picture.status == 200 and picture.content_type == "image/svg+xml"
    body = await picture.read()
    assert body.startswith(b"<svg") and b"<path" in body
    cached = vault.settings.data_dir / "cache" / "waveforms" / f"{kept['sha256_archive']}.svg"
    assert cached.read_bytes() == body
    cached.write_bytes(b"<svg>cached</svg>")  # served from the cache from now on
    again = await client.get(f"/training/{kept['id']}/waveform.svg")
    assert await again.read() == b"<svg>cached</svg>"
    await vault.login(AGENT)
    assert (await client.get("/training")).status == 403


def test_waveform_follows_the_audio(tmp_path: Path) -> None:
    """Peaks come from the decoded audio: silence is flat, a tone is not."""
    half = tmp_path / "half-silent.ogg"
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=8000:cl=mono,atrim=duration=2[a];sine=frequency=400:duration=2[b];[a][b]concat=n=2:v=0:a=1",
            "-c:a",
            "libopus",
            str(half),
        ],
        check=True,
    )
    peaks = peaks_sync(half, 4.0, width=40)
    assert len(peaks) == 40
    assert max(peaks[:15]) < 200 and min(peaks[25:38]) > 3000  # sine's default amplitude is 1/8
    picture = svg(peaks)
    assert picture.startswith("<svg") and picture.count("M") == 40


def test_upload_limit_is_shown_in_a_sensible_unit() -> None:
    from admin.recordings_pages import _size

    assert _size(512 * 1024) == "512 KB"  # was "0 MB"
    assert _size(1000) == "1 KB"
    assert _size(3 * 1024 * 1024) == "3 MB"
    assert _size(int(2.5 * 1024 * 1024)) == "2.5 MB"


async def test_list_page_refuses_an_unknown_held_value(vault: Vault) -> None:
    await vault.login(AGENT)
    bogus = await vault.client.get("/recordings?held=bogus")
    assert bogus.status == 422 and "&#39;held&#39; moet true of false zijn" in await bogus.text()
    assert (await vault.client.get("/recordings?held=yes")).status == 200
