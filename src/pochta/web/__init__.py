"""HTTP: the MTA-STS policy, client autoconfiguration and ACME http-01 challenges (docs/http.md).

The application is Starlette's; the listener that runs it is ``pochta.server.http``.
"""

from pochta.web.app import build_app
from pochta.web.services import Listening, WebServices

__all__ = ["Listening", "WebServices", "build_app"]
