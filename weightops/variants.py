"""`weightops.variants` now lives in `weightops.deploy.variants`; this path stays for existing imports."""

from weightops.deploy.variants import *  # noqa: F401,F403
