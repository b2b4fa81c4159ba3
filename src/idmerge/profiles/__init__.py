"""User and group profiles.

``model`` holds the decoded updates, ``operations`` the ``/engage`` operations as pure
compute-then-apply functions, ``book`` their fold in ``$time`` order and the
:class:`~idmerge.profiles.book.ProfileBook` that keeps a project's profiles, and
``reading`` what a reader sees of a person or a group in each identity mode.

Nothing is imported here, so that importing ``idmerge.profiles.model`` (as the wire
layer does) stays free of storage.
"""
