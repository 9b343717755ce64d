#!/usr/bin/env python3
"""Regenerates fuzz/seeds/ (not part of the build): tokens signed with the published
RFC 7515 A.1-A.3 and RFC 8037 A.1 keys that fuzz_token.c trusts, and JWK Set documents.
Needs python3-cryptography. Run from the repository root: python3 fuzz/make_seeds.py"""
import base64
import hashlib
import hmac
import json
import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def num(text):
    return int.from_bytes(unb64(text), "big")


# RFC 7515 A.2.1 (the document's RSA key, private half included)
RSA = {
    "n": "ofgWCuLjybRlzo0tZWJjNiuSfb4p4fAkd_wWJcyQoTbji9k0l8W26mPddxHmfHQp-Vaw-4qPCJrcS2mJPMEzP1Pt0Bm4d4QlL-yRT-SFd2lZS-pCgNMsD1W_YpRPEwOWvG6b32690r2jZ47soMZo9wGzjb_7OMg0LOL-bSf63kpaSHSXndS5z5rexMdbBYUsLA9e-KXBdQOS-UTo7WTBEMa2R2CapHg665xsmtdVMTBQY4uDZlxvb3qCo5ZwKh9kG4LT6_I5IhlJH7aGhyxXFvUK-DWNmoudF8NAco9_h9iaGNj8q2ethFkMLs91kzk2PAcDTW9gb54h4FRWyuXpoQ",
    "e": "AQAB",
    "d": "Eq5xpGnNCivDflJsRQBXHx1hdR1k6Ulwe2JZD50LpXyWPEAeP88vLNO97IjlA7_GQ5sLKMgvfTeXZx9SE-7YwVol2NXOoAJe46sui395IW_GO-pWJ1O0BkTGoVEn2bKVRUCgu-GjBVaYLU6f3l9kJfFNS3E0QbVdxzubSu3Mkqzjkn439X0M_V51gfpRLI9JYanrC4D4qAdGcopV_0ZHHzQlBjudU2QvXt4ehNYTCBr6XCLQUShb1juUO1ZdiYoFaFQT5Tw8bGUl_x_jTj3ccPDVZFD9pIuhLhBOneufuBiB4cS98l2SR_RQyGWSeWjnczT0QU91p1DhOVRuOopznQ",
    "p": "4BzEEOtIpmVdVEZNCqS7baC4crd0pqnRH_5IB3jw3bcxGn6QLvnEtfdUdiYrqBdss1l58BQ3KhooKeQTa9AB0Hw_Py5PJdTJNPY8cQn7ouZ2KKDcmnPGBY5t7yLc1QlQ5xHdwW1VhvKn-nXqhJTBgIPgtldC-KDV5z-y2XDwGUc",
    "q": "uQPEfgmVtjL0Uyyx88GZFF1fOunH3-7cepKmtH4pxhtCoHqpWmT8YAmZxaewHgHAjLYsp1ZSe7zFYHj7C6ul7TjeLQeZD_YwD66t62wDmpe_HlB-TnBA-njbglfIsRLtXlnDzQkv5dTltRJ11BKBBypeeF6689rjcJIDEz9RWdc",
}
# RFC 7515 A.3.1
EC = {"x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
      "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
      "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}
# RFC 8037 A.1
ED = {"x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
      "d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}
# RFC 7515 A.1.1
HS = unb64("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")

n, e, d, p, q = (num(RSA[k]) for k in "nedpq")
rsa_key = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                                rsa.RSAPublicNumbers(e, n)).private_key()
ec_key = ec.derive_private_key(num(EC["d"]), ec.SECP256R1())
ed_key = ed25519.Ed25519PrivateKey.from_private_bytes(unb64(ED["d"]))


def sign(alg, data):
    if alg == "RS256":
        return rsa_key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "PS256":
        return rsa_key.sign(data, padding.PSS(padding.MGF1(hashes.SHA256()), 32), hashes.SHA256())
    if alg == "ES256":
        r, s = decode_dss_signature(ec_key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if alg == "EdDSA":
        return ed_key.sign(data)
    if alg == "HS256":
        return hmac.new(HS, data, hashlib.sha256).digest()
    raise ValueError(alg)


def token(header, payload, alg):
    si = b64(header.encode()) + "." + b64(payload.encode())
    return si + "." + b64(sign(alg, si.encode()))


CLAIMS = json.dumps({
    "iss": "https://issuer.example/",
    "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
    "aud": ["https://api.example", "https://issuer.example/userinfo"],
    "iat": 1700000000, "exp": 1700086400, "azp": "Xy12abcDEF",
    "scope": "openid profile read:orders",
    "permissions": ["read:orders", "write:orders"],
    "https://example.com/roles": ["admin"],
}, separators=(",", ":"))


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


T = "fuzz/seeds/token"
write(f"{T}/rs256_auth0.jwt", token('{"alg":"RS256","typ":"JWT","kid":"rsa1"}', CLAIMS, "RS256"))
write(f"{T}/ps256.jwt", token('{"alg":"PS256","kid":"rsa2"}', CLAIMS, "PS256"))
write(f"{T}/es256.jwt", token('{"alg":"ES256","typ":"at+jwt","kid":"ec1"}', CLAIMS, "ES256"))
write(f"{T}/eddsa.jwt", token('{"alg":"EdDSA","kid":"ed1"}', CLAIMS, "EdDSA"))
write(f"{T}/hs256.jwt", token('{"alg":"HS256","typ":"JWT"}', CLAIMS, "HS256"))
write(f"{T}/nested_x5t.jwt", token('{"alg":"RS256","kid":"rsa1","x5t":"dGh1bWI"}',
                                   '{"exp":1700086400,"a":[[[{"b":[1,2.5,true,null,"\\u00e9"]}]]],'
                                   '"aud":"https://api.example","nbf":1699999999}', "RS256"))
write(f"{T}/rfc7515_a3.jwt",
      "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFt"
      "cGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSA"
      "pmWQxfKTUJqPP3-Kg6NU1Q")
write(f"{T}/none.jwt", b64(b'{"alg":"none"}') + "." + b64(CLAIMS.encode()) + ".")

J = "fuzz/seeds/jwks"
pub = {"keys": [
    {"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256", "n": RSA["n"], "e": RSA["e"]},
    {"kty": "EC", "kid": "ec1", "crv": "P-256", "x": EC["x"], "y": EC["y"]},
    {"kty": "OKP", "kid": "ed1", "crv": "Ed25519", "x": ED["x"], "key_ops": ["verify"]},
]}
write(f"{J}/fuzz_set.json", json.dumps(pub, indent=1))
write(f"{J}/auth0_like.json", json.dumps({"keys": [
    {"kty": "RSA", "use": "sig", "n": RSA["n"], "e": "AQAB", "kid": "NjVBRjY5MDlCMUIwNzU4RTA2QzZFMDQ4QzQ2MDAyQjVDNjk1RTM2Qg",
     "x5t": "NjVBRjY5MDlCMUIwNzU4RTA2QzZFMDQ4QzQ2MDAyQjVDNjk1RTM2Qg", "alg": "RS256",
     "x5c": ["MIIDBzCCAe+gAwIBAgIJakoPho0MJr56MA0GCSqGSIb3DQEBCwUAMCExHzAdBgNVBAMTFmRldi1leGFtcGxlLmV1LmF1dGgwLmNvbQ"]},
    {"kty": "RSA", "use": "sig", "n": RSA["n"], "e": "AQAB", "kid": "second", "alg": "RS256"},
]}))
write(f"{J}/hostile.json", json.dumps({"keys": [
    {"kty": "RSA", "kid": "enc", "use": "enc", "n": RSA["n"], "e": "AQAB"},
    {"kty": "RSA", "kid": "small", "n": b64(b"\xc5" * 128), "e": "AQAB"},
    {"kty": "EC", "kid": "offcurve", "crv": "P-256", "x": EC["y"], "y": EC["x"]},
    {"kty": "OKP", "kid": "x", "crv": "X25519", "x": ED["x"]},
    {"kty": "oct", "kid": "secret", "k": b64(HS)},
    {"kty": "EC", "crv": "P-384", "alg": "ES256", "x": EC["x"], "y": EC["y"]},
    {"kty": "RSA", "key_ops": ["encrypt"], "n": RSA["n"], "e": "AQAB"},
    1, "x", None, {}, [],
]}))
write(f"{J}/empty.json", '{"keys":[]}')
write(f"{J}/nested.json", '{"keys":[{"kty":"EC","crv":"P-256","x":"' + EC["x"] + '","y":"' + EC["y"]
      + '","ext":{"a":[[[[[[[[[[[[1]]]]]]]]]]]]}}],"other":null}')
