"""healthcard-host: the hospital's central service (card registry, blacklist, ledger) behind every healthcardd.

Issue #12; docs/host.md. It builds on the daemon's plumbing (:mod:`daemon.grpcserver`, :mod:`daemon.auth`,
:mod:`daemon.logs`, :mod:`daemon.errors`) and keeps its ledger in SQLite (embedded default) or PostgreSQL
(:mod:`daemon.host.db`).
"""
