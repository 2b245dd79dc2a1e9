"""Cloud Function `work` (gen2, HTTP), fed by the project-owned push subscription.

The body lives in the `backfill` package, deployed next to this file.
"""

import flask
import functions_framework
from backfill.entrypoints import http


@functions_framework.http
def work(request: flask.Request) -> tuple[str, int, dict[str, str]]:
    return http.work(request)
