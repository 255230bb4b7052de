"""OpenTelemetry for modelport: `OpenTelemetryObserver`, an observer making a span per model
call (each attempt a child span, the cache's hits, misses and stores as events) and the GenAI
token-usage and duration metrics, named after the OpenTelemetry GenAI semantic conventions.

Turn it on with `MODELPORT_OBSERVERS=otel` (it uses the global tracer and meter providers), or
register one of your own with `modelport.observe(OpenTelemetryObserver(...))`.
"""

from __future__ import annotations

from ._observer import CAPTURE_CONTENT_ENV, PROVIDER_NAMES, OpenTelemetryObserver

__all__ = ["CAPTURE_CONTENT_ENV", "PROVIDER_NAMES", "OpenTelemetryObserver"]

__version__ = "0.1.0"
