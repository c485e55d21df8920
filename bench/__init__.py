"""Benchmark harness for vyos-vrrp-exporter (issue 8): `python -m bench [--quick]`.

Runs the simulator and every measurement in processes of their own on 127.0.0.1, prints a table
of figures with the ratio and the target beside each, and writes the same as JSON.
docs/performance.md explains the method.
"""
