"""Server-side session stores: one interface (``base``), one module per backend, one factory.

A store keeps what a cookie cannot: whether a session was ended (sign out
everywhere, back-channel logout), when it was last used, the full claims and
an encrypted token blob. Import from the modules themselves
(``auth.stores.base``, ``auth.stores.factory``): this package imports nothing,
so using one backend never loads another's client library.
"""
