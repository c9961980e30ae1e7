"""The signed consent PDF: the consent text with who signed, when, where from, and hashes.

Made when the patient submits a signature (so the text signed is the one on screen), stored
under a random name, and filed into the patient's documents when the session completes.
"""

from __future__ import annotations

import datetime
import io

from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.utils import timezone
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.units import inch
from reportlab.lib.utils import ImageReader, simpleSplit
from reportlab.pdfgen import canvas

from clinic.files.services import Kind, file_store

from .consents import consent_sha256
from .models import Signature

STORAGE_PREFIX = "guided/signed"
_MARGIN = 0.9 * inch
_FONT = "Helvetica"
_SIZE = 10.5
_LEADING = 14


def signed_pdf_build(*, signature: Signature, signer_name: str) -> bytes:
    consent = signature.consent
    device = signature.device
    image = storages["default"].open(signature.image_name, "rb").read()
    width, height = LETTER
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=LETTER, pageCompression=1)
    pdf.setTitle(f"{consent.title} (version {consent.version})")
    pdf.setAuthor("Tandem guided pre-registration")
    y = height - _MARGIN

    def line(text: str, *, font: str = _FONT, size: float = _SIZE) -> None:
        nonlocal y
        for part in simpleSplit(text, font, size, width - 2 * _MARGIN) or [""]:
            if y < _MARGIN + _LEADING:
                pdf.showPage()
                y = height - _MARGIN
            pdf.setFont(font, size)
            pdf.drawString(_MARGIN, y, part)
            y -= _LEADING

    line(consent.title, font="Helvetica-Bold", size=15)
    y -= 4
    line(f"Consent text version {consent.version}", size=9)
    y -= 8
    for paragraph in consent.body.split("\n"):
        line(paragraph)
    y -= 12
    signed_at = signature.signed_at or timezone.now()
    facts = [
        ("Signed by", signer_name or "(name not given)"),
        ("Signed at (UTC)", signed_at.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")),
        ("Device", f"{device.public_id} — {signature.user_agent or 'unknown browser'}"),
        ("IP address", signature.ip or "unknown"),
        ("Consent text SHA-256", consent_sha256(consent)),
        ("Signature image SHA-256", signature.image_sha256),
    ]
    if y < _MARGIN + 2.2 * inch:
        pdf.showPage()
        y = height - _MARGIN
    reader = ImageReader(io.BytesIO(image))
    iw, ih = reader.getSize()
    box_w = 3.2 * inch
    box_h = min(1.2 * inch, box_w * ih / max(iw, 1))
    pdf.drawImage(reader, _MARGIN, y - box_h, width=box_w, height=box_h, mask="auto")
    y -= box_h + 4
    pdf.line(_MARGIN, y, _MARGIN + box_w, y)
    y -= _LEADING
    for label, value in facts:
        line(f"{label}: {value}", size=8.5)
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def signature_seal(*, signature: Signature, signer_name: str) -> Signature:
    """Make and store the signed PDF (caller: the locked SIGNATURE_SUBMITTED transaction)."""
    signature.signed_at = timezone.now()
    signature.signer_name = signer_name
    data = signed_pdf_build(signature=signature, signer_name=signer_name)
    stored = file_store(
        upload=ContentFile(data, name="signed.pdf"), kind=Kind.PDF, prefix=STORAGE_PREFIX
    )
    signature.pdf_name = stored.name
    signature.pdf_sha256 = stored.sha256
    signature.text_sha256 = consent_sha256(signature.consent)
    signature.save()
    return signature
