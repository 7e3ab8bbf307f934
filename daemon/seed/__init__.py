"""The initial load: one transaction of COPYs into empty tables."""
