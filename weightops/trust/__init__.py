"""Signed tags and the trust policy: who may release and assign, verified with git's own
ssh/gpg verification. May import core, registry and errors.

    from weightops.trust import trusted_target, verify_events
"""

from weightops.trust.policy import (DEFAULT_SIGNERS_FILE, Policy, Skipped, Trusted,  # noqa: F401
                                    also_trusted_labelled, annotate_rows, judge, load_policy,
                                    parse_policy, policy_rev, require_trusted_tag, select,
                                    trusted_stage, trusted_target, verify_events)
