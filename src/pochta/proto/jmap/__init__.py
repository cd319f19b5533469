"""JMAP (RFC 8620 core, RFC 8621 mail): the pure, sans-IO parts of the protocol."""
