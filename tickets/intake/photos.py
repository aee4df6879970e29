"""The citizen's photo: checked to be a real image, re-encoded without metadata, stored under MEDIA_ROOT.

Checking is decoding: Pillow must recognise the file as JPEG, PNG or WebP and decode every
pixel; the type the browser declared and the file name are ignored. The stored file is a fresh
encoding of those pixels (turned upright by the EXIF orientation first), so no metadata survives:
no EXIF (GPS position, time, camera), no XMP, no comments, nothing appended after the image.
"""

import io
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from tickets import clock

# Pillow format -> (content type, file extension, save options)
FORMATS: dict[str, tuple[str, str, dict]] = {
    "JPEG": ("image/jpeg", "jpg", {"quality": 88, "optimize": True}),
    "PNG": ("image/png", "png", {"optimize": True}),
    "WEBP": ("image/webp", "webp", {"quality": 88}),
}
FOLDER = "intake"


@dataclass(frozen=True)
class PreparedPhoto:
    """A checked photo, re-encoded and held in memory until the ticket is created."""

    content: bytes
    content_type: str
    extension: str


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f}"


def photo_prepare(upload: UploadedFile) -> PreparedPhoto:
    """Check an uploaded photo and re-encode it; ValidationError with a message for the citizen otherwise."""
    limit = settings.INTAKE_PHOTO_MAX_BYTES
    if upload.size is not None and upload.size > limit:
        raise ValidationError(
            _("The photo is %(size)s MB; photos up to %(limit)s MB are accepted.")
            % {"size": _megabytes(upload.size), "limit": _megabytes(limit)},
            code="photo_size",
        )
    not_an_image = ValidationError(
        _("This file is not a photo we can read. Send a JPEG, PNG or WebP image."), code="photo_type"
    )
    upload.seek(0)
    raw = upload.read(limit + 1)
    if not raw:
        raise not_an_image
    if len(raw) > limit:  # the declared size was missing or wrong
        raise ValidationError(_("The photo is too large."), code="photo_size")
    try:
        with Image.open(io.BytesIO(raw), formats=list(FORMATS)) as image:
            # The header's size, checked before decoding: a small file can claim a huge canvas.
            width, height = image.size
            if width * height > settings.INTAKE_PHOTO_MAX_PIXELS:
                raise ValidationError(
                    _("The photo is %(width)d × %(height)d pixels; send a smaller one.")
                    % {"width": width, "height": height},
                    code="photo_pixels",
                )
            source_format = image.format
            image.load()  # decode every pixel: a truncated or forged file fails here
            upright = ImageOps.exif_transpose(image)
    except ValidationError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise not_an_image from None
    content_type, extension, options = FORMATS[source_format]
    if source_format == "JPEG" and upright.mode not in ("RGB", "L", "CMYK"):
        upright = upright.convert("RGB")
    # Some encoders fall back to the source's info (PNG takes its ICC profile from there): empty it,
    # and pass no exif=, icc_profile=, xmp= or pnginfo=, so the new file carries pixels only.
    upright.info = {}
    out = io.BytesIO()
    upright.save(out, format=source_format, **options)
    return PreparedPhoto(content=out.getvalue(), content_type=content_type, extension=extension)


def photo_store(photo: PreparedPhoto) -> str:
    """Write the photo under MEDIA_ROOT with a random, non-guessable name; return the stored name."""
    now = clock.now()
    name = f"{FOLDER}/{now:%Y/%m}/{secrets.token_urlsafe(24)}.{photo.extension}"
    return default_storage.save(name, ContentFile(photo.content))


def photo_delete(name: str) -> None:
    """Remove a stored photo (its ticket was not created after all)."""
    if name:
        default_storage.delete(name)
