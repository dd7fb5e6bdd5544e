"""Write a caption into an image file's metadata: EXIF ImageDescription and XMP dc:description.

JPEG and PNG, without re-encoding the pixels: the metadata segments (JPEG APP1) or chunks (PNG
eXIf, iTXt "XML:com.adobe.xmp") are replaced or added and every other byte is kept. Other EXIF
fields are kept (piexif); in an existing XMP packet only dc:description is replaced or added.
The new file is written to a temporary file and renamed over the target, so an interrupted write
never leaves a damaged image.
"""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from xml.sax.saxutils import escape

import piexif

from captioner.atomic import atomic_path
from captioner.errors import ImageError

XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXIF_HEADER = b"Exif\x00\x00"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_XMP_KEY = b"XML:com.adobe.xmp"
IMAGE_DESCRIPTION = 270  # EXIF/TIFF tag 0x010E


def _description(caption: str) -> str:
    return f'<dc:description><rdf:Alt><rdf:li xml:lang="x-default">{escape(caption)}</rdf:li></rdf:Alt></dc:description>'


def xmp_packet(caption: str, existing: bytes | None = None) -> bytes:
    """An XMP packet with dc:description = caption; an existing packet keeps everything else."""
    description = _description(caption)
    if existing:
        text = existing.decode("utf-8", "replace")
        if re.search(r"<dc:description\b.*?</dc:description>", text, re.S):
            return re.sub(r"<dc:description\b.*?</dc:description>", lambda _: description, text, count=1,
                          flags=re.S).encode()
        if "</rdf:RDF>" in text:
            block = (f'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">{description}'
                     "</rdf:Description>")
            return text.replace("</rdf:RDF>", block + "</rdf:RDF>", 1).encode()
    return ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
            '<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f"{description}</rdf:Description></rdf:RDF></x:xmpmeta>"
            '<?xpacket end="w"?>').encode()


def _exif(caption: str, existing: bytes | None) -> bytes:
    """EXIF (TIFF structure, without the "Exif\\0\\0" header) with ImageDescription = caption."""
    try:
        data = piexif.load(EXIF_HEADER + existing) if existing else {"0th": {}, "Exif": {}, "GPS": {}, "1st": {}}
    except Exception:  # unreadable EXIF: replaced by one holding only the description
        data = {"0th": {}, "Exif": {}, "GPS": {}, "1st": {}}
    data.setdefault("0th", {})[IMAGE_DESCRIPTION] = caption.encode("ascii", "replace")
    data.pop("thumbnail", None)
    data["1st"] = {}
    return piexif.dump(data)[len(EXIF_HEADER):]


def _jpeg(data: bytes, caption: str) -> bytes:
    """Rewrite the metadata segments before the scan; the scan and everything after it is copied."""
    pos, head, exif, xmp = 2, [], None, None
    while True:
        if pos + 4 > len(data) or data[pos] != 0xFF:
            raise ImageError("damaged JPEG: no image data after the headers", "invalid")
        marker = data[pos + 1]
        if marker == 0xDA:  # start of scan: the rest is pixel data
            break
        if marker in (0x01,) or 0xD0 <= marker <= 0xD7:
            head.append(data[pos:pos + 2])
            pos += 2
            continue
        length = struct.unpack(">H", data[pos + 2:pos + 4])[0]
        segment = data[pos:pos + 2 + length]
        body = segment[4:]
        if marker == 0xE1 and body.startswith(EXIF_HEADER):
            exif = body[len(EXIF_HEADER):]
        elif marker == 0xE1 and body.startswith(XMP_HEADER):
            xmp = body[len(XMP_HEADER):]
        else:
            head.append(segment)
        pos += 2 + length
    new_exif = EXIF_HEADER + _exif(caption, exif)
    new_xmp = XMP_HEADER + xmp_packet(caption, xmp)
    if len(new_exif) > 65533 or len(new_xmp) > 65533:
        raise ImageError("metadata too large for one JPEG segment", "invalid")
    segments = [b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body for body in (new_exif, new_xmp)]
    first = 1 if head and head[0][:2] == b"\xff\xe0" else 0  # after JFIF's APP0, as viewers expect
    return data[:2] + b"".join(head[:first] + segments + head[first:]) + data[pos:]


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _png(data: bytes, caption: str) -> bytes:
    pos, chunks, exif, xmp = 8, [], None, None
    while pos + 12 <= len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        if pos + 12 + length > len(data):
            raise ImageError("damaged PNG: a chunk runs past the end of the file", "invalid")
        if kind == b"eXIf":
            exif = body
        elif kind == b"iTXt" and body.startswith(PNG_XMP_KEY + b"\x00"):
            xmp = body.split(b"\x00", 5)[-1] if body.count(b"\x00") >= 5 else None
        else:
            chunks.append((kind, data[pos:pos + 12 + length]))
        pos += 12 + length
        if kind == b"IEND":
            break
    if not chunks or chunks[0][0] != b"IHDR" or chunks[-1][0] != b"IEND":
        raise ImageError("damaged PNG: no IHDR or IEND chunk", "invalid")
    itxt = PNG_XMP_KEY + b"\x00\x00\x00\x00\x00" + xmp_packet(caption, xmp)  # no compression, no language
    new = [_png_chunk(b"eXIf", _exif(caption, exif)), _png_chunk(b"iTXt", itxt)]
    return PNG_SIGNATURE + chunks[0][1] + b"".join(new) + b"".join(raw for _, raw in chunks[1:])


def write_caption_metadata(source: str | Path, caption: str, target: str | Path | None = None) -> Path:
    """Write `caption` into `source` (or into a copy at `target`) as EXIF and XMP; returns the file written."""
    source = Path(source)
    data = source.read_bytes()
    if data.startswith(b"\xff\xd8"):
        new = _jpeg(data, caption)
    elif data.startswith(PNG_SIGNATURE):
        new = _png(data, caption)
    else:
        raise ImageError(f"{source.name}: captions can be written into JPEG and PNG files only", "unsupported")
    destination = Path(target) if target is not None else source
    destination.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(destination) as tmp:
        tmp.write_bytes(new)
    return destination
