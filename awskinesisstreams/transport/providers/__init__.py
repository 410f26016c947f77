"""Where credentials come from: one module per kind of source, each a fetch that returns Keys.

A fetch raises NotFound when its source does not apply here (no variable set, no file, no
metadata service), and a REQUEST_FAILED Error naming the source when it applies but fails.
None of them caches or refreshes: `transport/credentials.py` does that for all of them.
"""
