"""Client keys beyond the YAML: admin-created keys (`records`, `registry`) and every key's limits and
budget on the request path (`limits`)."""
