"""The web side: routes, the connection guard in front of aiohttp, web config (TLS, basic auth), status page."""
