"""A real HTTP server that speaks provider wire formats, with faults controllable at run time."""

from infra.fake_provider.faults import FaultPlan
from infra.fake_provider.server import FakeProviderServer, build_app

__all__ = ["FakeProviderServer", "FaultPlan", "build_app"]
