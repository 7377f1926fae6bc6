"""Bilingual names: every directory record carries English and Traditional Chinese."""

from django.db import models
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _


def prefers_chinese() -> bool:
    return (get_language() or "").lower().startswith("zh")


class BilingualNameMixin(models.Model):
    """``name_en`` + ``name_zh``, and ``name`` in the active language (falling back)."""

    name_en = models.CharField(_("name (English)"), max_length=200)
    name_zh = models.CharField(_("name (Chinese)"), max_length=200)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        if prefers_chinese():
            return self.name_zh or self.name_en
        return self.name_en or self.name_zh


def join_list(items) -> str:
    """Items joined as the active language writes a list: "、" in Chinese, ", " in English
    (issue 19: one home for every page's lists of names)."""
    separator = "、" if prefers_chinese() else ", "
    return separator.join(str(item) for item in items)
