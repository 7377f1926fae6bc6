"""What every admin changelist shares, whichever app (or library) it belongs to."""

from django.contrib.admin.options import IncorrectLookupParameters


class BoundedDateHierarchyMixin:
    """A date hierarchy's year beyond any date (``?at__year=99999999999999999999``) made
    Django's changelist raise OverflowError, a 500 (it catches only ValueError): it is the
    changelist's "invalid filter" answer instead, as any other bad lookup; issue 14 item 4."""

    def get_changelist(self, request, **kwargs):
        base = super().get_changelist(request, **kwargs)

        class BoundedChangeList(base):
            def get_filters(self, request):
                try:
                    return super().get_filters(request)
                except OverflowError as error:
                    raise IncorrectLookupParameters(error) from error

        return BoundedChangeList
