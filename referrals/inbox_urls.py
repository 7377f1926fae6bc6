from django.urls import path

from referrals import queue_views

app_name = "inbox"

urlpatterns = [path("", queue_views.unit_inbox, name="index")]
