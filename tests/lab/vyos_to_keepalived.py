"""Turn a router's VyOS `set high-availability vrrp ...` commands into the keepalived.conf VyOS writes.

Pure: text in, text out; no I/O. The lab (vrrplab.py) generates every router's keepalived.conf
with this, from the same `set` commands the router serves to `show configuration commands`, so the
exporter's config reader and keepalived see one configuration.

The translation follows vyos-1x's own template, `data/templates/high-availability/keepalived.conf.j2`
(1.4 sagitta and later; the 1.2/1.3 `vrrp` template writes the same instance keywords), and the
defaults of `interface-definitions/high-availability.xml.in`:

| VyOS                                         | keepalived                                          |
|----------------------------------------------|-----------------------------------------------------|
| `group G` (not `disable`d)                   | `vrrp_instance G { state BACKUP ... }`              |
| `interface`, `vrid`                          | `interface`, `virtual_router_id`                    |
| `priority` (default 100)                     | `priority`                                          |
| `advertise-interval` (default 1)             | `advert_int`                                        |
| `no-preempt`                                 | `nopreempt`                                         |
| otherwise `preempt-delay` (default 0)        | `preempt_delay`                                     |
| `peer-address` / `hello-source-address`      | `unicast_peer { }` / `unicast_src_ip`, `mcast_src_ip` |
| `rfc3768-compatibility`                      | `use_vmac <if>v<vrid>v4` (`vmac_xmit_base` with a peer) |
| `address` (1.4+) / `virtual-address` (1.2/1.3) | `virtual_ipaddress { }`                           |
| `sync-group S member M`                      | `vrrp_sync_group S { group { M ... } }`, after the instances |
| `global-parameters version`                  | `vrrp_version` in `global_defs` (absent: keepalived's VRRPv2) |
| `description`                                | a `# description` comment                           |

Sync-group members are written as configured, typos included (`member VLAN10` for VLAN100, as in
the seed): keepalived then warns that the virtual router does not exist and leaves the real group
out of the sync group, which is what such a VyOS router runs.

Not reproduced, each for a stated reason:
- the `authentication` block: exporter.vyos_config drops the password while parsing (by design), so
  it cannot be written back; both lab routers are then equally without authentication;
- `track`, `health-check` and `transition-script`: the parser keeps only their presence; a comment
  says they were configured;
- VyOS's `notify_fifo`/`notify_fifo_script` (its state-change helper) and `dynamic_interfaces`
  are replaced by the lab's `notify` hook (see `notify`).

Lab overrides (keyword arguments), none of which VyOS can express:
- `interfaces`: VyOS interface name -> the lab router's interface name;
- `advert_int`: VyOS allows whole seconds 1-255; the lab runs VRRPv3 with 0.1 s adverts for speed;
- `vrrp_version`: written into `global_defs` (the lab's default is 3, needed for sub-second adverts);
- `router_id`, and `notify`: a command run by keepalived on every state change of every instance and
  sync group (then `enable_script_security` is set, which keepalived's `-t` wants with scripts).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

from exporter.vyos_config import VrrpConfig, VrrpGroupConfig, parse_vyos_config

__all__ = [
    "VYOS_ADVERTISE_INTERVAL",
    "VYOS_PREEMPT_DELAY",
    "ConversionError",
    "keepalived_conf",
    "keepalived_conf_from_commands",
]

# interface-definitions/high-availability.xml.in <defaultValue>s
VYOS_ADVERTISE_INTERVAL = 1
VYOS_PREEMPT_DELAY = 0


class ConversionError(ValueError):
    """A group VyOS itself would refuse to commit (no interface, no vrid)."""


def _fmt_seconds(value: float) -> str:
    return f"{value:g}"


def _ip_family(address: str) -> str:
    try:
        return "4" if ipaddress.ip_interface(address).version == 4 else "6"
    except ValueError:
        return "4"


def _instance(
    group: VrrpGroupConfig,
    *,
    interfaces: Mapping[str, str],
    advert_int: float | None,
    notify: str | None,
) -> list[str]:
    if group.interface is None:
        raise ConversionError(f"group {group.name} has no interface (VyOS refuses to commit it)")
    if group.vrid is None:
        raise ConversionError(f"group {group.name} has no vrid (VyOS refuses to commit it)")
    iface = interfaces.get(group.interface, group.interface)
    advert = advert_int if advert_int is not None else (group.advertise_interval or VYOS_ADVERTISE_INTERVAL)
    out = [f"vrrp_instance {group.name} {{"]
    if group.description:
        out.append(f"    # {group.description}")
    out += [
        "    state BACKUP",
        f"    interface {iface}",
        f"    virtual_router_id {group.vrid}",
        f"    priority {group.priority}",
        f"    advert_int {_fmt_seconds(advert)}",
    ]
    if group.preempt:
        delay = group.preempt_delay if group.preempt_delay is not None else VYOS_PREEMPT_DELAY
        out.append(f"    preempt_delay {delay}")
    else:
        out.append("    nopreempt")
    if group.peer_address:
        out.append(f"    unicast_peer {{ {group.peer_address} }}")
    if group.hello_source_address:
        kind = "unicast_src_ip" if group.peer_address else "mcast_src_ip"
        out.append(f"    {kind} {group.hello_source_address}")
    if group.rfc3768:
        family = _ip_family(group.addresses[0]) if group.addresses else "4"
        out.append(f"    use_vmac {iface}v{group.vrid}v{family}")
        if group.peer_address:
            out.append("    vmac_xmit_base")
    if group.has_authentication:
        out.append("    # authentication configured on the router (the password is never read: not reproduced)")
    if group.addresses:
        out.append("    virtual_ipaddress {")
        out += [f"        {address}" for address in group.addresses]
        out.append("    }")
    present = [
        name
        for name, flag in (
            ("track", group.has_track),
            ("health-check", group.has_health_check),
            ("transition-script", group.has_transition_scripts),
        )
        if flag
    ]
    if present:
        out.append(f"    # configured on the router, not reproduced: {', '.join(present)}")
    if notify:
        out.append(f'    notify "{notify}"')
    out.append("}")
    return out


def keepalived_conf(
    config: VrrpConfig,
    *,
    interfaces: Mapping[str, str] | None = None,
    router_id: str | None = None,
    vrrp_version: int | None = None,
    advert_int: float | None = None,
    notify: str | None = None,
    header: str | None = None,
) -> str:
    """keepalived.conf for one router's VRRP configuration (see the module docstring)."""
    if vrrp_version not in (None, 2, 3):
        raise ConversionError(f"vrrp_version must be 2 or 3, got {vrrp_version}")
    if advert_int is not None and advert_int <= 0:
        raise ConversionError(f"advert_int must be positive, got {advert_int}")
    mapping = dict(interfaces or {})
    out = ["# Generated from VyOS `set high-availability vrrp` commands (tests/lab/vyos_to_keepalived.py)"]
    if header:
        out += [f"# {line}" for line in header.splitlines()]
    out.append("global_defs {")
    if router_id:
        out.append(f"    router_id {router_id}")
    out.append("    script_user root")
    if notify:
        out.append("    enable_script_security")
    if vrrp_version is not None:
        out.append(f"    vrrp_version {vrrp_version}")
    out.append("}")
    for group in config.groups.values():
        if group.disabled:
            continue
        out += _instance(group, interfaces=mapping, advert_int=advert_int, notify=notify)
    for name, members in config.sync_groups.items():
        out += [f"vrrp_sync_group {name} {{", "    group {"]
        out += [f"        {member}" for member in members]
        out.append("    }")
        if notify:
            out.append(f'    notify "{notify}"')
        out.append("}")
    return "\n".join(out) + "\n"


def keepalived_conf_from_commands(
    text: str,
    *,
    interfaces: Mapping[str, str] | None = None,
    router_id: str | None = None,
    vrrp_version: int | None = None,
    advert_int: float | None = None,
    notify: str | None = None,
    header: str | None = None,
) -> str:
    """`keepalived_conf(parse_vyos_config(text), ...)`: from `show configuration commands` output."""
    return keepalived_conf(
        parse_vyos_config(text),
        interfaces=interfaces,
        router_id=router_id,
        vrrp_version=vrrp_version,
        advert_int=advert_int,
        notify=notify,
        header=header,
    )
