"""Shapes every API shares."""

from rest_framework import serializers


class ErrorOut(serializers.Serializer):
    """Every error: a stable code, a message in the caller's language, per-field messages."""

    error = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()))
