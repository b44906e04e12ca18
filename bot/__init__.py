"""The Telegram transport around the sticker pipeline: ``stickerbot bot``.

A photo travels: ``handlers`` (validate, journal, "Queued") -> ``intake`` -> ``worker`` (fetch,
``engine`` runs the pipeline off the loop, answer) -> ``delivery`` (exactly once, then the
``jobs`` journal marks it done). ``app`` assembles and runs it all; ``config`` is the settings;
``web`` serves the webhook, /healthz and /metrics; ``texts`` holds every user-facing sentence.
"""
