"""URLs as they may be shown: no user name or password, credential-like query values masked.

Every URL that reaches a log, a report, an error or a page goes through ``mask_url``.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

# Query parameters whose value is a secret (api_key, access_token, X-Amz-Signature, …).
_SECRET_PARAM = re.compile(r"key|token|secret|passw|signature|auth|credential", re.I)
MASK = "***"


def mask_url(url: str, keep_query: bool = True) -> str:
    """``url`` without user-info, secret query values replaced by ``***`` (or no query at all).

    A string without ``://`` (a local path) is returned as it is.

    >>> mask_url("https://root:pw@milvus.example:19530/db?api_key=abc&x=1")
    'https://milvus.example:19530/db?api_key=***&x=1'
    >>> mask_url("http://u:p@h/v1?key=1", keep_query=False)
    'http://h/v1'
    """
    if "://" not in url:
        return url
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address keeps its brackets
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    query = ""
    if keep_query and parts.query:
        pairs = parse_qsl(parts.query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_PARAM.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment if keep_query else ""))
