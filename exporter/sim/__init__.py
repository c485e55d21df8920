"""The VyOS router simulator: asyncssh servers that answer like VyOS, for the demo, tests and benchmarks."""
