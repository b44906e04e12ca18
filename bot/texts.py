"""Every sentence a user reads, in one place, in the chat's language (:mod:`bot.i18n`).

Replies are plain text (no parse mode): nothing a user types or a class name can break them.

Adding a text: write it here in English inside ``_()`` (``ngettext`` when it counts
something), with ``{named}`` placeholders filled by ``.format`` after translation; a sentence
without arguments goes into ``_SENTENCES`` and is read as ``texts.NAME``. Then run the
catalog commands of the README ("Languages"): ``pybabel extract`` and ``pybabel update``, and
translate the new entries of each ``bot/locales/*/LC_MESSAGES/messages.po``; the tests fail
until every language has them, with the same placeholders.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Final, TypeVar

from bot.i18n import N_, ngettext
from bot.i18n import gettext as _
from bot.results import ErrorKind
from segmentation.classes import AUTO, VOC_CLASSES, aliases_of, normalise
from segmentation.options import DEFAULT_OUTLINE_STYLE

K = TypeVar("K")

MB = 1024 * 1024
# Shares below this are shown as "<1%" rather than "0%".
_TINY_SHARE = 0.01

# The command menu (setMyCommands, once per language): command -> description.
_COMMANDS: Final[Sequence[tuple[str, str]]] = (
    ("start", N_("What this bot does")),
    ("help", N_("How to use it, and your settings")),
    ("class", N_("Which object to cut out: /class cat (or auto)")),
    ("classes", N_("The objects I can recognise")),
    ("crf", N_("Edge refinement: /crf on or /crf off")),
    ("style", N_("The sticker's outline: white, with shadow, classic or none")),
    ("settings", N_("Your current settings")),
    ("pack", N_("Your sticker pack: its link and size")),
    ("emoji", N_("The emoji of stickers added to your pack: /emoji 😺")),
    ("lang", N_("Language: /lang en, /lang ru")),
    ("stats", N_("Bot statistics (admins only)")),
)


def commands() -> list[tuple[str, str]]:
    """The command menu in the current language."""
    return [(name, _(description)) for name, description in _COMMANDS]


# Translators: a class's name as users read it and type it. Several words may be given,
# separated by "|": the first is shown, every one is accepted in /class (give the plural
# and other common forms, e.g. "кошка|кошки|кот|коты").
CLASS_NAMES: Final = (
    N_("aeroplane"),
    N_("bicycle"),
    N_("bird"),
    N_("boat"),
    N_("bottle"),
    N_("bus"),
    N_("car"),
    N_("cat"),
    N_("chair"),
    N_("cow"),
    N_("diningtable"),
    N_("dog"),
    N_("horse"),
    N_("motorbike"),
    N_("person"),
    N_("pottedplant"),
    N_("sheep"),
    N_("sofa"),
    N_("train"),
    N_("tvmonitor"),
)
_WORD_SEPARATOR = "|"


def class_name(name: str) -> str:
    """A class as the user reads it; a class without a translation (e.g. a custom model's
    "mascot") keeps its own name."""
    return _(name).split(_WORD_SEPARATOR, 1)[0].strip() or name


def class_words(names: Sequence[str] = VOC_CLASSES[1:]) -> dict[str, str]:
    """The words a user of the current language may type for each class (normalised) ->
    the class (English names and aliases are always understood too)."""
    words: dict[str, str] = {}
    for name in names:
        for word in _(name).split(_WORD_SEPARATOR):
            if word.strip():
                words.setdefault(normalise(word), name)
    return words


def _mb(size: int) -> str:
    """Bytes as megabytes, with a decimal below 10 MB (0.5 MB must not read "0 MB")."""
    megabytes = size / MB
    number = f"{megabytes:.0f}" if megabytes >= 10 else f"{megabytes:.1f}"
    return _("{number} MB").format(number=number)


def _target_name(target: str) -> str:
    return _("the largest object (auto)") if target == AUTO else class_name(target)


def _onoff(flag: bool) -> str:
    return _("on") if flag else _("off")


def settings_line(target: str, crf: bool, style: str = DEFAULT_OUTLINE_STYLE) -> str:
    return (
        _("Your settings: class {target}, edge refinement (CRF) {crf}.").format(
            target=_target_name(target), crf=_onoff(crf)
        )
        + " "
        + _("Outline: {style}.").format(style=style_name(style))
    )


def help_text(target: str, crf: bool, max_bytes: int, style: str = DEFAULT_OUTLINE_STYLE) -> str:
    return (
        _(
            "Send me a photo and I cut out its main object as a Telegram sticker: a 512×512 "
            "PNG (ready for @Stickers) and a preview.\n\n"
            "Photos work; images sent as a file (JPEG, PNG or WEBP) keep every pixel and make "
            "better stickers. Up to {size}.\n\n"
            "/class NAME: what to cut out (cat, dog, person... or auto for the largest object)\n"
            "/classes: everything I can recognise\n"
            "/crf on|off: edge refinement\n"
            "/settings: your settings\n"
            '/pack: your sticker pack (tap "Add to my pack" under a sticker)\n'
            "/emoji 😺: the emoji of the stickers you add next\n"
            "/lang: the language I speak\n\n"
        )
        .format(size=_mb(max_bytes))
        .rstrip("\n")
        + "\n"
        + _("/style: the sticker's outline (white, with shadow, classic or none)")
        + "\n\n"
        + settings_line(target, crf, style)
    )


def _class_lines(names: Sequence[str]) -> list[str]:
    lines = []
    for name in names:
        shown = class_name(name)
        others = [name] if shown != name else []
        others += aliases_of(name)
        lines.append(f"• {shown}" + (f" ({', '.join(others)})" if others else ""))
    return lines


def classes_text(names: Sequence[str] = VOC_CLASSES[1:]) -> str:
    return (
        _("I can recognise:")
        + "\n"
        + "\n".join(_class_lines(names))
        + "\n\n"
        + _("Or /class {auto}: the largest object.").format(auto=AUTO)
    )


def unknown_class(typed: str, suggestions: Sequence[str]) -> str:
    """``/class`` with a name we don't know: the closest ones (buttons follow), and the list."""
    if suggestions:
        first = _("I don't know “{typed}”. Did you mean {names}?").format(
            typed=typed, names=_or(class_name(name) for name in suggestions)
        )
    else:
        first = _("I don't know “{typed}”.").format(typed=typed)
    return first + "\n\n" + classes_text()


