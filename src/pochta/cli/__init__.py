"""The `pochta` command: init, serve, and the administration of domains, users, aliases and secrets.

Every command takes ``--data DIR`` (env ``POCHTA_DATA``, default ``./pochta-data``).
Exit codes: 0 success, 1 the operation failed (a message says why), 2 usage or configuration error.

Each command's module is imported only when that command runs (``COMMANDS``): a ``pochta user add``
does not load the HTTP stack, the ACME client or the queue, so every command starts quicker.
"""

from __future__ import annotations

import importlib

import click

# Command name -> the module that registers it and its registration function (one function may
# register several commands). tests/e2e/test_cli.py checks this table against the modules.
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("server", "register_server_commands"),
    "init": ("server", "register_server_commands"),
    "config": ("server", "register_server_commands"),
    "domain": ("admin", "register_admin_commands"),
    "user": ("admin", "register_admin_commands"),
    "alias": ("admin", "register_admin_commands"),
    "app-password": ("admin", "register_admin_commands"),
    "verify": ("maintenance", "register_maintenance_commands"),
    "reconstruct": ("maintenance", "register_maintenance_commands"),
    "queue": ("queue", "register_queue_commands"),
    "quota": ("quota", "register_quota_commands"),
    "acl": ("acl", "register_acl_commands"),
    "shared": ("shared", "register_shared_commands"),
    "auth": ("auth", "register_auth_commands"),
    "backup": ("backup", "register_backup_commands"),
    "restore": ("backup", "register_backup_commands"),
    "sieve": ("sieve", "register_sieve_commands"),
    "filter": ("rules", "register_rule_commands"),
    "forward": ("rules", "register_rule_commands"),
    "vacation": ("rules", "register_rule_commands"),
    "dkim": ("dkim", "register_dkim_commands"),
    "dmarc": ("dmarc", "register_dmarc_commands"),
    "dns": ("dns", "register_dns_commands"),
    "tls": ("tls", "register_tls_commands"),
    "import": ("import_export", "register_import_export_commands"),
    "export": ("import_export", "register_import_export_commands"),
    "fetch": ("fetch", "register_fetch_commands"),
    "migrate": ("migrate", "register_migrate_commands"),
    "store": ("store", "register_store_commands"),
    "unit": ("unit", "register_unit_commands"),
    "status": ("status", "register_status_commands"),
}


class _LazyGroup(click.Group):
    """A group whose commands are registered by their module when first looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            register_all_of(self, COMMANDS[cmd_name])
        return super().get_command(ctx, cmd_name)


def register_all_of(group: click.Group, home: tuple[str, str]) -> None:
    """Register the commands of one module (``COMMANDS`` value) on ``group``."""
    module, function = home
    getattr(importlib.import_module(f"pochta.cli.{module}"), function)(group)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="pochta")
def main() -> None:
    """pochta: a complete mail server (SMTP, LMTP, submission, POP3, IMAP) on one store."""
