"""RFC 8621 sections 6 and 7, pure: the Identity object and its /set rules (``identity``), the
EmailSubmission's envelope (given or derived from the Email, ``envelope``), its create arguments
and object (``submission``), and /query's filter and sort (``query``)."""
