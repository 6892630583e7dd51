"""What a file really is, from its bytes (never from a name or a Content-Type the sender chose)."""

from __future__ import annotations


def sniff(data: bytes) -> str | None:
    """jpg, png, pdf, mp4, gif, bmp, webp or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"%PDF-"):
        return "pdf"
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "mp4"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


IMAGE_FORMATS = frozenset({"jpg", "png", "gif", "bmp", "webp"})
