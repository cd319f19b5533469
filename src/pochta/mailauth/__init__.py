"""Authentication of mail received on the MX: DNS lookups for it, DKIM verification (RFC 6376 §6)
and the Authentication-Results field that reports it (RFC 8601). SPF and DMARC come next; each
check is one module here, all sharing ``resolver.DnsResolver`` and reporting into ``AuthResults``."""
