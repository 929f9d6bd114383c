"""Phone motion photos as the phones write them, for tests/test_motion_photo.py
and scripts/test-wheel.sh: a JPEG still, an XMP APP1 segment after its SOI
and an MP4 after its end (Google's Motion Photo 1.0 and the older
MicroVideo), or the MP4 in a Samsung SEF trailer's "MotionPhoto_Data" block."""

from __future__ import annotations

import struct

XMP_SIGNATURE = b"http://ns.adobe.com/xap/1.0/\x00"


def with_xmp(jpeg: bytes, xmp: str) -> bytes:
    """The JPEG with an XMP APP1 segment right after its SOI, as cameras write it."""
    payload = XMP_SIGNATURE + xmp.encode()
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + jpeg[2:]


def google_xmp(video_length: int) -> str:
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about=""
      xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"
      xmlns:Container="http://ns.google.com/photos/1.0/container/"
      xmlns:Item="http://ns.google.com/photos/1.0/container/item/"
    GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1" GCamera:MotionPhotoPresentationTimestampUs="0">
    <Container:Directory><rdf:Seq>
      <rdf:li rdf:parseType="Resource"><Container:Item
        Item:Mime="image/jpeg" Item:Semantic="Primary" Item:Length="0" Item:Padding="0"/></rdf:li>
      <rdf:li rdf:parseType="Resource"><Container:Item
        Item:Mime="video/mp4" Item:Semantic="MotionPhoto" Item:Length="{video_length}" Item:Padding="0"/></rdf:li>
    </rdf:Seq></Container:Directory>
  </rdf:Description></rdf:RDF></x:xmpmeta>"""


def microvideo_xmp(offset_from_end: int) -> str:
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:GCamera="http://ns.google.com/photos/1.0/camera/"
    GCamera:MicroVideo="1" GCamera:MicroVideoVersion="1" GCamera:MicroVideoOffset="{offset_from_end}"
    GCamera:MicroVideoPresentationTimestampUs="-1"/></rdf:RDF></x:xmpmeta>"""


def samsung_trailer(mp4: bytes) -> tuple[bytes, int]:
    """The MotionPhoto_Data block with the MP4 and the SEF trailer after it
    (little-endian: "SEFH", version, count, entries of type, distance back
    from SEFH and length; then the trailer's size and "SEFT"); and where the
    MP4 starts in the block."""
    name = b"MotionPhoto_Data"
    block = b"\x00\x00\x30\x0a" + struct.pack("<I", len(name)) + name + mp4
    sef = b"SEFH" + struct.pack("<II", 106, 1) + b"\x00\x00\x30\x0a" + struct.pack("<II", len(block), len(block))
    return block + sef + struct.pack("<I", len(sef)) + b"SEFT", 8 + len(name)


def build(kind: str, jpeg: bytes, mp4: bytes) -> tuple[bytes, int]:
    """A motion photo of the kind, and where its MP4 starts."""
    if kind == "google":
        head = with_xmp(jpeg, google_xmp(len(mp4)))
        return head + mp4, len(head)
    if kind == "microvideo":
        head = with_xmp(jpeg, microvideo_xmp(len(mp4)))
        return head + mp4, len(head)
    tail, at = samsung_trailer(mp4)
    return jpeg + tail, len(jpeg) + at
