from __future__ import annotations

from django.db import models


class FloorRun(models.Model):
    """What any run must keep: its prompt, its status, and its answer with the tokens."""

    prompt = models.TextField()
    status = models.CharField(max_length=16, default="queued")
    output = models.TextField(blank=True)
    input_tokens = models.PositiveIntegerField(null=True)
    output_tokens = models.PositiveIntegerField(null=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True)

    def __str__(self) -> str:
        return f"floor run {self.pk} ({self.status})"
