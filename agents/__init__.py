"""Thin Faust agents, the request pipeline, and the scheduling and routing logic they use."""