def _or(names: Iterator[str]) -> str:
    return _(" or ").join(names)


def class_set(target: str) -> str:
    return _("OK: I'll cut out {target}.").format(target=_target_name(target))


def crf_set(crf: bool) -> str:
    return _("OK: edge refinement (CRF) is {state}.").format(state=_onoff(crf))


# --- outline style ----------------------------------------------------------------------------

# The outline styles as users read them (keys: segmentation.options.OUTLINE_STYLES), in the
# order of the /style buttons.
STYLE_NAMES: Final[Mapping[str, str]] = {
    "stroke": N_("white"),
    "shadow": N_("white with shadow"),
    "seed": N_("classic (thin light edge)"),
    "none": N_("none"),
}


def style_name(style: str) -> str:
    return _(STYLE_NAMES[style]) if style in STYLE_NAMES else style


def style_prompt(current: str) -> str:
    return _("Choose the sticker's outline (now: {style}):").format(style=style_name(current))


def style_set(style: str) -> str:
    return _("OK: outline {style}. Send a photo to see it.").format(style=style_name(style))


# --- language -------------------------------------------------------------------------------


def lang_menu(current: str) -> str:
    """``/lang`` without an argument (the language buttons follow)."""
    return _("I speak {language}. Choose a language:").format(language=current)


def lang_set() -> str:
    return _("OK: I'll speak English.")


def lang_unknown(typed: str, known: Sequence[str]) -> str:
    return _("I don't speak “{typed}”. Choose one: {codes}.").format(
        typed=typed, codes=", ".join(known)
    )


# --- photos ---------------------------------------------------------------------------------


def pack_title(owner: str, number: int) -> str:
    """A user's sticker pack title: "Ann's stickers", "Ann's stickers 2"; "My stickers" when
    the name is empty (the caller fits ``owner`` into Telegram's 64 characters)."""
    if not owner:
        if number == 1:
            return _("My stickers")
        return _("My stickers {number}").format(number=number)
    if number == 1:
        return _("{owner}'s stickers").format(owner=owner)
    return _("{owner}'s stickers {number}").format(owner=owner, number=number)


def queued(job_id: int, ahead: int) -> str:
    if ahead == 0:
        return _("Queued, #{job_id}.").format(job_id=job_id)
    return _("Queued, #{job_id} ({ahead} ahead of it).").format(job_id=job_id, ahead=ahead)


