"""Where the bytes live: DVC pointers and config, remotes, verified transfer, hashing.
May import core and errors; never registry, model or deploy."""
