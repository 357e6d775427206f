"""HTTP endpoints: OpenAI-compatible proxy, models, health, admin."""
