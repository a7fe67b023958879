"""Render ``cdr-dagster.conf.template`` (beside this file) into an nginx configuration.

    python3 deploy/nginx/render_config.py --server-name cdr-scheduler.example.gov \\
        --output /etc/nginx/conf.d/cdr-dagster.conf

Every ``@NAME@`` placeholder of the template gets a value: the option of the same name
(``--server-name`` fills ``@SERVER_NAME@``) or the production default in :data:`DEFAULTS`. Each
value is checked before anything is written, and a bad one stops the render with one line naming
it: the webservers must be on loopback and must be two different ones (a viewer must never reach
the full webserver), paths must be absolute, and no value may carry nginx syntax. The output file
is replaced whole or not at all. Only the standard library is used, so the system Python will do.
See docs/access-control.md.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

TEMPLATE_PATH = Path(__file__).with_name("cdr-dagster.conf.template")
PLACEHOLDER = re.compile(r"@([A-Z][A-Z_]*)@")

#: Production values: HTTPS on 443, the two webservers of the README, Debian's usual places.
DEFAULTS: dict[str, str] = {
    "LISTEN": "443",
    "SERVER_NAME": "_",
    "OPERATORS_UPSTREAM": "127.0.0.1:3000",
    "VIEWERS_UPSTREAM": "127.0.0.1:3001",
    "OPERATORS_HTPASSWD": "/etc/nginx/cdr-dagster/operators.htpasswd",
    "VIEWERS_HTPASSWD": "/etc/nginx/cdr-dagster/viewers.htpasswd",
    "TLS_CERTIFICATE": "/etc/ssl/certs/cdr-dagster.pem",
    "TLS_CERTIFICATE_KEY": "/etc/ssl/private/cdr-dagster.key",
}


class RenderError(ValueError):
    """A value or the template cannot make a safe configuration; the message names it."""


def _port(text: str) -> bool:
    return text.isdigit() and 1 <= int(text) <= 65535


def _split_host_port(value: str) -> tuple[str, str] | None:
    host, colon, port = value.rpartition(":")
    if not colon or not host or not _port(port):
        return None
    return host.removeprefix("[").removesuffix("]"), port


def _listen(value: str) -> str | None:
    if _port(value):
        return None
    parts = _split_host_port(value)
    if parts is None:
        return "not a port or address:port"
    try:
        ipaddress.ip_address(parts[0])
    except ValueError:
        return "the address must be an IP address"
    return None


def _loopback(value: str) -> str | None:
    parts = _split_host_port(value)
    if parts is None:
        return "not host:port"
    host = parts[0]
    if host == "localhost":
        return None
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        return "the webservers listen on loopback only (127.0.0.1:port)"
    return None


def _absolute_path(value: str) -> str | None:
    if not value.startswith("/"):
        return "not an absolute path"
    if re.search(r"[\s;{}'\"$\\#]", value):
        return "a path without spaces or nginx syntax (; { } quotes $ \\ #) is needed"
    return None


def _server_names(value: str) -> str | None:
    if not re.fullmatch(r"[A-Za-z0-9_.*-]+( [A-Za-z0-9_.*-]+)*", value):
        return "host names separated by single spaces are needed"
    return None


CHECKS: dict[str, Callable[[str], str | None]] = {
    "LISTEN": _listen,
    "SERVER_NAME": _server_names,
    "OPERATORS_UPSTREAM": _loopback,
    "VIEWERS_UPSTREAM": _loopback,
    "OPERATORS_HTPASSWD": _absolute_path,
    "VIEWERS_HTPASSWD": _absolute_path,
    "TLS_CERTIFICATE": _absolute_path,
    "TLS_CERTIFICATE_KEY": _absolute_path,
}


def check_values(values: Mapping[str, str]) -> dict[str, str]:
    """The defaults overlaid with ``values``, each checked; raises :class:`RenderError`."""
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise RenderError(f"unknown setting {unknown[0]}; known: {', '.join(DEFAULTS)}")
    merged = {**DEFAULTS, **values}
    for name, value in merged.items():
        problem = CHECKS[name](value)
        if problem:
            raise RenderError(f"{name}={value!r}: {problem}")
    for first, second in (
        ("OPERATORS_UPSTREAM", "VIEWERS_UPSTREAM"),
        ("OPERATORS_HTPASSWD", "VIEWERS_HTPASSWD"),
    ):
        if merged[first] == merged[second]:
            raise RenderError(
                f"{second}={merged[second]!r} is also {first}: each role needs its own"
            )
    return merged


def render(values: Mapping[str, str], template: str | None = None) -> str:
    """The configuration text for ``values`` (defaults for the rest); raises RenderError."""
    merged = check_values(values)
    text = TEMPLATE_PATH.read_text(encoding="utf-8") if template is None else template
    used = set(PLACEHOLDER.findall(text))
    if used != set(merged):
        missing, extra = sorted(used - set(merged)), sorted(set(merged) - used)
        raise RenderError(f"template and renderer disagree: no value for {missing}, unused {extra}")
    return PLACEHOLDER.sub(lambda match: merged[match.group(1)], text)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename (a reader sees the old or the new file)."""
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: options named like the placeholders, ``--output`` or standard output."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, default in DEFAULTS.items():
        option = "--" + name.lower().replace("_", "-")
        parser.add_argument(option, dest=name, default=default, help=f"default: {default}")
    parser.add_argument("--output", type=Path, help="file to write (default: standard output)")
    arguments = vars(parser.parse_args(argv))
    output = arguments.pop("output")
    try:
        text = render(arguments)
    except RenderError as exc:
        print(f"render_config: {exc}", file=sys.stderr)
        return 2
    if output is None:
        sys.stdout.write(text)
    else:
        write_atomically(output, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
