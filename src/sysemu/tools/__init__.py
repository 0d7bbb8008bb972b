"""Built-in tools (tracing, fault injection, virtual filesystem), made of handlers."""
