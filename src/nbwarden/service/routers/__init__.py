"""JSON API routers, one module per resource. Each route's docstring is its OpenAPI text."""
