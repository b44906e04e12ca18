"""Bot API methods about the bot itself and its updates: getMe, getUpdates, webhooks, commands,
descriptions."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import re
from typing import Any
from urllib.parse import urlsplit

from tests.bot.emulator.params import Params
from tests.bot.emulator.records import JSON, ApiError, bad_request
from tests.bot.emulator.registry import Described, api_method
from tests.bot.emulator.state import EmulatorState, Webhook

logger = logging.getLogger(__name__)

WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
POLL_CONFLICT = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
_LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")


@api_method("getMe")
def get_me(state: EmulatorState, params: Params) -> JSON:
    """The bot's own User object."""
    return {
        **state.bot_user,
        "can_join_groups": True,
        "can_read_all_group_messages": False,
        "supports_inline_queries": False,
        "can_connect_to_business": False,
        "has_main_web_app": False,
    }


@api_method("logOut")
def log_out(state: EmulatorState, params: Params) -> bool:
    """Accepted and ignored."""
    return True


@api_method("close")
def close(state: EmulatorState, params: Params) -> bool:
    """Accepted and ignored."""
    return True


@api_method("getUpdates")
async def get_updates(state: EmulatorState, params: Params) -> list[JSON]:
    """Long polling: answer as soon as an update is queued, or with [] after ``timeout`` s.

    ``offset`` confirms (drops) every earlier update; a newer getUpdates ends a pending one
    with 409 Conflict, as on Telegram; so does a webhook.
    """
    if state.webhook is not None:
        raise ApiError(409, WEBHOOK_CONFLICT)
    offset = params.opt_int("offset")
    limit = min(max(params.opt_int("limit") or 100, 1), 100)
    timeout = max(params.opt_float("timeout") or 0.0, 0.0)
    state.set_allowed_updates(params.opt_list("allowed_updates"))
    if offset:
        state.confirm(offset)
    state.poll_generation += 1
    generation = state.poll_generation
    state.update_signal.fire()  # an older pending poll wakes up and learns it lost
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if generation != state.poll_generation:
            raise ApiError(409, POLL_CONFLICT)
        if state.webhook is not None:
            raise ApiError(409, WEBHOOK_CONFLICT)
        remaining = deadline - loop.time()
        batch = state.updates[:limit]
        if batch or remaining <= 0 or state.closing:
            return copy.deepcopy(batch)
        state.polls_waiting += 1
        state.poll_signal.fire()
        try:
            await state.update_signal.wait(remaining)
        finally:
            state.polls_waiting -= 1
            state.poll_signal.fire()


@api_method("setWebhook")
def set_webhook(state: EmulatorState, params: Params) -> Described:
    """Set (or with an empty ``url`` remove) the webhook; only loopback URLs are accepted."""
    url = params.opt_str("url") or ""
    if params.opt_bool("drop_pending_updates"):
        state.updates.clear()
    if not url:
        had = state.webhook is not None
        state.webhook = None
        return Described(True, "Webhook was deleted" if had else "Webhook is already deleted")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or parts.hostname not in _LOCAL_HOSTS:
        raise bad_request(
            "bad webhook: the emulator only delivers to http(s)://127.0.0.1 or localhost"
        )
    secret = params.opt_str("secret_token")
    if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
        raise bad_request("secret token contains unallowed characters")
    max_connections = params.opt_int("max_connections") or 40
    if not 1 <= max_connections <= 100:
        raise bad_request("bad webhook: max_connections must be between 1 and 100")
    allowed = params.opt_list("allowed_updates")
    state.set_allowed_updates(allowed)
    same = state.webhook is not None and state.webhook.url == url
    state.webhook = Webhook(url, secret, max_connections, allowed)
    state.update_signal.fire()
    return Described(True, "Webhook is already set" if same else "Webhook was set")


@api_method("deleteWebhook")
def delete_webhook(state: EmulatorState, params: Params) -> Described:
    """Remove the webhook so getUpdates works again."""
    if params.opt_bool("drop_pending_updates"):
        state.updates.clear()
    had = state.webhook is not None
    state.webhook = None
    return Described(True, "Webhook was deleted" if had else "Webhook is already deleted")


