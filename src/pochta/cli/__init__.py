"""The `pochta` command: init, serve, and the administration of domains, users, aliases and secrets.

Every command takes ``--data DIR`` (env ``POCHTA_DATA``, default ``./pochta-data``).
Exit codes: 0 success, 1 the operation failed (a message says why), 2 usage or configuration error.
"""

from __future__ import annotations

import click

from pochta.cli.acl import register_acl_commands
from pochta.cli.admin import register_admin_commands
from pochta.cli.auth import register_auth_commands
from pochta.cli.backup import register_backup_commands
from pochta.cli.dkim import register_dkim_commands
from pochta.cli.dmarc import register_dmarc_commands
from pochta.cli.dns import register_dns_commands
from pochta.cli.fetch import register_fetch_commands
from pochta.cli.import_export import register_import_export_commands
from pochta.cli.maintenance import register_maintenance_commands
from pochta.cli.migrate import register_migrate_commands
from pochta.cli.queue import register_queue_commands
from pochta.cli.quota import register_quota_commands
from pochta.cli.rules import register_rule_commands
from pochta.cli.server import register_server_commands
from pochta.cli.shared import register_shared_commands
from pochta.cli.sieve import register_sieve_commands
from pochta.cli.tls import register_tls_commands


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pochta")
def main() -> None:
    """pochta: a complete mail server (SMTP, LMTP, submission, POP3, IMAP) on one store."""


register_server_commands(main)
register_admin_commands(main)
register_maintenance_commands(main)
register_queue_commands(main)
register_quota_commands(main)
register_acl_commands(main)
register_shared_commands(main)
register_auth_commands(main)
register_backup_commands(main)
register_sieve_commands(main)
register_rule_commands(main)
register_dkim_commands(main)
register_dmarc_commands(main)
register_dns_commands(main)
register_tls_commands(main)
register_import_export_commands(main)
register_fetch_commands(main)
register_migrate_commands(main)
