"""ManageSieve (RFC 5804): the handler binding the sans-IO core to the script service."""

from pochta.server.managesieve.handler import ManageSieveHandler, managesieve_handlers

__all__ = ["ManageSieveHandler", "managesieve_handlers"]
