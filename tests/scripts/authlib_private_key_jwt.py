"""A token by private_key_jwt (RFC 7523) with a stock client library, Python's authlib.

Usage: authlib_private_key_jwt.py TOKEN_URL CLIENT_ID KEY_PEM ALG CA_PEM
Prints the token response as JSON on stdout; any failure exits non-zero with the reason on
stderr. Run by tests/private_key_jwt.rs.
"""

import json
import sys
import time

from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey, OKPKey, RSAKey

KEY_TYPES = {"ES256": ECKey, "EdDSA": OKPKey, "RS256": RSAKey}


def main() -> None:
    token_url, client_id, key_path, alg, ca = sys.argv[1:6]
    with open(key_path, "rb") as f:
        private_key = KEY_TYPES[alg].import_key(f.read())
    # authlib's assertions live an hour by default; tollgate accepts at most five minutes
    # (RFC 7523 §3 leaves the bound to the server), so the script asks for two. The claims dict
    # is fresh for this one request: authlib adds its jti to it.
    claims = {"exp": int(time.time()) + 120}
    session = OAuth2Session(
        client_id,
        private_key,
        token_endpoint_auth_method=PrivateKeyJWT(token_url, alg=alg, claims=claims),
    )
    token = session.fetch_token(token_url, grant_type="client_credentials", verify=ca)
    print(json.dumps(dict(token)))


if __name__ == "__main__":
    main()
