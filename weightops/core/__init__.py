"""The plumbing every capability shares: the git and DVC runners, settings (weightops.yaml and
its schema), the clock, atomic files, YAML, JSON Lines, sizes, shipped templates. Imports nothing
from the capability packages but the tag grammar (registry.tags) settings are checked with."""
