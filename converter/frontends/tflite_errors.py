"""The TFLite frontend's errors, and the first look at the bytes: size, identifier, and a name
for well-known formats that are not TFLite (a .pt file, a text file) for the message."""

from __future__ import annotations

IDENTIFIER = b"TFL3"
MAX_FILE_BYTES = (1 << 31) - 1  # flatbuffer offsets are 32-bit (signed for vtables)


class TFLiteFormatError(ValueError):
    """The bytes are not a well-formed .tflite model; the message names what and where."""


class UnsupportedTFLiteError(ValueError):
    """A well-formed model uses operators or options firmforge cannot import (all listed)."""


class SchemaUnavailableError(ValueError):
    """No installed package provides the TFLite flatbuffer schema (or flatbuffers is missing)."""


def sniff(data: bytes) -> str | None:
    """A description of well-known non-TFLite formats, for the error message."""
    head = data[:8]
    if head.startswith(b"PK\x03\x04"):
        return "a ZIP archive (a PyTorch .pt/.pth or Keras .keras file?)"
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return "a Python pickle (an old PyTorch file?)"
    if head.startswith(b"\x89HDF"):
        return "an HDF5 file (a Keras .h5 model?)"
    if head.startswith(b"\x7fELF"):
        return "an ELF executable"
    if head[4:7] == b"TFL":
        return f"a TFLite flatbuffer with identifier {head[4:8]!r}, not {IDENTIFIER!r}"
    try:
        text = data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if text and all(c.isprintable() or c in "\r\n\t" for c in text):
        return "a text file"
    return None


def check_header(data: bytes) -> None:
    if not data:
        raise TFLiteFormatError("empty file: a .tflite model has at least an 8-byte header")
    if len(data) > MAX_FILE_BYTES:
        raise TFLiteFormatError(f"{len(data)} bytes is larger than a flatbuffer can address")
    kind = sniff(data)
    if data[4:8] != IDENTIFIER:
        if kind:
            raise TFLiteFormatError(f"not a .tflite model: the data looks like {kind}")
        raise TFLiteFormatError(f"not a .tflite model: bytes 4..8 are {data[4:8]!r}, the TFLite "
                                f"identifier is {IDENTIFIER!r}")
    if len(data) < 24:
        raise TFLiteFormatError(f"truncated .tflite model: {len(data)} bytes hold no model table")
