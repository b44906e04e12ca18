"""Checking the emulator's record: each photo answered exactly once or refused once, none
lost, none duplicated."""

from __future__ import annotations

from collections import Counter
from typing import Any

from bench.load.report import Report

BUSY_TEXT = "I'm busy right now"
USER_LIMIT_TEXT = "You already have"
QUEUED_TEXT = "Queued, #"


def verify(emu: Any, sent: list[tuple[int, int]], report: Report) -> None:
    """Check the emulator's record: each photo answered once or refused once, nothing lost."""
    documents: Counter[tuple[Any, Any]] = Counter()
    stickers: Counter[tuple[Any, Any]] = Counter()
    explanations: Counter[tuple[Any, Any]] = Counter()
    refusals: Counter[int] = Counter()
    queued: Counter[int] = Counter()
    for call in emu.calls:
        if not call.ok:
            continue
        chat = call.params.get("chat_id")
        replied = (call.params.get("reply_parameters") or {}).get("message_id")
        text = str(call.params.get("text", ""))
        if call.method == "sendDocument":
            documents[(chat, replied)] += 1
        elif call.method == "sendSticker":
            stickers[(chat, replied)] += 1
        elif call.method == "sendMessage":
            if text.startswith(QUEUED_TEXT):
                queued[chat] += 1
            elif text.startswith(BUSY_TEXT):
                refusals[chat] += 1
                report.refused_busy += 1
            elif text.startswith(USER_LIMIT_TEXT):
                refusals[chat] += 1
                report.refused_user_limit += 1
            elif replied is not None:
                explanations[(chat, replied)] += 1
    per_user: Counter[int] = Counter()
    answered: Counter[int] = Counter()
    for key in sent:
        user = key[0]
        per_user[user] += 1
        answers = documents[key] + explanations[key]
        if answers:
            answered[user] += 1
        if answers > 1 or stickers[key] > documents[key]:
            report.duplicated += 1
            report.problems.append(
                f"photo {key}: {documents[key]} document(s), {stickers[key]} sticker(s), "
                f"{explanations[key]} explanation(s)"
            )
        report.stickers += documents[key] == 1 and stickers[key] == 1
        report.explained += explanations[key] == 1 and not documents[key]
    for user, count in per_user.items():
        unanswered = count - answered[user]
        if unanswered > refusals[user]:
            report.lost += unanswered - refusals[user]
            report.problems.append(
                f"user {user}: {unanswered - refusals[user]} photo(s) neither answered nor refused"
            )
        elif unanswered < refusals[user]:
            report.duplicated += refusals[user] - unanswered
            report.problems.append(f"user {user}: refused more often than photos were left")
        if queued[user] != answered[user]:
            report.problems.append(
                f"user {user}: {queued[user]} 'Queued' for {answered[user]} answered photo(s)"
            )
    report.accepted = sum(answered.values())
    if sum(documents.values()) != sum(stickers.values()):
        report.problems.append("documents and stickers differ in number")


def settled(emu: Any, sent: list[tuple[int, int]]) -> bool:
    """Every photo has its answer or a refusal (by count), and no status edit is pending."""
    report = Report()
    verify(emu, sent, report)
    return report.accepted + report.refused_busy + report.refused_user_limit >= len(sent)
