"""Cloud Function `detect` (gen2, HTTP), called daily by Cloud Scheduler with an OIDC token.

The body lives in the `backfill` package, deployed next to this file.
"""

import flask
import functions_framework
from backfill.entrypoints import http


@functions_framework.http
def detect(request: flask.Request) -> tuple[str, int, dict[str, str]]:
    return http.detect(request)
