"""Every route of the admin app and of its /api/v1 sub-app, each with a name: redirects and
templates build their links from the names (`request.app.router[name].url_for(...)`, in
Jinja `url(name, ...)`), so a path is written down here only."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from admin import (
    api,
    contact_form,
    customers,
    customers_api,
    listening_room,
    live,
    lookup,
    ops,
    privacy,
    privacy_api,
    recordings_api,
    recordings_pages,
    retention,
    saved_replies,
    ticket_desk,
    views,
)
from admin.auth import csrf_exempt, public
from admin.keys import BOT_TRANSPORT
from bot.transport import BotTransport
from bot.webhook import webhook_handler, webhook_path
from storage.config import Settings

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
API_PREFIX = "/api/v1"


def _add(router: web.UrlDispatcher, name: str, path: str, **handlers: Handler) -> None:
    """One named resource with a handler per method (GET answers HEAD too)."""
    for method, handler in handlers.items():
        if method == "GET":
            router.add_get(path, handler, name=name)
        else:
            router.add_route(method, path, handler, name=name)


def _running_bot(request: web.Request) -> BotTransport | None:
    return request.config_dict.get(BOT_TRANSPORT)


# Telegram proves itself with the webhook secret token, not a staff login or CSRF token.
telegram_webhook = public(csrf_exempt(webhook_handler(_running_bot)))


def add_routes(app: web.Application, settings: Settings) -> None:
    """The admin app's routes, then the JSON API under API_PREFIX. Order matters where
    paths overlap: /recordings/upload and /privacy/new come before their {id} twins."""
    router = app.router
    _add(router, "readyz", "/readyz", GET=ops.readyz)
    _add(router, "metrics", "/metrics", GET=ops.metrics_view)
    _add(router, "retention", "/retention", GET=retention.retention_page)
    _add(router, "retention_holds", "/retention/holds", GET=retention.holds_page)
    if settings.telegram_token.get_secret_value() and settings.webhook_url:
        # ConfigError without a secret or a path.
        _add(router, "telegram_webhook", webhook_path(settings), POST=telegram_webhook)
    _add(router, "healthz", "/healthz", GET=ops.healthz)
    _add(router, "admin_css", "/static/admin.css", GET=views.stylesheet)
    _add(router, "language", "/lang/{code}", GET=views.set_language)
    _add(router, "login", "/login", GET=views.login_form, POST=views.login)
    _add(router, "logout", "/logout", POST=views.logout)
    _add(router, "account", "/account", GET=views.account)
    _add(router, "account_tokens", "/account/tokens", POST=views.create_token)
    _add(router, "account_token_revoke", "/account/tokens/{id}/revoke", POST=views.revoke_token)
    _add(router, "account_password", "/account/password", POST=views.change_password)
    _add(router, "users", "/users", GET=views.users_page, POST=views.create_user)
    _add(router, "user_active", "/users/{id}/active", POST=views.set_user_active)
    _add(router, "user_role", "/users/{id}/role", POST=views.set_user_role)
    _add(router, "inbox", "/", GET=views.inbox)
    _add(router, "live_events", "/live/events", GET=live.live_events)
    _add(router, "live_js", "/static/live.js", GET=live.live_script)
    _add(router, "ticket", "/tickets/{id}", GET=views.ticket_page)
    _add(router, "ticket_reply", "/tickets/{id}/reply", POST=views.reply)
    _add(
        router, "ticket_reply_edit", "/tickets/{id}/replies/{reply_id}/edit", POST=views.edit_reply
    )
    _add(router, "ticket_note", "/tickets/{id}/note", POST=views.note)
    _add(router, "ticket_assign", "/tickets/{id}/assign", POST=views.assign)
    _add(router, "ticket_close", "/tickets/{id}/close", POST=views.close)
    _add(router, "ticket_reopen", "/tickets/{id}/reopen", POST=views.reopen)
    _add(router, "ticket_meta", "/tickets/{id}/meta", POST=views.change_meta)
    _add(
        router,
        "ticket_saved_reply",
        "/tickets/{id}/saved-replies/{saved_id}",
        GET=saved_replies.ticket_saved_reply,
    )
    _add(
        router,
        "saved_replies",
        "/saved-replies",
        GET=saved_replies.saved_replies_page,
        POST=saved_replies.create_saved_reply,
    )
    _add(
        router,
        "saved_reply_edit",
        "/saved-replies/{id}/edit",
        GET=saved_replies.edit_form,
        POST=saved_replies.update_saved_reply,
    )
    _add(
        router,
        "saved_reply_delete",
        "/saved-replies/{id}/delete",
        POST=saved_replies.delete_saved_reply,
    )
    _add(router, "saved_replies_js", "/static/saved_replies.js", GET=saved_replies.picker_script)
    _add(router, "lookup_js", "/static/lookup.js", GET=lookup.lookup_script)
    _add(router, "lookup_contacts", "/lookup/contacts", GET=lookup.contacts)
    _add(router, "lookup_organisations", "/lookup/organisations", GET=lookup.organisations)
    _add(router, "lookup_tickets", "/lookup/tickets", GET=lookup.tickets)
    _add(router, "lookup_recordings", "/lookup/recordings", GET=lookup.recordings)
    _add(router, "audit", "/audit", GET=views.audit_page)
    _add(router, "audit_csv", "/audit.csv", GET=views.audit_csv)
    _add(router, "recordings", "/recordings", GET=recordings_pages.recordings_page)
    _add(
        router,
        "recording_upload",
        "/recordings/upload",
        GET=recordings_pages.upload_form,
        POST=recordings_pages.upload,
    )
    _add(router, "recording", "/recordings/{id}", GET=recordings_pages.recording_page)
    _add(router, "recording_audio", "/recordings/{id}/audio", GET=recordings_pages.recording_audio)
    _add(
        router,
        "recording_waveform",
        "/recordings/{id}/waveform.svg",
        GET=recordings_pages.recording_waveform,
    )
    _add(router, "recording_tags", "/recordings/{id}/tags", POST=recordings_pages.tags)
    _add(router, "recording_tag", "/recordings/{id}/tag", POST=recordings_pages.add_tag)
    _add(router, "recording_holds", "/recordings/{id}/holds", POST=recordings_pages.hold)
    _add(
        router,
        "recording_hold_release",
        "/recording-holds/{id}/release",
        POST=recordings_pages.release,
    )
    _add(router, "recording_hold_renew", "/recording-holds/{id}/renew", POST=recordings_pages.renew)
    _add(router, "recording_delete", "/recordings/{id}/delete", POST=recordings_pages.delete)
    _add(router, "training", "/training", GET=recordings_pages.training_page)
    _add(router, "training_room", "/training/{id}", GET=listening_room.room_page)
    _add(router, "training_notes", "/training/{id}/notes", POST=listening_room.add_note_view)
    _add(
        router,
        "training_note_delete",
        "/training-notes/{id}/delete",
        POST=listening_room.delete_note_view,
    )
    _add(router, "training_audio", "/training/{id}/audio", GET=recordings_pages.training_audio)
    _add(
        router,
        "training_waveform",
        "/training/{id}/waveform.svg",
        GET=recordings_pages.training_waveform,
    )
    _add(
        router,
        "organisations",
        "/organisations",
        GET=customers.organisations,
        POST=customers.create_organisation,
    )
    _add(router, "organisation", "/organisations/{id}", GET=customers.organisation)
    _add(router, "organisation_edit", "/organisations/{id}/edit", POST=customers.edit_organisation)
    _add(
        router,
        "organisation_service",
        "/organisations/{id}/service",
        POST=customers.organisation_service,
    )
    _add(router, "contacts", "/contacts", GET=customers.contacts, POST=customers.create_contact)
    _add(router, "contact", "/contacts/{id}", GET=customers.contact)
    _add(router, "contact_edit", "/contacts/{id}/edit", POST=customers.edit_contact)
    _add(router, "contact_link_code", "/contacts/{id}/link-code", POST=customers.make_link_code)
    _add(
        router,
        "contact_form",
        "/contact",
        GET=contact_form.contact_form,
        POST=contact_form.submit_contact_form,
    )
    _add(router, "contact_form_sent", "/contact/sent", GET=contact_form.contact_form_sent)
    _add(router, "presence_js", "/static/presence.js", GET=ticket_desk.presence_script)
    _add(router, "player_js", "/static/player.js", GET=listening_room.player_script)
    _add(router, "ticket_presence", "/tickets/{id}/presence", POST=ticket_desk.heartbeat)
    _add(
        router,
        "ticket_link_recording",
        "/tickets/{id}/link-recording",
        POST=ticket_desk.link_recording_view,
    )
    _add(router, "attachment", "/attachments/{id}", GET=ticket_desk.download_attachment)
    _add(
        router,
        "attachment_preview",
        "/attachments/{id}/preview",
        GET=ticket_desk.preview_attachment,
    )
    _add(router, "privacy", "/privacy", GET=privacy.privacy_list)
    _add(
        router,
        "privacy_new",
        "/privacy/new",
        GET=privacy.new_request_form,
        POST=privacy.new_request,
    )
    _add(router, "privacy_request", "/privacy/{id}", GET=privacy.request_page)
    _add(router, "privacy_request_verify", "/privacy/{id}/verify", POST=privacy.verify)
    _add(router, "privacy_request_close", "/privacy/{id}/close", POST=privacy.close)
    _add(router, "privacy_request_flag", "/privacy/{id}/flag", POST=privacy.flag)
    _add(router, "privacy_request_export", "/privacy/{id}/export", POST=privacy.export)
    _add(router, "privacy_request_erase", "/privacy/{id}/erase", POST=privacy.erase)
    _add(router, "privacy_request_id_copy", "/privacy/{id}/id-copy", POST=privacy.id_copy)
    _add(router, "privacy_document", "/privacy/documents/{id}", GET=privacy.download)
    app.add_subapp(API_PREFIX, api_app())


def api_app() -> web.Application:
    """The JSON API (mounted at API_PREFIX); its route names are its own."""
    sub = web.Application()
    router = sub.router
    _add(router, "tickets", "/tickets", GET=api.list_tickets)
    _add(router, "ticket", "/tickets/{id}", GET=api.get_ticket)
    _add(router, "ticket_replies", "/tickets/{id}/replies", POST=api.post_reply)
    _add(router, "ticket_reply", "/tickets/{id}/replies/{reply_id}", PATCH=api.edit_reply)
    _add(router, "ticket_notes", "/tickets/{id}/notes", POST=api.post_note)
    _add(router, "ticket_assign", "/tickets/{id}/assign", POST=api.post_assign)
    _add(router, "ticket_close", "/tickets/{id}/close", POST=api.post_close)
    _add(router, "ticket_reopen", "/tickets/{id}/reopen", POST=api.post_reopen)
    _add(router, "attachment", "/attachments/{id}", GET=api.download_attachment)
    _add(router, "audit", "/audit", GET=api.list_audit)
    _add(router, "openapi", "/openapi.json", GET=api.openapi)
    _add(
        router,
        "recordings",
        "/recordings",
        POST=recordings_api.create_recording,
        GET=recordings_api.list_all,
    )
    _add(
        router,
        "recording",
        "/recordings/{id}",
        GET=recordings_api.get_one,
        DELETE=recordings_api.delete,
    )
    _add(router, "recording_tags", "/recordings/{id}/tags", PUT=recordings_api.put_tags)
    _add(router, "recording_holds", "/recordings/{id}/holds", POST=recordings_api.place_hold)
    _add(
        router,
        "recording_hold_release",
        "/recordings/{id}/holds/{hold_id}/release",
        POST=recordings_api.release_hold,
    )
    _add(
        router,
        "recording_hold_renew",
        "/recordings/{id}/holds/{hold_id}/renew",
        POST=recordings_api.renew_hold,
    )
    _add(router, "recording_audio", "/recordings/{id}/audio", GET=recordings_api.audio)
    _add(
        router,
        "organisations",
        "/organisations",
        GET=customers_api.list_organisations,
        POST=customers_api.create_organisation,
    )
    _add(
        router,
        "organisation",
        "/organisations/{id}",
        GET=customers_api.get_organisation,
        PATCH=customers_api.update_organisation,
    )
    _add(
        router,
        "contacts",
        "/contacts",
        GET=customers_api.list_contacts,
        POST=customers_api.create_contact,
    )
    _add(
        router,
        "contact",
        "/contacts/{id}",
        GET=customers_api.get_contact,
        PATCH=customers_api.update_contact,
    )
    _add(router, "privacy_requests", "/privacy-requests", POST=privacy_api.create)
    _add(router, "privacy_request", "/privacy-requests/{id}", GET=privacy_api.get_one)
    _add(
        router,
        "privacy_request_id_copy",
        "/privacy-requests/{id}/id-copy",
        POST=privacy_api.id_copy,
    )
    _add(router, "privacy_request_verify", "/privacy-requests/{id}/verify", POST=privacy_api.verify)
    _add(
        router,
        "privacy_request_export",
        "/privacy-requests/{id}/export",
        POST=privacy_api.make_export,
        GET=privacy_api.download_export,
    )
    _add(router, "privacy_request_erase", "/privacy-requests/{id}/erase", POST=privacy_api.erase)
    return sub
