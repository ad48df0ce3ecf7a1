"""deploy/ledger-backup.sh and ledger-restore.sh: a base backup of a running ledger, restored into
an empty directory, starts as a server with the same payments and statuses."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg

from integrator.localpg import PrivateCluster, ServerUser, run_as, scratch_dir, server_user
from integrator.payments import states
from integrator.payments.models import PaymentStatus
from integrator.store.db import Database
from integrator.store.migrations import upgrade
from integrator.store.payments import PaymentStore
from tests.support.processes import free_port, private_postgres
from tests.unit.payments.payment_factories import NOW, make_line, make_payment

ROOT = Path(__file__).resolve().parents[2]


def _own(path: Path, user: ServerUser) -> None:
    """Give `path` to the server's user (when we are root, the server runs as another user)."""
    if user.switch:
        os.chown(path, user.uid, user.gid)


def _statuses(url: str) -> dict[str, str]:
    with psycopg.connect(url) as conn:
        return dict(conn.execute("SELECT id, status FROM payments ORDER BY id").fetchall())


def test_a_backup_restored_into_an_empty_directory_has_the_same_payments() -> None:
    user = server_user()
    work = scratch_dir("integrator-backup-")
    # the scripts run as the server's user, who may not reach the checkout (a private clone)
    scripts = work / "deploy"
    scripts.mkdir()
    for name in ("ledger-backup.sh", "ledger-restore.sh"):
        shutil.copy(ROOT / "deploy" / name, scripts / name)
        (scripts / name).chmod(0o755)
    _own(scripts, user)
    try:
        with private_postgres(name="backup-source", durable=True) as source:
            source.ensure_database("integrator")
            url = source.url("integrator")
            upgrade(url)
            db = Database.connect(url, max_size=2)
            store = PaymentStore(db)
            for i in range(5):
                payment = make_payment(bills=(make_line(consumer_code=f"C-{i}"),))
                store.create(payment)
                if i % 2 == 0:
                    store.save(
                        states.transition(
                            payment, PaymentStatus.REGISTERED, actor="w", reason="ok", at=NOW
                        ),
                        fence=None,
                    )
            db.close()
            before = _statuses(url)
            backups = work / "backups"
            backups.mkdir()
            _own(backups, user)
            env_host = f"PGHOST=127.0.0.1 PGPORT={source.port} PGUSER={source.superuser}"
            made = run_as(
                user,
                ["bash", "-c", f"{env_host} {scripts}/ledger-backup.sh {backups} 3"],
                cwd=work,
            )
            assert made.returncode == 0, made.stdout
            backup = Path(made.stdout.strip().splitlines()[-1])
            assert (backup / "base.tar.gz").is_file() and (backup / "backup_manifest").is_file()
        # the source server is gone: only the backup remains
        restored_dir = work / "restored"
        restored_dir.mkdir()
        _own(restored_dir, user)
        restored = run_as(
            user,
            [f"{scripts}/ledger-restore.sh", str(backup), str(restored_dir / "pgdata")],
            cwd=work,
        )
        assert restored.returncode == 0, restored.stdout
        refused = run_as(
            user, [f"{scripts}/ledger-restore.sh", str(backup), str(restored_dir / "pgdata")]
        )
        assert refused.returncode != 0 and "not empty" in refused.stdout
        (restored_dir / "socket").mkdir(mode=0o700)  # initdb's run made this for the source
        _own(restored_dir / "socket", user)
        cluster = PrivateCluster(restored_dir, free_port(), name="restored", durable=True)
        cluster.start()
        try:
            assert _statuses(cluster.url("integrator")) == before
            assert len(before) == 5
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
