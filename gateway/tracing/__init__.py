"""OpenTelemetry traces (docs/observability.md#traces), imported only when tracing is configured.

Off (no OTLP endpoint) nothing here is imported and no request pays for it: `create_app` adds the
tracing middleware only when `general_settings.otel` / `OTEL_EXPORTER_OTLP_ENDPOINT` enables it, and the
hot path's only trace of it is one `scope.get("grid.spans")` and one context variable read per attempt.
"""