def queued_album(first_id: int, last_id: int, count: int) -> str:
    """The one status message of an album, updated as its photos arrive."""
    return ngettext(
        "Queued: {count} photo of this album, #{first}–#{last}.",
        "Queued: {count} photos of this album, #{first}–#{last}.",
        count,
    ).format(count=count, first=first_id, last=last_id)


def album_status(answered: int, total: int, first_id: int, last_id: int) -> str:
    """The album's status as its photos are answered (each sticker under its photo)."""
    if answered < total:
        return _("Album #{first}–#{last}: {answered} of {total} answered…").format(
            answered=answered, total=total, first=first_id, last=last_id
        )
    return _("Done ✓ album #{first}–#{last}: {total} answered, each under its photo.").format(
        total=total, first=first_id, last=last_id
    )


def busy() -> str:
    return _("I'm busy right now: too many photos in the queue. Please try again in a minute.")


def too_many_pending(limit: int) -> str:
    return ngettext(
        "You already have {count} photo waiting. Send the next one when it's done.",
        "You already have {count} photos waiting. Send the next one when they're done.",
        limit,
    ).format(count=limit)


def too_large(size: int, limit: int) -> str:
    return _(
        "That file is {size}; I can take images up to {limit}. Please send a smaller one."
    ).format(size=_mb(size), limit=_mb(limit))


def document_caption(target: str, crf: bool) -> str:
    return _("{target} sticker, 512×512 PNG (CRF {crf}): add it with @Stickers.").format(
        target=class_name(target), crf=_onoff(crf)
    )


def status_done(job_id: int, target: str, crf: bool) -> str:
    return _("Done ✓ #{job_id}: {target} (CRF {crf}).").format(
        job_id=job_id, target=class_name(target), crf=_onoff(crf)
    )


def status_failed(job_id: int) -> str:
    return _("#{job_id}: no sticker, see below.").format(job_id=job_id)


def _shares(detected: Mapping[str, float]) -> str:
    return ", ".join(
        f"{class_name(name)} ({'<1%' if share < _TINY_SHARE else f'{share:.0%}'})"
        for name, share in detected.items()
    )


def no_object(target: str, detected: Mapping[str, float]) -> str:
    if target == AUTO:
        wanted = _("I couldn't find any object I know in this photo.")
    else:
        wanted = _("I couldn't find a {target} in this photo.").format(target=class_name(target))
    if not detected:
        return wanted + " " + _("Try another photo.")
    return wanted + " " + _("I found: {found}. Tap one:").format(found=_shares(detected))


def making(target: str, job_id: int) -> str:
    return _("Making a {target} sticker from this photo, #{job_id}…").format(
        target=class_name(target), job_id=job_id
    )


class _Translated(Mapping[K, str]):
    """A mapping of source sentences, read in the current language."""

    def __init__(self, sentences: Mapping[K, str]) -> None:
        self._sentences = sentences

    def __getitem__(self, key: K) -> str:
        return _(self._sentences[key])

    def __iter__(self) -> Iterator[K]:
        return iter(self._sentences)

    def __len__(self) -> int:
        return len(self._sentences)


# One friendly sentence per way a job can fail (ErrorKind.NO_OBJECT uses no_object()).
ERROR_TEXTS: Mapping[ErrorKind, str] = _Translated(
    {
        ErrorKind.INVALID_IMAGE: N_(
            "I couldn't read that image: it looks damaged or isn't a picture. Try another one."
        ),
        ErrorKind.TOO_LARGE: N_("That image is too large for me. Please send a smaller one."),
        ErrorKind.NO_OBJECT: N_("I couldn't find that object in this photo."),
        ErrorKind.UNKNOWN_CLASS: N_(
            "I don't know that object. See /classes for the ones I can recognise."
        ),
        ErrorKind.MODEL_UNAVAILABLE: N_(
            "My model isn't available right now. Please try again later."
        ),
        ErrorKind.INTERNAL: N_("Something went wrong with this photo, sorry. Try another one."),
        ErrorKind.DOWNLOAD_FAILED: N_(
            "I couldn't get this photo from Telegram. Please send it again."
        ),
        ErrorKind.GAVE_UP: N_(
            "I couldn't finish this photo after several tries, sorry. Try another one."
        ),
    }
)


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
    # For the bot's admins: English, like the logs and metrics it sits beside.
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


def _stickers(count: int) -> str:
    return ngettext("{count} sticker", "{count} stickers", count).format(count=count)


def pack_created(link: str) -> str:
    return _("I made you a sticker pack with this sticker: {link}").format(link=link)


