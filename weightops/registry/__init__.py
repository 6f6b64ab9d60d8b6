"""The release registry in git tags: tag grammar, registry state, releases, stage writes, history,
promotion policy and gates, resolve. Pure parts (tags, state) import no process- or network-running module."""
