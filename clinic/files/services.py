"""Uploaded files: what they are, where they are kept, and how they are handed out again.

Shared by every feature that keeps files (patient documents, proof of delivery, consent PDFs):
- ``file_validate`` decides what a file is from its first bytes only (never the name or the
  browser's content type) and refuses anything outside the allow-list or over the size limit;
- ``file_store`` writes it through Django's default storage under a random name, so neither
  the original filename nor an extension ever reaches disk or S3;
- ``download_link`` signs a short-lived ``/files/<token>`` link for one user and one object;
  the download view checks it again through the callback the owning app registered with
  ``file_access_register`` and audits every download.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import IO, TYPE_CHECKING

from django.conf import settings
from django.core import signing
from django.core.files import File
from django.core.files.storage import Storage, storages
from django.urls import reverse
from django.utils import timezone

from clinic.errors import ApplicationError
from clinic.files.registry import file_access_for

if TYPE_CHECKING:
    from django.db.models import Model

    from clinic.models import User


class Kind(StrEnum):
    PDF = "pdf"
    JPEG = "jpeg"
    PNG = "png"
    HEIC = "heic"
    TIFF = "tiff"
    # Made by the application (exports), never accepted from an upload: no signature below.
    CSV = "csv"

    @property
    def content_type(self) -> str:
        return _CONTENT_TYPES[self]

    @property
    def extension(self) -> str:
        return _EXTENSIONS[self]


_CONTENT_TYPES = {
    Kind.PDF: "application/pdf",
    Kind.JPEG: "image/jpeg",
    Kind.PNG: "image/png",
    Kind.HEIC: "image/heic",
    Kind.TIFF: "image/tiff",
    Kind.CSV: "text/csv",
}
_EXTENSIONS = {
    Kind.PDF: "pdf",
    Kind.JPEG: "jpg",
    Kind.PNG: "png",
    Kind.HEIC: "heic",
    Kind.TIFF: "tiff",
    Kind.CSV: "csv",
}

ALLOWED_KINDS_TEXT = "a PDF, JPEG, PNG, HEIC or TIFF"

# Enough for every signature below, including an ISO-BMFF ftyp box with a few brands.
_HEAD_BYTES = 64

_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis"}
# Generic HEIF brands: HEIC when the box lists no AVIF brand (AVIF is HEIF with AV1 inside).
_HEIF_GENERIC_BRANDS = {b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


def _read_head(fileobj: IO[bytes] | File) -> bytes:
    """The first bytes of ``fileobj``, leaving its position where it was."""
    position = fileobj.tell() if hasattr(fileobj, "tell") else 0
    fileobj.seek(0)
    head = fileobj.read(_HEAD_BYTES)
    fileobj.seek(position)
    return bytes(head or b"")


def _heif_brands(head: bytes) -> tuple[bytes, set[bytes]] | None:
    if len(head) < 12 or head[4:8] != b"ftyp":
        return None
    box_size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    end = min(box_size, len(head)) if box_size >= 16 else 16
    compatible = {head[i : i + 4] for i in range(16, end - 3, 4)}
    return major, compatible


def file_kind_detect(fileobj: IO[bytes] | File) -> Kind | None:
    """What the file is, judged by its magic bytes; ``None`` when not an allowed kind."""
    head = _read_head(fileobj)
    if head.startswith(b"%PDF-"):
        return Kind.PDF
    if head.startswith(b"\xff\xd8\xff"):
        return Kind.JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Kind.PNG
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return Kind.TIFF
    brands = _heif_brands(head)
    if brands is not None:
        major, compatible = brands
        if major in _HEIC_BRANDS:
            return Kind.HEIC
        if major in _HEIF_GENERIC_BRANDS and (
            compatible & _HEIC_BRANDS or not compatible & _AVIF_BRANDS
        ):
            return Kind.HEIC
    return None


def _describe_refused(head: bytes) -> str | None:
    """A person's name for a file we refuse, so the message says what they actually picked."""
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "a ZIP archive"
    if stripped.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<script")):
        return "a web page (HTML)"
    if stripped.startswith(b"<?xml") or stripped.startswith(b"<svg"):
        return "an XML or SVG file"
    if head.startswith(b"MZ"):
        return "a Windows program"
    if head.startswith(b"\x7fELF"):
        return "a program"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "a GIF image"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "a WebP image"
    if _heif_brands(head) is not None:
        return "a video or an image format we do not accept"
    return None


_MB = 1024 * 1024


def _size_text(size: int) -> str:
    # Rounded up, so a file just over the limit never reads as "25 MB; the limit is 25 MB".
    if size >= _MB:
        value = math.ceil(size / _MB * 10) / 10
        return f"{value:g} MB"
    return f"{math.ceil(size / 1024):g} KB"


def file_validate(upload: File, *, max_bytes: int | None = None) -> Kind:
    """The kind of ``upload``, or an ``ApplicationError`` whose message tells the person why not."""
    limit = settings.FILE_UPLOAD_MAX_BYTES if max_bytes is None else max_bytes
    size = upload.size
    if not size:
        raise ApplicationError(
            f"This file is empty; upload {ALLOWED_KINDS_TEXT}.", code="file_empty"
        )
    if size > limit:
        raise ApplicationError(
            f"This file is {_size_text(size)}; the limit is {_size_text(limit)}.",
            code="file_too_large",
        )
    kind = file_kind_detect(upload)
    if kind is None:
        what = _describe_refused(_read_head(upload))
        said = f"This file is {what}" if what else "This type of file is not accepted"
        raise ApplicationError(f"{said}; upload {ALLOWED_KINDS_TEXT}.", code="file_type_refused")
    return kind


