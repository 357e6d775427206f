"""The tracer provider: OTLP/HTTP export in batches off the event loop, the sampler and the service name
from `OtelSettings`, and a log filter that puts the current trace id on every log line."""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_OFF,
    ALWAYS_ON,
    ParentBased,
    Sampler,
    TraceIdRatioBased,
)

from gateway.config.otel import OtelSettings
from gateway.config.probe import redact_url

log = logging.getLogger("grid.tracing")
EXPORT_TIMEOUT = 10.0


def sampler_for(settings: OtelSettings) -> Sampler:
    name = settings.sampler
    root: Sampler
    if name.endswith("always_off"):
        root = ALWAYS_OFF
    elif name.endswith("traceidratio"):
        root = TraceIdRatioBased(settings.sampler_arg)
    else:
        root = ALWAYS_ON
    return ParentBased(root) if name.startswith("parentbased_") else root


def make_provider(settings: OtelSettings) -> TracerProvider:
    """A provider of its own (not the global one: the gateway's spans are its business alone), flushed
    by its exit hook when the worker stops."""
    assert settings.endpoint is not None
    provider = TracerProvider(
        sampler=sampler_for(settings), resource=Resource.create({SERVICE_NAME: settings.service_name})
    )
    exporter = OTLPSpanExporter(endpoint=settings.endpoint, timeout=EXPORT_TIMEOUT)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    for handler in logging.getLogger().handlers:
        handler.addFilter(TraceIdFilter())
    log.info(
        "tracing: OTLP/HTTP to %s, sampler %s (%g), service %s",
        redact_url(settings.endpoint),
        settings.sampler,
        settings.sampler_arg,
        settings.service_name,
    )
    return provider


class TraceIdFilter(logging.Filter):
    """Every record written while a span is current carries its `trace_id`, sampled or not, so a log
    line leads to its trace and a trace to its lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = trace.get_current_span().get_span_context()
        if context.trace_id:  # 0: no span is current (start-up, another thread)
            record.trace_id = f"{context.trace_id:032x}"
        return True
