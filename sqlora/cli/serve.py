"""Commands of this group are built in a later milestone."""
