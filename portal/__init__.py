"""The assembled portal: the URL map that mounts every app's pages (``portal/urls.py``).

It sits above all the apps (the one package allowed to import every app's pages), so that
``welfare_portal``, the base the apps stand on (settings, middleware, the API's shared
parts), imports none of them and no app runs in a circle with it.
"""
