"""Rule packs, one folder each: ``rules.yaml`` (what to catch) beside ``cases.yaml`` (code
that must flag and code that must not, written by us). A new rule goes into the pack of its
family; a new family is a new folder. ``cases.py`` runs every pack's cases."""