@dataclass(frozen=True)
class StoredFile:
    name: str  # the storage name (random); never shown to people, never in an audit row
    size: int
    sha256: str
    kind: Kind
    content_type: str


_PREFIX = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*$")


def _storage() -> Storage:
    return storages["default"]


def file_store(*, upload: File, kind: Kind, prefix: str) -> StoredFile:
    """Write ``upload`` (already validated as ``kind``) to the default storage under a random name.

    The name is ``<prefix>/<yyyy>/<mm>/<uuid4 hex>``: no original filename (which may hold a
    patient's name) and no extension a server could act on. The content type stored with the
    object is the sniffed one, never the browser's. Storage is not transactional: a caller whose
    database transaction rolls back leaves an unreferenced object behind, which is harmless
    (it cannot be linked to) and can be swept by listing names no row refers to.
    """
    if not _PREFIX.match(prefix):
        raise ValueError(f"file prefix {prefix!r} must be lowercase path segments")
    digest = hashlib.sha256()
    size = 0
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
        size += len(chunk)
    upload.seek(0)

    now = timezone.now()
    name = f"{prefix}/{now:%Y}/{now:%m}/{uuid.uuid4().hex}"
    # A plain File around the bytes: S3Storage reads ``content_type`` from what it is given,
    # and the upload's own attribute is whatever the browser claimed.
    content = File(upload.file if hasattr(upload, "file") else upload, name=name)
    content.content_type = kind.content_type  # type: ignore[attr-defined]
    saved = _storage().save(name, content)
    return StoredFile(
        name=saved, size=size, sha256=digest.hexdigest(), kind=kind, content_type=kind.content_type
    )


# ---------------------------------------------------------------- access and signed links

DOWNLOAD_SALT = "clinic.files.download"
# A generic name such as "document-<public id>.pdf": the link token is signed, not encrypted.
_DOWNLOAD_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class DownloadGrant:
    """What a verified link token says."""

    storage_name: str
    filename: str
    content_type: str
    user_id: int
    object_type: str
    public_id: str
    ttl: int


def download_link(
    *,
    actor: User,
    obj: Model,
    storage_name: str,
    filename: str,
    kind: Kind,
    ttl: int | None = None,
) -> str:
    """A ``/files/<token>`` link that lets ``actor`` (and nobody else) download one stored file
    for ``ttl`` seconds. The token is readable by whoever holds it, so it names the file by its
    random storage name and a generic ``filename``, never by anything about the patient."""
    object_type = obj._meta.label_lower
    if file_access_for(object_type) is None:
        raise ValueError(f"no file access check registered for {object_type!r}")
    if not _DOWNLOAD_FILENAME.match(filename):
        raise ValueError("download filename must be generic, e.g. 'document-<public id>.pdf'")
    public_id = str(getattr(obj, "public_id", "") or "")
    if not public_id:
        raise ValueError(f"{obj._meta.label} has no public id to name it by")
    ttl = settings.FILE_DOWNLOAD_LINK_TTL if ttl is None else ttl
    if ttl <= 0:
        raise ValueError("a download link must live for at least a second")
    payload = {
        "n": storage_name,
        "f": filename,
        "t": kind.content_type,
        "u": actor.pk,
        "o": object_type,
        "p": public_id,
        "x": ttl,
    }
    token = signing.TimestampSigner(salt=DOWNLOAD_SALT).sign_object(payload, compress=True)
    return reverse("clinic:file_download", kwargs={"token": token})


class LinkInvalid(Exception):
    """Tampered with, or not a link we made."""


class LinkExpired(Exception):
    """Genuine but too old; ``grant`` says whose it was."""

    def __init__(self, grant: DownloadGrant):
        super().__init__("download link expired")
        self.grant = grant


def download_grant_read(token: str) -> DownloadGrant:
    """Verify ``token``'s signature and age; raise ``LinkInvalid`` or ``LinkExpired``."""
    signer = signing.TimestampSigner(salt=DOWNLOAD_SALT)
    try:
        payload = signer.unsign_object(token)
        grant = DownloadGrant(
            storage_name=str(payload["n"]),
            filename=str(payload["f"]),
            content_type=str(payload["t"]),
            user_id=int(payload["u"]),
            object_type=str(payload["o"]),
            public_id=str(payload["p"]),
            ttl=int(payload["x"]),
        )
    except (signing.BadSignature, KeyError, TypeError, ValueError) as exc:
        raise LinkInvalid from exc
    try:
        signer.unsign_object(token, max_age=grant.ttl)
    except signing.SignatureExpired as exc:
        raise LinkExpired(grant) from exc
    return grant


def storage_presigns(storage: Storage) -> bool:
    """Whether ``storage.url()`` hands out a signed, expiring URL (S3 with querystring auth)."""
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # pragma: no cover - django-storages is a dependency
        return False
    return (
        isinstance(storage, S3Storage)
        and bool(storage.querystring_auth)
        and not storage.custom_domain
    )


def presigned_download_url(*, grant: DownloadGrant, storage: Storage) -> str:
    """A presigned S3 URL that serves the object as an attachment, valid for the link's TTL."""
    parameters = {
        "ResponseContentDisposition": f'attachment; filename="{grant.filename}"',
        "ResponseContentType": grant.content_type,
        "ResponseCacheControl": "no-store",
    }
    return storage.url(grant.storage_name, parameters=parameters, expire=grant.ttl)  # type: ignore[call-arg]
