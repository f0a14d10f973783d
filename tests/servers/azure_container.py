#!/usr/bin/env python3
"""Creates a blob container on a loopback Azurite with SharedKey, and prints an account SAS
token (blob service; read, write, delete, list, add, create) for the SAS tests. Test set-up only.

Usage: azure_container.py ENDPOINT ACCOUNT KEY CONTAINER
"""
import base64, hashlib, hmac, sys, urllib.parse, urllib.request
from email.utils import formatdate

endpoint, account, key, container = sys.argv[1:5]
date = formatdate(usegmt=True)
version = "2021-08-06"
path = urllib.request.urlparse(endpoint).path.rstrip("/") + "/" + container
sts = "PUT\n" + "\n" * 11 + f"x-ms-date:{date}\nx-ms-version:{version}\n/{account}{path}\nrestype:container"
sig = base64.b64encode(hmac.new(base64.b64decode(key), sts.encode(), hashlib.sha256).digest()).decode()
req = urllib.request.Request(endpoint.rstrip("/") + "/" + container + "?restype=container", method="PUT",
                             headers={"x-ms-date": date, "x-ms-version": version,
                                      "Authorization": f"SharedKey {account}:{sig}", "Content-Length": "0"})
try:
    urllib.request.urlopen(req, timeout=10)
except urllib.error.HTTPError as e:
    if e.code != 409:  # already exists
        sys.exit(f"creating container {container}: HTTP {e.code} {e.read()[:200]!r}")

# Account SAS, version 2019-12-12: account, permissions, services, resource types, start,
# expiry, IP, protocol, version, each followed by a newline.
sas = {"sv": "2019-12-12", "ss": "b", "srt": "sco", "sp": "rwdlac", "se": "2035-01-01T00:00:00Z",
       "spr": "https,http"}
sas_sts = "\n".join([account, sas["sp"], sas["ss"], sas["srt"], "", sas["se"], "", sas["spr"],
                     sas["sv"]]) + "\n"
sas["sig"] = base64.b64encode(hmac.new(base64.b64decode(key), sas_sts.encode(),
                                       hashlib.sha256).digest()).decode()
print(urllib.parse.urlencode(sas))
