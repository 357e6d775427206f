"""Pure ASGI middleware, outermost first: request id -> auth -> body limit."""
