"""`weightops.shadow` now lives in `weightops.deploy.shadow`; this path stays for existing imports."""

from weightops.deploy.shadow import *  # noqa: F401,F403
