"""The plumbing every capability shares: the git runner, settings (weightops.yaml), atomic files,
YAML, shipped templates. Imports nothing from the capability packages."""