@api_method("getWebhookInfo")
def get_webhook_info(state: EmulatorState, params: Params) -> JSON:
    """WebhookInfo: URL, pending count and the last delivery error."""
    info: JSON = {
        "url": "",
        "has_custom_certificate": False,
        "pending_update_count": len(state.updates),
    }
    hook = state.webhook
    if hook is not None:
        info.update(url=hook.url, max_connections=hook.max_connections, ip_address="127.0.0.1")
        if hook.allowed_updates is not None:
            info["allowed_updates"] = hook.allowed_updates
        if hook.last_error_date is not None:
            info["last_error_date"] = hook.last_error_date
            info["last_error_message"] = hook.last_error_message
    return info


# --- commands, descriptions, name, menu button -----------------------------------------------


def _language_code(params: Params) -> str:
    """``language_code`` of the bot settings methods: empty (every language) or a two-letter
    ISO 639-1 code; a region or script (``pt-br``, ``zh-hans``) is refused."""
    language = params.opt_str("language_code") or ""
    if language and not re.fullmatch(r"[a-z]{2}", language):
        raise bad_request("invalid language code specified")
    return language


def _scope_key(params: Params) -> str:
    scope = params.opt_obj("scope", "BotCommandScope") or {"type": "default"}
    return json.dumps([scope, _language_code(params)], sort_keys=True)


@api_method("setMyCommands")
def set_my_commands(state: EmulatorState, params: Params) -> bool:
    """Store the command list for a scope and language; commands are validated."""
    commands = params.opt_list("commands")
    if commands is None:
        raise bad_request('parameter "commands" is required')
    if len(commands) > 100:
        raise bad_request("too much commands specified")
    for command in commands:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand JSON object")
        if not re.fullmatch(r"[a-z0-9_]{1,32}", str(command.get("command", ""))):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(str(command.get("description", "")).strip()) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
    state.settings.commands[_scope_key(params)] = [
        {"command": c["command"], "description": c["description"]} for c in commands
    ]
    return True


@api_method("getMyCommands")
def get_my_commands(state: EmulatorState, params: Params) -> list[JSON]:
    """The command list for a scope and language (empty when never set)."""
    return copy.deepcopy(state.settings.commands.get(_scope_key(params), []))


@api_method("deleteMyCommands")
def delete_my_commands(state: EmulatorState, params: Params) -> bool:
    """Forget the command list of a scope and language."""
    state.settings.commands.pop(_scope_key(params), None)
    return True


def _text_setting(store: dict[str, str], params: Params, field: str, limit: int) -> bool:
    value = params.opt_str(field) or ""
    if len(value) > limit:
        raise bad_request(f"{field} is too long")
    store[params.opt_str("language_code") or ""] = value
    return True


@api_method("setMyDescription")
def set_my_description(state: EmulatorState, params: Params) -> bool:
    """Store the bot description (shown in an empty chat)."""
    return _text_setting(state.settings.descriptions, params, "description", 512)


@api_method("getMyDescription")
def get_my_description(state: EmulatorState, params: Params) -> JSON:
    """The stored description."""
    key = params.opt_str("language_code") or ""
    return {"description": state.settings.descriptions.get(key, "")}


@api_method("setMyShortDescription")
def set_my_short_description(state: EmulatorState, params: Params) -> bool:
    """Store the short description (profile page)."""
    return _text_setting(state.settings.short_descriptions, params, "short_description", 120)


@api_method("getMyShortDescription")
def get_my_short_description(state: EmulatorState, params: Params) -> JSON:
    """The stored short description."""
    key = params.opt_str("language_code") or ""
    return {"short_description": state.settings.short_descriptions.get(key, "")}


@api_method("setMyName")
def set_my_name(state: EmulatorState, params: Params) -> bool:
    """Store a localised bot name."""
    return _text_setting(state.settings.names, params, "name", 64)


@api_method("getMyName")
def get_my_name(state: EmulatorState, params: Params) -> JSON:
    """The stored name (the bot's first name by default)."""
    key = params.opt_str("language_code") or ""
    return {"name": state.settings.names.get(key) or state.bot_user["first_name"]}


@api_method("setChatMenuButton")
def set_chat_menu_button(state: EmulatorState, params: Params) -> bool:
    """Store the menu button for a chat (or the default one)."""
    button = params.opt_obj("menu_button", "MenuButton") or {"type": "default"}
    state.settings.menu_buttons[params.opt_int("chat_id")] = button
    return True


@api_method("getChatMenuButton")
def get_chat_menu_button(state: EmulatorState, params: Params) -> Any:
    """The stored menu button (``commands`` unless set)."""
    buttons = state.settings.menu_buttons
    return buttons.get(params.opt_int("chat_id"), buttons.get(None, {"type": "commands"}))
