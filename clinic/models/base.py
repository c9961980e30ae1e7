import uuid

from django.db import models


class PublicIdModel(models.Model):
    """Rows addressed from the outside (URLs, sockets, audit) by a random id, never the key."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
