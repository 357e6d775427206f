"""The response cache: exact-match answers for deterministic requests (see docs/cache.md).

Nothing here is imported unless a config turns the cache on (`gateway.state` imports
`gateway.cache.cache` then): a gateway without it pays nothing, not even the import.
`settings` alone is read by the config loader.
"""
