"""End to end through the emulator: the chat's language (Telegram's, then /lang, kept across
a restart), the per-language command menus, "Did you mean" class buttons and albums."""

from __future__ import annotations

from typing import Any

from tests.bot.botkit import USER, WAIT_S, photo, reply, sent, texted, texts_to, to
from tests.bot.conftest import StartBot
from tests.bot.emulator import BotApiEmulator


def _buttons(call: Any) -> list[dict[str, str]]:
    return [b for row in call.params["reply_markup"]["inline_keyboard"] for b in row]


async def _press_and_check(
    emulator: BotApiEmulator, offer: Any, data: str, confirmation: str, setting: str
) -> None:
    """Press a button: the message becomes ``confirmation``, /settings then shows ``setting``."""
    emulator.press_button(USER, offer.result, data)
    await emulator.wait_for("editMessageText", texted(USER, confirmation), WAIT_S)
    mark = len(emulator.calls)
    emulator.send_text(USER, "/settings")
    await reply(emulator, USER, setting, since=mark)


async def test_a_russian_speaking_user_is_answered_in_russian_from_the_first_message(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    emulator.set_user(USER, language_code="ru")
    await start_bot()
    emulator.send_text(USER, "/start")
    help_text = (await reply(emulator, USER, "Пришлите мне фото")).params["text"]
    assert "самый крупный объект (auto)" in help_text

    emulator.send_photo(USER, photo())
    await reply(emulator, USER, "В очереди, №1.")
    document = await emulator.wait_for("sendDocument", to(USER), WAIT_S)
    assert document.params["caption"].startswith("Стикер «кошка»")
    await emulator.wait_for("editMessageText", texted(USER, "Готово ✓ №1: кошка"), WAIT_S)
    pack_button = await emulator.wait_for("sendSticker", to(USER), WAIT_S)
    assert _buttons(pack_button)[0]["text"] == "Добавить в мой набор"

    # Class names are understood in Russian, and shown in Russian.
    emulator.send_text(USER, "/class коты")
    await reply(emulator, USER, "Хорошо: буду вырезать кошка.")


async def test_command_menus_are_registered_per_language(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    default = {c["command"]: c["description"] for c in emulator.bot_commands()}
    english = {c["command"]: c["description"] for c in emulator.bot_commands("en")}
    russian = {c["command"]: c["description"] for c in emulator.bot_commands("ru")}
    assert default == english
    assert set(russian) == set(english) >= {"start", "class", "lang"}
    assert english["classes"] == "The objects I can recognise"
    assert russian["classes"] == "Объекты, которые я узнаю"


async def test_lang_switches_and_the_choice_survives_a_restart(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    emulator.set_user(USER, language_code="ru")
    first = await start_bot()
    emulator.send_text(USER, "/lang en")
    await reply(emulator, USER, "OK: I'll speak English.")
    await first.stop()

    await start_bot()
    mark = len(emulator.calls)
    emulator.send_text(USER, "/help")
    await reply(emulator, USER, "Send me a photo", since=mark)

    # The buttons: /lang shows one per language; a press switches back.
    emulator.send_text(USER, "/lang")
    menu = await reply(emulator, USER, "Choose a language", since=mark)
    assert [b["text"] for b in _buttons(menu)] == ["English", "Русский"]
    await _press_and_check(
        emulator, menu, "lang:ru", "Хорошо: буду говорить по-русски.", "Ваши настройки"
    )


async def test_an_unknown_class_gets_suggestions_and_a_button_that_sets_it(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    emulator.send_text(USER, "/class persn")
    answer = await reply(emulator, USER, "Did you mean person?")
    assert "I can recognise:" in answer.params["text"]  # and the list
    buttons = _buttons(answer)
    assert [b["text"] for b in buttons] == ["person"]

    await _press_and_check(
        emulator, answer, buttons[0]["callback_data"], "OK: I'll cut out person.", "class person"
    )


async def test_an_album_gets_one_sticker_per_photo_in_order_and_one_status(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot()
    updates = emulator.send_album(
        USER, [photo(size=(240, 180)), photo(size=(200, 200)), photo(size=(180, 240))]
    )
    photo_ids = [update["message"]["message_id"] for update in updates]
    mark = 0
    for _ in range(3):
        preview = await emulator.wait_for("sendSticker", to(USER), WAIT_S, since=mark)
        mark = emulator.calls.index(preview) + 1
    await emulator.wait_for(
        "editMessageText", texted(USER, "Done ✓ album #1–#3: 3 answered"), WAIT_S
    )
    documents = sent(emulator, "sendDocument", USER)
    assert [d.params["reply_parameters"]["message_id"] for d in documents] == photo_ids
    assert len(sent(emulator, "sendSticker", USER)) == 3

    queued = [c for c in sent(emulator, "sendMessage", USER) if "Queued" in c.params["text"]]
    assert len(queued) == 1
    status_id = queued[0].result["message_id"]
    edits = sent(emulator, "editMessageText", USER)
    assert {e.params["message_id"] for e in edits} == {status_id}
    assert any("3 photos of this album, #1–#3" in e.params["text"] for e in edits)
    # What the user sees: one status line, three PNGs and three stickers.
    assert [t for t in texts_to(emulator, USER) if "#" in t] == [
        "Done ✓ album #1–#3: 3 answered, each under its photo."
    ]


async def test_an_album_beyond_the_users_limit_is_refused_once_not_per_photo(
    emulator: BotApiEmulator, start_bot: StartBot
) -> None:
    await start_bot(MAX_PENDING_PER_USER=2)
    emulator.send_album(USER, [photo()] * 4)
    await reply(emulator, USER, "You already have 2 photos waiting")
    mark = 0
    for _ in range(2):
        preview = await emulator.wait_for("sendSticker", to(USER), WAIT_S, since=mark)
        mark = emulator.calls.index(preview) + 1
    refusals = [c for c in sent(emulator, "sendMessage", USER) if "already" in c.params["text"]]
    assert len(refusals) == 1
