"""Compressed responses: Brotli for the API's JSON where the client takes it, gzip otherwise.

Streaming responses are left alone: an event stream must reach the browser event by
event, and a compressor holds bytes back until it has enough to pack (the file
downloads stream too, and WhiteNoise serves static files precompressed itself).

Pages get gzip only, with Django's mitigation of BREACH (random bytes in the gzip
header, so that a page's compressed length does not tell an attacker who reflects text
into it how much of a secret on it they guessed); Brotli has no such field. The API's
JSON is answered to scripts with bearer tokens, where that attack does not apply, and
is where Brotli's smaller answers count.
"""

from __future__ import annotations

import brotli
from django.http import HttpRequest, HttpResponseBase
from django.middleware.gzip import GZipMiddleware
from django.utils.cache import patch_vary_headers
from django.utils.regex_helper import _lazy_re_compile

_accepts_brotli = _lazy_re_compile(r"\bbr\b")
# Quality 4 packs JSON nearly as well as gzip's best at a fraction of Brotli's default
# (11) cost, which takes milliseconds per response.
BROTLI_QUALITY = 4


class CompressionMiddleware(GZipMiddleware):
    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if response.streaming:
            return response
        if (
            response.get("Content-Type", "").startswith("application/json")
            and len(response.content) >= 200
            and not response.has_header("Content-Encoding")
            and _accepts_brotli.search(request.META.get("HTTP_ACCEPT_ENCODING", ""))
        ):
            return _brotli(response)
        return super().process_response(request, response)


def _brotli(response: HttpResponseBase) -> HttpResponseBase:
    patch_vary_headers(response, ("Accept-Encoding",))
    compressed = brotli.compress(response.content, quality=BROTLI_QUALITY)
    if len(compressed) >= len(response.content):
        return response
    response.content = compressed
    response.headers["Content-Length"] = str(len(compressed))
    if (etag := response.get("ETag")) and etag.startswith('"'):
        response.headers["ETag"] = "W/" + etag  # as gzip does: the bytes differ, the entity not
    response.headers["Content-Encoding"] = "br"
    return response
