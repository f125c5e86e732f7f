"""HTTP servers: the demo tool webhook (and, later, the REST API)."""