def pack_added(link: str, count: int) -> str:
    return _("Added to your pack ({stickers}): {link}").format(stickers=_stickers(count), link=link)


def pack_started_next(full_link: str, link: str, limit: int) -> str:
    return _(
        "Your pack {full_link} is full ({stickers}), so I started a new one "
        "with this sticker: {link}"
    ).format(full_link=full_link, stickers=_stickers(limit), link=link)


def pack_already(link: str) -> str:
    return _("This sticker is already in your pack: {link}").format(link=link)


def pack_not_started(bot_username: str) -> str:
    return _(
        "Telegram lets me make a sticker pack for you only once you have started a private "
        "chat with me: open {link}, press Start, then tap the button again."
    ).format(link=f"https://t.me/{bot_username}")


def pack_flood(seconds: float) -> str:
    wait = max(1, round(seconds))
    return ngettext(
        "Telegram asks me to slow down with sticker packs. "
        "Please tap the button again in {count} second.",
        "Telegram asks me to slow down with sticker packs. "
        "Please tap the button again in {count} seconds.",
        wait,
    ).format(count=wait)


def packs_list(packs: Sequence[tuple[str, int]]) -> str:
    """``/pack``: each (link, count), the pack being filled last."""
    if not packs:
        return _(_SENTENCES["NO_PACK"])
    if len(packs) == 1:
        link, count = packs[0]
        return _("Your sticker pack ({stickers}): {link}").format(
            stickers=_stickers(count), link=link
        )
    lines = [f"• {link} ({_stickers(count)})" for link, count in packs]
    return _("Your sticker packs:") + "\n" + "\n".join(lines)


def emoji_show(emoji: str | None) -> str:
    if emoji is None:
        return _(
            "Stickers you add to your pack get the emoji of their object (cat 🐱, dog 🐶, "
            "person 🙂...). Choose one for all of them with /emoji 😺."
        )
    return _(
        "Stickers you add to your pack get {emoji}. /emoji auto: each object's own emoji."
    ).format(emoji=emoji)


def emoji_set(emoji: str | None) -> str:
    if emoji is None:
        return _("OK: stickers you add get the emoji of their object again (cat 🐱, dog 🐶...).")
    return _("OK: the stickers you add next get {emoji}.").format(emoji=emoji)


# --- sentences without arguments: ``texts.NAME``, in the current language -------------------

_SENTENCES: Final[Mapping[str, str]] = {
    "CLASS_USAGE": N_(
        "Tell me which object to cut out, e.g. /class cat, or /class auto. See /classes."
    ),
    "CRF_USAGE": N_("Use /crf on or /crf off."),
    "STYLE_USAGE": N_("Use /style and tap a button, or /style white|shadow|classic|none."),
    "STYLE_EXPIRED": N_("That style is not available any more: send /style again."),
    "UNKNOWN_CLASS": N_("I don't know that object. See /classes for the ones I can recognise."),
    "ADMIN_ONLY": N_("Sorry, /stats is for the bot's admins only."),
    "NOT_AN_IMAGE": N_(
        "That file isn't an image I can use. Send a photo, or a JPEG, PNG or WEBP file."
    ),
    "NOT_A_PHOTO": N_(
        "I make stickers from photos only. Send me a photo (videos and GIFs don't work)."
    ),
    "TEXT_ONLY": N_("Send me a photo and I'll make a sticker of it. /help explains more."),
    "UNKNOWN_COMMAND": N_("I don't know that command. /help lists what I can do."),
    "CHOICE_EXPIRED": N_("That photo is no longer available. Please send it again."),
    "CHOICE_DUPLICATE": N_("Already on it."),
    "ADD_TO_PACK": N_("Add to my pack"),
    "PACK_EXPIRED": N_(
        "That sticker is no longer available. Send the photo again to make it anew."
    ),
    "PACK_FAILED": N_(
        "Telegram wouldn't add this sticker to your pack, sorry. Please try again later."
    ),
    "PACK_UNREACHABLE": N_(
        "I couldn't reach Telegram just now. Please tap the button again in a minute."
    ),
    "NO_PACK": N_('You have no sticker pack yet: tap "Add to my pack" under a sticker I made.'),
    "EMOJI_INVALID": N_(
        "That isn't an emoji I can use. Send one emoji, e.g. /emoji 😺, or /emoji auto."
    ),
}


def __getattr__(name: str) -> str:
    """``texts.CLASS_USAGE`` and the other sentences above, in the current language."""
    try:
        return _(_SENTENCES[name])
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
