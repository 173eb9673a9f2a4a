"""Shared test harnesses: builders, load and stream harnesses, servers, ports."""
