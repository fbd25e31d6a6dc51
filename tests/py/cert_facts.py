"""Facts about every certificate in a PEM bundle, from Python `cryptography`.

stdin: JSON {"path": bundle}. stdout: JSON list, one per certificate, in
file order: sha1, sha256, subject [[oid, value]...] in DER order,
not_after (ISO, UTC), serial (hex), san [[kind, value]...], ca (bool or null).
"""
import json
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization


def main():
    req = json.load(sys.stdin)
    certs = x509.load_pem_x509_certificates(open(req["path"], "rb").read())
    out = []
    for c in certs:
        der = c.public_bytes(serialization.Encoding.DER)
        subj = []
        for a in c.subject:
            v = a.value if isinstance(a.value, str) else a.value.hex()
            subj.append([a.oid.dotted_string, v])
        try:
            bc = c.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        except x509.ExtensionNotFound:
            bc = None
        except Exception:
            bc = "error"
        try:
            san = [str(g.value) for g in c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value]
        except x509.ExtensionNotFound:
            san = []
        out.append({
            "sha1": c.fingerprint(hashes.SHA1()).hex().upper(),
            "sha256": c.fingerprint(hashes.SHA256()).hex().upper(),
            "der_len": len(der),
            "subject": subj,
            "not_after": c.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "serial": format(c.serial_number, "X"),
            "san": san,
            "ca": bc,
        })
    print(json.dumps(out))


main()
