"""Who holds a host port: a container (through Docker) or a process (through /proc)."""
import errno
import os
import socket


def container_holding(engine, port):
    for container in engine.containers.list():
        for bindings in (container.attrs["NetworkSettings"].get("Ports") or {}).values():
            if any(b.get("HostPort") == str(port) for b in bindings or []):
                return container
    return None


def port_in_use(port, host_ip="0.0.0.0"):
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host_ip, port))
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    return False


def _listening_inodes(port):
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as handle:
                next(handle)
                for line in handle:
                    fields = line.split()
                    local, state, inode = fields[1], fields[3], fields[9]
                    if state == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
                        inodes.add(f"socket:[{inode}]")
        except OSError:
            continue
    return inodes


def process_holding(port):
    """'PID 123 (nginx)' for the process listening on port, or None when not visible."""
    inodes = _listening_inodes(port)
    if not inodes:
        return None
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue  # gone, or not ours to see
        if any(_link(f"/proc/{pid}/fd/{fd}") in inodes for fd in fds):
            try:
                with open(f"/proc/{pid}/comm") as comm:
                    return f"PID {pid} ({comm.read().strip()})"
            except OSError:
                return f"PID {pid}"
    return None


def _link(path):
    """A descriptor's target; '' when it closed while we looked (the scan's own, for one)."""
    try:
        return os.readlink(path)
    except OSError:
        return ""


def exposure(*host_ips):
    """Who can reach a port published on these host addresses: this machine only, or more."""
    import ipaddress

    addresses = [ipaddress.ip_address(ip) for ip in host_ips]
    shown = ", ".join(host_ips)
    if any(address.is_unspecified for address in addresses):
        return f"every interface ({shown}): other machines on the network reach it too"
    if all(address.is_loopback for address in addresses):
        return f"loopback only ({shown}): this machine alone reaches it"
    return f"{shown} only: whoever reaches that address reaches it"


def published_on(container, port):
    """The host addresses a container publishes port on."""
    return sorted({b.get("HostIp") or "0.0.0.0"
                   for bindings in (container.attrs["NetworkSettings"].get("Ports") or {}).values()
                   for b in bindings or [] if b.get("HostPort") == str(port)})


def describe_holder(engine, port, host_ip="0.0.0.0", ledger=None):
    """A phrase naming who holds the port, or None when it is free; a container is called
    ours only when `ledger` (this checkout's ownership record) says so."""
    container = container_holding(engine, port)
    if container is not None:
        ours = ledger is not None and ledger.owns_container(container)
        return (f"container {container.name} ({container.short_id}"
                f"{', started by tasky-ops' if ours else ''})")
    if port_in_use(port, host_ip):
        return "process " + (process_holding(port) or "of another user (run as root to see which)")
    return None
