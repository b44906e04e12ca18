"""Updates of one chat run in order; other chats do not wait for them."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update

from bot.ordering import PerChatUpdateProcessor


def update(update_id: int, chat_id: int) -> Update:
    chat = Chat(chat_id, Chat.PRIVATE)
    return Update(update_id, message=Message(update_id, None, chat))  # type: ignore[arg-type]


async def test_one_chat_in_order_other_chats_concurrently() -> None:
    processor = PerChatUpdateProcessor(8)
    log: list[str] = []
    release_first = asyncio.Event()

    async def handle(name: str, wait: asyncio.Event | None = None) -> None:
        log.append(f"start {name}")
        if wait is not None:
            await wait.wait()
        log.append(f"end {name}")

    async with processor:
        tasks = [
            asyncio.create_task(
                processor.process_update(update(1, 10), handle("a1", release_first))
            ),
            asyncio.create_task(processor.process_update(update(2, 10), handle("a2"))),
            asyncio.create_task(processor.process_update(update(3, 20), handle("b1"))),
        ]
        await tasks[2]  # chat 20 is done while chat 10's first update still waits
        assert "start a2" not in log  # chat 10's second update waits for its first
        release_first.set()
        await asyncio.gather(*tasks)

    assert log.index("end a1") < log.index("start a2")
    assert log.index("end b1") < log.index("end a1")
    assert processor._locks == {}  # idle chats are forgotten
