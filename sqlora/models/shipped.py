"""The adapter shipped with sqlora: the headline recipe trained on the embedded model.

``ask``, ``serve``, ``mcp`` and :func:`sqlora.generate_sql` answer with it unless told otherwise: a user's own
``--adapter`` replaces it, ``--base`` (``base=True``) answers with the raw embedded model, and a base model other
than the embedded one gets no adapter. Anywhere an adapter directory is accepted, the name ``shipped`` stands for
it. Its recipe, data, held-out databases and scores are in the README next to its weights.
"""

from __future__ import annotations

from pathlib import Path

from sqlora.models.embedded import is_embedded

SHIPPED_ADAPTER = "shipped"
"""The name that stands for the shipped adapter wherever an adapter directory is accepted."""

SHIPPED_ADAPTER_DIR = Path(__file__).parent / "adapters" / "smollm2-135m-sql"


def resolve_adapter(adapter: str | None) -> str | None:
    """An adapter directory: the name ``shipped`` resolves to the shipped adapter, anything else is kept."""
    return str(SHIPPED_ADAPTER_DIR) if adapter == SHIPPED_ADAPTER else adapter


def answering_adapter(model: str | None, adapter: str | None, base: bool = False) -> str | None:
    """The adapter an answering interface loads: the given one, none with ``base``, else the shipped one.

    The shipped adapter is the default only on the embedded model it was trained on.
    """
    if adapter is not None and base:
        raise ValueError("give either an adapter or base=True (the raw base model), not both")
    if adapter is not None:
        return resolve_adapter(adapter)
    if base or not is_embedded(model):
        return None
    return str(SHIPPED_ADAPTER_DIR)
