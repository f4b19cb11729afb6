from __future__ import annotations

from rest_framework import serializers

from ..models import AuditEntry


class AuditEntrySerializer(serializers.ModelSerializer):
    action_label = serializers.CharField(source="get_action_display", read_only=True)

    class Meta:
        model = AuditEntry
        fields = (
            "id",
            "created_at",
            "action",
            "action_label",
            "actor_email",
            "ip_address",
            "target_type",
            "target_id",
            "target_text",
            "details",
            "workspace_name",
        )
        read_only_fields = fields
