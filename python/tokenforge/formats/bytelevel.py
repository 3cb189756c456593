"""GPT-2's byte <-> printable-character table used by byte-level vocabularies in ``tokenizer.json``.

Printable Latin-1 bytes map to themselves; the other 68 bytes map to U+0100 onward in byte order, so
every token's bytes become a printable string ("Ġ" is the space byte).
"""

from __future__ import annotations

__all__ = ["BYTE_TO_CHAR", "CHAR_TO_BYTE", "bytes_to_token_str", "token_str_to_bytes"]


def _table() -> list[str]:
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    table: list[str] = [""] * 256
    extra = 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


BYTE_TO_CHAR: tuple[str, ...] = tuple(_table())
CHAR_TO_BYTE: dict[str, int] = {c: b for b, c in enumerate(BYTE_TO_CHAR)}


def bytes_to_token_str(data: bytes) -> str:
    """The vocabulary string of a token's bytes."""
    return "".join(BYTE_TO_CHAR[b] for b in data)


def token_str_to_bytes(token: str) -> bytes | None:
    """The bytes of a vocabulary string, or None if it has a character outside the byte alphabet."""
    try:
        return bytes(CHAR_TO_BYTE[c] for c in token)
    except KeyError:
        return None
