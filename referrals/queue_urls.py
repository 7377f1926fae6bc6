from django.urls import path

from referrals import queue_views

app_name = "queue"

urlpatterns = [
    path("", queue_views.queue, name="index"),
    path("bulk/", queue_views.queue_bulk, name="bulk"),
]
