"""The keys Tandem keeps in a signed-in session, shared by the session middleware, the
sign-in services and the socket guard."""

SESSION_AUTH_AT = "tandem_auth_at"  # when the user finished signing in (epoch seconds)
SESSION_LAST_SEEN = "tandem_last_seen"  # the last request that was not a passive poll
