"""Full-stack tests: real Prometheus and Alertmanager against the exporter and simulated routers."""
