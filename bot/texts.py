"""Every sentence a user reads, in one place (ready for translation).

Replies are plain text (no parse mode): nothing a user types or a class name can break them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bot.results import ErrorKind
from segmentation.classes import AUTO, VOC_CLASSES, aliases_of

MB = 1024 * 1024
# Shares below this are shown as "<1%" rather than "0%".
_TINY_SHARE = 0.01

COMMANDS: Sequence[tuple[str, str]] = (
    ("start", "What this bot does"),
    ("help", "How to use it, and your settings"),
    ("class", "Which object to cut out: /class cat (or auto)"),
    ("classes", "The objects I can recognise"),
    ("crf", "Edge refinement: /crf on or /crf off"),
    ("settings", "Your current settings"),
    ("pack", "Your sticker pack: its link and size"),
    ("emoji", "The emoji of stickers added to your pack: /emoji 😺"),
    ("stats", "Bot statistics (admins only)"),
)


def _mb(size: int) -> str:
    """Bytes as megabytes, with a decimal below 10 MB (0.5 MB must not read "0 MB")."""
    megabytes = size / MB
    return f"{megabytes:.0f} MB" if megabytes >= 10 else f"{megabytes:.1f} MB"


def _target_name(target: str) -> str:
    return "the largest object (auto)" if target == AUTO else target


def _onoff(flag: bool) -> str:
    return "on" if flag else "off"


def settings_line(target: str, crf: bool) -> str:
    return f"Your settings: class {_target_name(target)}, edge refinement (CRF) {_onoff(crf)}."


def help_text(target: str, crf: bool, max_bytes: int) -> str:
    return (
        "Send me a photo and I cut out its main object as a Telegram sticker: a 512×512 PNG "
        "(ready for @Stickers) and a preview.\n\n"
        "Photos work; images sent as a file (JPEG, PNG or WEBP) keep every pixel and make "
        f"better stickers. Up to {_mb(max_bytes)}.\n\n"
        "/class NAME: what to cut out (cat, dog, person... or auto for the largest object)\n"
        "/classes: everything I can recognise\n"
        "/crf on|off: edge refinement\n"
        "/settings: your settings\n"
        '/pack: your sticker pack (tap "Add to my pack" under a sticker)\n'
        "/emoji 😺: the emoji of the stickers you add next\n\n" + settings_line(target, crf)
    )


def classes_text() -> str:
    lines = []
    for name in VOC_CLASSES[1:]:
        aliases = aliases_of(name)
        lines.append(f"• {name}" + (f" ({', '.join(aliases)})" if aliases else ""))
    return "I can recognise:\n" + "\n".join(lines) + f"\n\nOr /class {AUTO}: the largest object."


CLASS_USAGE = "Tell me which object to cut out, e.g. /class cat, or /class auto. See /classes."
CRF_USAGE = "Use /crf on or /crf off."
UNKNOWN_CLASS = "I don't know that object. See /classes for the ones I can recognise."
ADMIN_ONLY = "Sorry, /stats is for the bot's admins only."


def class_set(target: str) -> str:
    return f"OK: I'll cut out {_target_name(target)}."


def crf_set(crf: bool) -> str:
    return f"OK: edge refinement (CRF) is {_onoff(crf)}."


# --- photos ---------------------------------------------------------------------------------


def queued(job_id: int, ahead: int) -> str:
    waiting = "" if ahead == 0 else f" ({ahead} ahead of it)"
    return f"Queued, #{job_id}{waiting}."


def busy() -> str:
    return "I'm busy right now: too many photos in the queue. Please try again in a minute."


def too_many_pending(limit: int) -> str:
    return (
        f"You already have {limit} photo{'s' if limit != 1 else ''} waiting. "
        "Send the next one when they're done."
    )


def too_large(size: int, limit: int) -> str:
    return (
        f"That file is {_mb(size)}; I can take images up to {_mb(limit)}. "
        "Please send a smaller one."
    )


NOT_AN_IMAGE = "That file isn't an image I can use. Send a photo, or a JPEG, PNG or WEBP file."
NOT_A_PHOTO = "I make stickers from photos only. Send me a photo (videos and GIFs don't work)."
TEXT_ONLY = "Send me a photo and I'll make a sticker of it. /help explains more."
UNKNOWN_COMMAND = "I don't know that command. /help lists what I can do."


def document_caption(target: str, crf: bool) -> str:
    return f"{target} sticker, 512×512 PNG (CRF {_onoff(crf)}): add it with @Stickers."


def status_done(job_id: int, target: str, crf: bool) -> str:
    return f"Done ✓ #{job_id}: {target} (CRF {_onoff(crf)})."


def status_failed(job_id: int) -> str:
    return f"#{job_id}: no sticker, see below."


def _shares(detected: Mapping[str, float]) -> str:
    return ", ".join(
        f"{name} ({'<1%' if share < _TINY_SHARE else f'{share:.0%}'})"
        for name, share in detected.items()
    )


def no_object(target: str, detected: Mapping[str, float]) -> str:
    wanted = "any object I know" if target == AUTO else f"a {target}"
    if not detected:
        return f"I couldn't find {wanted} in this photo. Try another photo."
    return f"I couldn't find {wanted} in this photo. I found: {_shares(detected)}. Tap one:"


def making(target: str, job_id: int) -> str:
    return f"Making a {target} sticker from this photo, #{job_id}…"


CHOICE_EXPIRED = "That photo is no longer available. Please send it again."
CHOICE_DUPLICATE = "Already on it."

# One friendly sentence per way a job can fail (ErrorKind.NO_OBJECT uses no_object()).
ERROR_TEXTS: Mapping[ErrorKind, str] = {
    ErrorKind.INVALID_IMAGE: (
        "I couldn't read that image: it looks damaged or isn't a picture. Try another one."
    ),
    ErrorKind.TOO_LARGE: "That image is too large for me. Please send a smaller one.",
    ErrorKind.NO_OBJECT: "I couldn't find that object in this photo.",
    ErrorKind.UNKNOWN_CLASS: UNKNOWN_CLASS,
    ErrorKind.MODEL_UNAVAILABLE: "My model isn't available right now. Please try again later.",
    ErrorKind.INTERNAL: "Something went wrong with this photo, sorry. Try another one.",
    ErrorKind.DOWNLOAD_FAILED: "I couldn't get this photo from Telegram. Please send it again.",
    ErrorKind.GAVE_UP: "I couldn't finish this photo after several tries, sorry. Try another one.",
}


# --- admin ----------------------------------------------------------------------------------


def stats_report(
    *,
    uptime_s: float,
    model: str,
    backend: str,
    device: str,
    queue_depth: int,
    in_progress: int,
    outcomes: Mapping[str, int],
    rejected: Mapping[str, int],
    latencies: Mapping[str, tuple[float, float, int]],
    users: int,
    top_classes: Sequence[tuple[str, int]],
) -> str:
    hours, rest = divmod(int(uptime_s), 3600)
    minutes, seconds = divmod(rest, 60)
    lines = [
        f"Uptime {hours}h {minutes:02d}m {seconds:02d}s",
        f"Model {model} ({backend}, {device})",
        f"Queue {queue_depth} waiting, {in_progress} in progress",
        "Jobs: " + ", ".join(f"{name} {count}" for name, count in outcomes.items()),
        "Rejected: " + (", ".join(f"{name} {count}" for name, count in rejected.items()) or "none"),
        f"Distinct users {users}",
        "Top classes: "
        + (", ".join(f"{name} {count}" for name, count in top_classes) or "none yet"),
        "Latency ms (p50 / p95, n):",
    ]
    lines += [
        f"  {stage}: {p50:.0f} / {p95:.0f} ({count})"
        for stage, (p50, p95, count) in latencies.items()
    ]
    if not latencies:
        lines.append("  no jobs yet")
    return "\n".join(lines)


def workers_report(workers: Sequence[tuple[str, bool, float, int, int]]) -> str:
    """/stats with QUEUE_URL set: (name, alive, seconds since seen, jobs done, redeliveries)."""
    alive = sum(1 for _, up, _, _, _ in workers if up)
    lines = [f"Workers {alive} alive of {len(workers)} seen"]
    lines += [
        f"  {name}: {'alive' if up else 'gone'}, seen {seen:.0f} s ago, "
        f"{done} done, {redelivered} taken over"
        for name, up, seen, done, redelivered in workers
    ]
    return "\n".join(lines)


# --- sticker packs --------------------------------------------------------------------------

ADD_TO_PACK = "Add to my pack"
PACK_EXPIRED = "That sticker is no longer available. Send the photo again to make it anew."
PACK_FAILED = "Telegram wouldn't add this sticker to your pack, sorry. Please try again later."
PACK_UNREACHABLE = "I couldn't reach Telegram just now. Please tap the button again in a minute."
NO_PACK = 'You have no sticker pack yet: tap "Add to my pack" under a sticker I made.'


def _stickers(count: int) -> str:
    return f"{count} sticker{'' if count == 1 else 's'}"


def pack_created(link: str) -> str:
    return f"I made you a sticker pack with this sticker: {link}"


def pack_added(link: str, count: int) -> str:
    return f"Added to your pack ({_stickers(count)}): {link}"


def pack_started_next(full_link: str, link: str, limit: int) -> str:
    return (
        f"Your pack {full_link} is full ({limit} stickers), so I started a new one "
        f"with this sticker: {link}"
    )


def pack_already(link: str) -> str:
    return f"This sticker is already in your pack: {link}"


def pack_not_started(bot_username: str) -> str:
    return (
        "Telegram lets me make a sticker pack for you only once you have started a private "
        f"chat with me: open https://t.me/{bot_username}, press Start, then tap the button again."
    )


def pack_flood(seconds: float) -> str:
    wait = max(1, round(seconds))
    return (
        f"Telegram asks me to slow down with sticker packs. Please tap the button again in "
        f"{wait} second{'' if wait == 1 else 's'}."
    )


def packs_list(packs: Sequence[tuple[str, int]]) -> str:
    """``/pack``: each (link, count), the pack being filled last."""
    if not packs:
        return NO_PACK
    if len(packs) == 1:
        link, count = packs[0]
        return f"Your sticker pack ({_stickers(count)}): {link}"
    lines = [f"• {link} ({_stickers(count)})" for link, count in packs]
    return "Your sticker packs:\n" + "\n".join(lines)


EMOJI_INVALID = "That isn't an emoji I can use. Send one emoji, e.g. /emoji 😺, or /emoji auto."


def emoji_show(emoji: str | None) -> str:
    if emoji is None:
        return (
            "Stickers you add to your pack get the emoji of their object (cat 🐱, dog 🐶, "
            "person 🙂...). Choose one for all of them with /emoji 😺."
        )
    return f"Stickers you add to your pack get {emoji}. /emoji auto: each object's own emoji."


def emoji_set(emoji: str | None) -> str:
    if emoji is None:
        return "OK: stickers you add get the emoji of their object again (cat 🐱, dog 🐶...)."
    return f"OK: the stickers you add next get {emoji}."
