"""Independent check of CSRs with Python `cryptography` (pyca).

stdin: JSON list of {"path": DER file, "expect": {...}}; expectations:
  "subject": [[oid, value, string_type], ...] in DER order
  "san": [[kind, value], ...]  kind in email|dns|uri|ip|upn|other (value hex of DER)
  "ku": {"digital_signature": true, ...}, "ku_critical": bool
  "eku": [oid, ...]
  "bc": [ca, path_len]
stdout: JSON {"checked": n, "failures": [...]}.
"""
import json
import sys

from cryptography import x509
from cryptography.x509.oid import ExtensionOID

UPN = "1.3.6.1.4.1.311.20.2.3"


def der_len(n):
    if n < 0x80:
        return bytes([n])
    b = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(b)]) + b


def san_list(ext):
    out = []
    for g in ext.value:
        if isinstance(g, x509.RFC822Name):
            out.append(["email", g.value])
        elif isinstance(g, x509.DNSName):
            out.append(["dns", g.value])
        elif isinstance(g, x509.UniformResourceIdentifier):
            out.append(["uri", g.value])
        elif isinstance(g, x509.IPAddress):
            out.append(["ip", str(g.value)])
        elif isinstance(g, x509.OtherName):
            oid = g.type_id.dotted_string
            if oid == UPN:
                # value is the DER of the UTF8String
                v = g.value
                assert v[0] == 0x0C, "UPN is not a UTF8String"
                # skip tag + length
                l = v[1]
                off = 2 if l < 0x80 else 2 + (l & 0x7F)
                out.append(["upn", v[off:].decode("utf-8")])
            else:
                out.append(["other", oid, g.value.hex()])
        else:
            out.append(["unknown", repr(g)])
    return out


def check(item):
    errs = []
    data = open(item["path"], "rb").read()
    csr = x509.load_der_x509_csr(data)
    if not csr.is_signature_valid:
        errs.append("signature invalid")
    exp = item["expect"]
    if "subject" in exp:
        got = [[a.oid.dotted_string, a.value, a._type.name] for a in csr.subject]
        if got != exp["subject"]:
            errs.append(f"subject {got} != {exp['subject']}")
    exts = {e.oid.dotted_string: e for e in csr.extensions}
    if "san" in exp:
        e = exts.get(ExtensionOID.SUBJECT_ALTERNATIVE_NAME.dotted_string)
        got = san_list(e) if e else []
        if got != exp["san"]:
            errs.append(f"san {got} != {exp['san']}")
        if "san_critical" in exp and e is not None and e.critical != exp["san_critical"]:
            errs.append(f"san critical {e.critical}")
    if "ku" in exp:
        e = exts.get(ExtensionOID.KEY_USAGE.dotted_string)
        if e is None:
            errs.append("no key usage")
        else:
            ku = e.value
            names = ["digital_signature", "content_commitment", "key_encipherment", "data_encipherment",
                     "key_agreement", "key_cert_sign", "crl_sign"]
            got = {n: getattr(ku, n) for n in names}
            if ku.key_agreement:
                got["encipher_only"] = ku.encipher_only
                got["decipher_only"] = ku.decipher_only
            want = {n: False for n in names}
            want.update(exp["ku"])
            for k in list(want):
                if k not in got:
                    del want[k]
            if got != want:
                errs.append(f"ku {got} != {want}")
            if e.critical != exp.get("ku_critical", True):
                errs.append(f"ku critical {e.critical}")
    if "eku" in exp:
        e = exts.get(ExtensionOID.EXTENDED_KEY_USAGE.dotted_string)
        got = [o.dotted_string for o in e.value] if e else []
        if got != exp["eku"]:
            errs.append(f"eku {got} != {exp['eku']}")
    if "bc" in exp:
        e = exts.get(ExtensionOID.BASIC_CONSTRAINTS.dotted_string)
        got = [e.value.ca, e.value.path_length] if e else None
        if got != exp["bc"]:
            errs.append(f"bc {got} != {exp['bc']}")
    return errs


def main():
    items = json.load(sys.stdin)
    failures = []
    for it in items:
        try:
            errs = check(it)
        except Exception as e:  # a parse failure is a failure, not a crash
            errs = [f"exception: {e!r}"]
        if errs:
            failures.append({"path": it["path"], "errors": errs})
    print(json.dumps({"checked": len(items), "failures": failures}))


main()
