"""Analytics: SQL in DuckDB under the viewer's scope, returning plain figures or Polars frames."""
