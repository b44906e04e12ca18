"""A local Telegram Bot API emulator for end-to-end tests of the bot.

``BotApiEmulator`` is an aiohttp server on 127.0.0.1 that follows the official Bot API closely
enough for the real python-telegram-bot client to run against it unchanged::

    async with BotApiEmulator() as emu:
        bot = telegram.Bot(emu.token, base_url=f"{emu.url}/bot",
                           base_file_url=f"{emu.url}/file/bot")
        emu.send_text(42, "/start")            # a simulated user writes to the bot
        ...                                    # the bot polls getUpdates and answers
        await emu.wait_for("sendMessage")      # recorded ApiCall
        emu.messages_to(42)                    # what the user sees

Modules: ``server`` (HTTP, recording, faults, webhooks), ``users`` (simulated users),
``messages``/``media_methods``/``service`` (the Bot API methods), ``params`` (request
decoding), ``formatting`` (parse_mode), ``media`` (stored files), ``state``, ``records``.
"""

from tests.bot.emulator.records import ApiCall, ApiError, UploadedFile, WebhookDelivery
from tests.bot.emulator.server import DEFAULT_TOKEN, BotApiEmulator

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "ApiError",
    "BotApiEmulator",
    "UploadedFile",
    "WebhookDelivery",
]
