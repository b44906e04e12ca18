"""Models by name: the registry (what exists), the cache (what is installed, verified),
first-use download (progress, resume, sha256, atomic install, mirror) and the resolution of
``--model`` / ``MODEL`` (``auto``, a registry name or a path) to a file and its backend."""
