"""vyos-vrrp-exporter: compare `show vrrp` across the routers of a VyOS VRRP cluster."""

__version__ = "0.1.0"
