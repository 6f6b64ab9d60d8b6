"""Which card a released commit has: its own (the card file the commit holds), one attached to
the commit afterwards (a git note under NOTES_REF), or none (a release made before weightops,
verified by DVC's own MD5 and size). The one place that decides; pure (the caller reads blobs).

Attached cards live in git notes (`git notes --ref weightops-cards`), which attach text to a
commit without moving any tag; the note of a commit is YAML holding one card per model
(`cards: {NAME: CARD}`). The commit's own card always wins over an attached one.
"""

from __future__ import annotations

from weightops.core.refs import CARDS_REF as NOTES_REF
from weightops.model.card import CardError, card_doc, parse_card
from weightops.storage.pointers import load_yaml

FROM_COMMIT = "commit"           # `Located.card_source` when the commit holds the card file
FROM_NOTE = NOTES_REF            # ... when the card is attached to the commit
VERIFIED_BY_SHA256 = "sha256"
VERIFIED_BY_DVC = "dvc-md5"      # no card: DVC's MD5 (of the file, or of the `.dir` listing) and size
NOTE_HEADER = ("# weightops cards attached to this commit (`weightops card --attach`); a card file "
               "the commit holds wins over these.\n")


def note_specs(commit: str) -> list[str]:
    """The `REV:PATH` specs where git keeps the note of `commit` (40 or 64 hex): flat, or under
    git's fan-out folders (`ab/cdef...`, `ab/cd/ef...`), which git notes uses once the notes
    tree grows. Pure."""
    return [f"{NOTES_REF}:{commit}", f"{NOTES_REF}:{commit[:2]}/{commit[2:]}",
            f"{NOTES_REF}:{commit[:2]}/{commit[2:4]}/{commit[4:]}"]


def parse_note(text: bytes | str, commit: str) -> dict[str, dict]:
    """A note's YAML -> model name -> card (each a mapping). CardError (1) for a note that is
    not `cards:` mapping names to mappings."""
    what = f"attached cards of {commit[:12]} ({NOTES_REF})"
    doc = load_yaml(text, what)
    cards = doc.get("cards") if isinstance(doc, dict) else None
    if not isinstance(cards, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in cards.items()):
        raise CardError(f"{what} is not `cards:` mapping model names to cards; "
                        f"inspect it with `git notes --ref {NOTES_REF.rpartition('/')[2]} show {commit[:12]}`")
    return cards


def format_note(cards: dict[str, dict]) -> str:
    """The note text `parse_note` reads back: the header comment and `cards:` (sorted by model)."""
    from weightops.core.yamlio import dump_yaml

    return NOTE_HEADER + dump_yaml({"cards": {k: cards[k] for k in sorted(cards)}})


def pick_card(model: str, commit: str, committed: bytes | None, notes: list[bytes | None] | None,
              what: str) -> tuple[dict | None, str | None]:
    """(card, where it came from) for `model` at `commit`: the committed card file's text
    (`committed`, FROM_COMMIT) wins; else the card for `model` in the commit's note (the first
    of `notes`, read at `note_specs`, that exists; FROM_NOTE); else (None, None): a version
    without a card. `what` names the committed card in messages. YamlError (2) or CardError (1)
    for a card that is there but unreadable (a broken card is never read as no card)."""
    if committed is not None:
        return parse_card(committed, what), FROM_COMMIT
    text = next((n for n in notes or () if n is not None), None)
    if text is None:
        return None, None
    card = parse_note(text, commit).get(model)
    if card is None:
        return None, None
    return card_doc(card, f"card of '{model}' attached to {commit[:12]} ({NOTES_REF})"), FROM_NOTE


def verified_by(card: dict | None) -> str:
    """How a version's bytes are checked: VERIFIED_BY_SHA256 with a card, VERIFIED_BY_DVC without."""
    return VERIFIED_BY_SHA256 if card is not None else VERIFIED_BY_DVC


def no_card_message(model: str, tag: str) -> str:
    """The one line a command says about a version without a card (stderr, once)."""
    return (f"note: {tag} has no model card (released before weightops): its bytes are checked by DVC's MD5 and "
            f"size only; `weightops card --attach {tag}` gives it one without moving the tag "
            f"(fetch attached cards with `git fetch origin {NOTES_REF}:{NOTES_REF}`)")


def no_card_notice(tag: str) -> str:
    """The audit's notice for a version without a card: DVC's md5 and size are its record, and
    a card can be attached later without moving the tag (never a failure: no tag has to move)."""
    return (f"{tag} has no model card (released before weightops): its bytes are checked by DVC's md5 and size; "
            f"`weightops card --attach {tag}` attaches one without moving the tag, for SHA-256 checks")
