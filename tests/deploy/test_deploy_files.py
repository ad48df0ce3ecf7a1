"""deploy/: the nginx site exposes what is public and allow-lists the rest; the systemd units
verify with `systemd-analyze` and need nothing a fresh install lacks; the install guide and the
other docs agree with the code's defaults. `nginx -t` runs on the site when nginx is installed
(or NGINX_BIN names a binary, e.g. one unpacked from Debian's package with `dpkg -x`)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from integrator.app import create_app
from integrator.services import services_of
from integrator.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NGINX = ROOT / "deploy" / "nginx" / "integrator.conf"
UNITS = ROOT / "deploy" / "systemd"
PUBLIC = {"/v1/", "= /healthz", "= /readyz", "= /docs", "= /openapi.json"}
ALLOW_LISTED = {"/ops/", "= /metrics"}


def nginx_locations() -> dict[str, list[str]]:
    """Each `location` of the TLS server: its directives (comments dropped), one per item."""
    text = re.sub(r"#[^\n]*", "", NGINX.read_text())
    tls = text[text.index("listen 443") :]
    tls = tls[: tls.index("\nserver {")] if "\nserver {" in tls else tls
    found: dict[str, list[str]] = {}
    for match in re.finditer(r"location\s+([^{]+?)\s*\{([^}]*)\}", tls):
        found[match[1].strip()] = [d.strip() for d in match[2].split(";") if d.strip()]
    return found


def test_nginx_exposes_the_api_health_and_docs_and_allow_lists_ops_and_metrics() -> None:
    locations = nginx_locations()
    for public in PUBLIC:
        directives = locations[public]
        assert "proxy_pass http://integrator_web" in directives, public
        assert not [d for d in directives if d.startswith(("allow", "deny"))], public
    for guarded in ALLOW_LISTED:
        directives = locations[guarded]
        rules = [d for d in directives if d.startswith(("allow", "deny"))]
        assert rules and rules[-1] == "deny all", (guarded, rules)
        assert all(r.startswith("allow ") for r in rules[:-1]), rules
    # nothing else reaches the app
    assert locations["/"] == ["return 404"]
    assert set(locations) == PUBLIC | ALLOW_LISTED | {"= /ops", "/"}
    # the allow-lists say what to put there
    raw = NGINX.read_text()
    assert re.search(r"/ops/ \{\n(\s+#[^\n]*allow[^\n]*\n)+", raw), "commented allow examples"


def test_nginx_terminates_tls_with_modern_settings() -> None:
    raw = NGINX.read_text()
    for setting in (
        "ssl_protocols TLSv1.2 TLSv1.3;",
        "ssl_certificate ",
        "ssl_certificate_key ",
        "ssl_session_tickets off;",
        "Strict-Transport-Security",
        "return 301 https://$host$request_uri;",
    ):
        assert setting in raw, setting
    assert "TLSv1 " not in raw and "TLSv1.1" not in raw


@pytest.fixture
def app_routes(settings: Settings) -> Iterator[set[str]]:
    app = create_app(settings.with_changes(secret_key="deploy-test-secret-key-0123456789"))
    if "ops" not in app.blueprints:
        from integrator.ops import init_ops

        init_ops(app, services_of(app))
    yield {rule.rule for rule in app.url_map.iter_rules()}
    services_of(app).redis.close()


def test_every_route_of_the_app_is_public_allow_listed_or_not_exposed_on_purpose(
    app_routes: set[str],
) -> None:
    def where(route: str) -> str:
        if route.startswith("/v1/"):
            return "public"
        if route in {"/healthz", "/readyz", "/docs", "/openapi.json"}:
            return "public"
        if route.startswith("/ops") or route == "/metrics":
            return "allow-listed"
        return "404"

    exposed = {r: where(r) for r in app_routes}
    assert exposed["/metrics"] == "allow-listed" and exposed["/ops/"] == "allow-listed"
    assert exposed["/v1/payments"] == "public" and exposed["/docs"] == "public"
    # a route that nginx would silently hide: decide where it belongs, then list it above
    assert {r for r, w in exposed.items() if w == "404"} <= {"/static/<path:filename>"}


def unit_files() -> list[Path]:
    return sorted(UNITS.glob("*.service"))


def test_units_write_only_where_a_fresh_install_has_a_folder() -> None:
    for unit in unit_files():
        text = unit.read_text()
        created = {f"/var/lib/{name}" for name in re.findall(r"^StateDirectory=(\S+)", text, re.M)}
        for path in re.findall(r"^ReadWritePaths=(.+)$", text, re.M):
            for folder in path.split():
                assert folder.lstrip("-") in created or folder.startswith("-"), (unit.name, folder)
        assert "ProtectSystem=strict" in text, unit.name
        if "VAR_DIR=" in text:
            var_dir = re.search(r"VAR_DIR=(\S+)", text)
            assert var_dir and var_dir[1] in created, (unit.name, "VAR_DIR must be created")


def test_the_web_unit_listens_on_loopback_behind_nginx() -> None:
    text = (UNITS / "integrator-web.service").read_text()
    assert "BIND=127.0.0.1" in text and "PORT=8000" in text
    assert "server 127.0.0.1:8000" in NGINX.read_text()


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here"
)
def test_the_units_verify_with_systemd_analyze(tmp_path: Path) -> None:
    # a fresh install's tree: the executables the units start (stubs), at a path of our own
    install = tmp_path / "opt-integrator"
    (install / ".venv" / "bin").mkdir(parents=True)
    for tool in ("gunicorn", "integrator"):
        stub = install / ".venv" / "bin" / tool
        stub.write_text("#!/bin/sh\n")
        stub.chmod(0o755)
    names = []
    for unit in unit_files():
        text = unit.read_text().replace("/opt/integrator", str(install))
        name = unit.name.replace("@.service", "@1.service")
        (tmp_path / name).write_text(text)
        names.append(str(tmp_path / name))
    done = subprocess.run(
        ["systemd-analyze", "verify", *names],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    # unknown keys and bad values are only warnings to systemd: none may appear for our units
    ours = [line for line in done.stderr.splitlines() if str(tmp_path) in line]
    assert ours == [], ours


def _env_example_names() -> set[str]:
    text = (UNITS / "integrator.env.example").read_text()
    return set(re.findall(r"^([A-Z_]+)=", text, re.M))


def test_the_units_env_example_names_only_real_settings_and_every_required_one() -> None:
    names = _env_example_names()
    readme = (ROOT / "README.md").read_text()
    for name in names:
        assert f"`{name}`" in readme, f"{name} is not in the README's settings table"
    for required in ("DIGIT_BASE_URL", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "OPS_USERS"):
        assert required in names, required


def test_docs_agree_with_the_defaults() -> None:
    scale_out = (ROOT / "docs" / "scale-out.md").read_text()
    # WEB_WORKERS defaults to two per core (settings.py)
    assert "two per core" in scale_out and "one per core per host" not in scale_out
    # the restore steps name a command that exists
    from click.testing import CliRunner

    from integrator import cli

    for command in re.findall(r"`integrator ([^`]+)`", scale_out + _deploy_md()):
        node: Any = cli.main
        for word in command.split():
            if not isinstance(node, click.Group):
                break  # the rest are the command's arguments
            assert word in node.commands, f"docs name `integrator {command}`: no {word!r}"
            node = node.commands[word]
    assert CliRunner().invoke(cli.main, ["reports", "reconcile", "--help"]).exit_code == 0


def _deploy_md() -> str:
    return (ROOT / "docs" / "deploy.md").read_text()


def test_the_install_guide_covers_a_fresh_install_step_by_step() -> None:
    guide = _deploy_md()
    for step in (
        "useradd --system",
        "python3 -m venv",
        "pip install -c constraints.txt",
        "integrator db upgrade",
        "integrator check",
        "systemctl enable --now integrator-web",
        "integrator-worker@",
        "integrator devices add",
        "integrator ops hash-password",
        "OPS_USERS",
        "deploy/nginx/integrator.conf",
    ):
        assert step in guide, step


NGINX_BIN = (
    os.environ.get("NGINX_BIN") or shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
)


@pytest.mark.skipif(NGINX_BIN is None, reason="nginx is not installed here (apt-get install nginx)")
def test_nginx_accepts_the_site(tmp_path: Path) -> None:
    assert NGINX_BIN is not None
    cert, key = tmp_path / "fullchain.pem", tmp_path / "privkey.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=integrator.example.gov.in", "-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    site = (
        NGINX.read_text()
        .replace("/etc/ssl/integrator/fullchain.pem", str(cert))
        .replace("/etc/ssl/integrator/privkey.pem", str(key))
    )
    (tmp_path / "site.conf").write_text(site)
    # a throw-away main config around the site: its own pid, logs and temp folders
    temp = "".join(
        f"  {kind}_temp_path {tmp_path}/{kind};\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log stderr;\nevents {{}}\n"
        f"http {{\n  access_log off;\n{temp}  include {tmp_path}/site.conf;\n}}\n"
    )
    done = subprocess.run(
        [NGINX_BIN, "-t", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "syntax is ok" in done.stderr
