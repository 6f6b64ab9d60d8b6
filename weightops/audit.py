"""`weightops.audit` now lives in `weightops.review.audit`; this path stays for existing imports."""

from weightops.review.audit import *  # noqa: F401,F403
