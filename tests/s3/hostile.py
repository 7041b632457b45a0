#!/usr/bin/env python3
"""hostile.py - an HTTP server on 127.0.0.1 that answers S3 requests the way
a broken or hostile server would, for tests/s3hostile.c.  RGW never sends
such answers, so they get their own server; it checks no signature.

Usage: hostile.py PORTFILE  -- binds an ephemeral port, writes it to
PORTFILE, serves until killed.  GET /__count/KEY answers how many requests
for KEY arrived (so a test can count retries).

Objects (keys under any bucket) and what they get:
  long          206 with more bytes than the range asked for
  hugelen       206 announcing a Content-Length of 2^62, then 20 bytes
  weird         400 with an unknown error code (not retryable)
  busy          503 SlowDown, always
  garbage500    500 with a body that is not XML
  nolen         HEAD answered without a Content-Length
  short         206 announcing the range's length, then half of it
  nolength      200 to a ranged GET with the whole object (Range ignored)
  mp            multipart upload whose Complete answers 200 + <Error>
  *locked*      DeleteObjects reports AccessDenied for it
  ck*           PUTs must carry the body's x-amz-checksum-crc32c (BadDigest
                otherwise), CreateMultipartUpload x-amz-checksum-algorithm,
                and Complete each part's ChecksumCRC32C (RGW ignores them)
  anything else 404 NoSuchKey
  mem*/...      keys under a first path component starting with "mem" are
                kept in memory: PUT (with If-None-Match: * answered 412 when
                the key exists), ranged GET, HEAD, DELETE, DeleteObjects and
                listing, as a real store would, so whole saves run here.
                Under "memlost/", the first PUT of a .metadata.json is
                stored and then the connection is dropped unanswered (a
                commit whose answer was lost); under "memdark/" likewise,
                and the next 4 requests for that key (its read-back) fail
                with 500.
Listing (GET /bucket?list-type=2): prefix "trunc" gets a truncated
document, "dtd" one with an entity-declaring DTD, "notoken" a truncated
listing without a continuation token, "bigsize" a size over 2^64.
"""
import collections
import http.server
import sys
import threading
import urllib.parse

COUNTS = collections.Counter()
LOCK = threading.Lock()
MEM = {}  # key -> bytes, for keys under mem*/
DARK = collections.Counter()  # key -> requests still to fail with 500
LOST = set()  # keys whose first PUT answer was already lost
PARTS = {}  # (key, part number) -> the part's CRC32C header


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


CRC_TABLE = _crc32c_table()


def crc32c_b64(data):
    """CRC32C (Castagnoli) of data, big-endian, base64: the value of
    x-amz-checksum-crc32c."""
    import base64
    crc = 0xFFFFFFFF
    t = CRC_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return base64.b64encode(crc.to_bytes(4, "big")).decode()


assert crc32c_b64(b"123456789") == "4waSgw=="  # 0xE3069283, RFC 3720


def error_xml(code, msg="hostile"):
    return ("<Error><Code>%s</Code><Message>%s</Message></Error>" %
            (code, msg)).encode()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body=b"", headers=(), length=None):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length",
                         str(len(body) if length is None else length))
        self.end_headers()
        if self.command != "HEAD" and body:
            try:
                self.wfile.write(body)
            except OSError:
                pass

    def key(self):
        path = urllib.parse.urlsplit(self.path).path
        parts = urllib.parse.unquote(path).split("/", 2)
        return parts[2] if len(parts) > 2 else ""

    def query(self):
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query,
                                     keep_blank_values=True)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def count(self, key):
        name = key.rsplit("/", 1)[-1]
        with LOCK:
            COUNTS[name] += 1
        return name

    @staticmethod
    def in_mem(key):
        return key.startswith("mem")

    def dark(self, key):
        """A 500 while the key is dark (memdark's read-back)."""
        with LOCK:
            if DARK[key] > 0:
                DARK[key] -= 1
                return True
        return False

    def mem_get(self, key):
        if self.dark(key):
            return self.send(500, error_xml("InternalError", "dark"))
        with LOCK:
            data = MEM.get(key)
        if data is None:
            return self.send(404, error_xml("NoSuchKey", "no such key"))
        rng = self.headers.get("Range")
        if rng:
            a, b = (int(x) for x in rng[len("bytes="):].split("-"))
            if a >= len(data):
                return self.send(416, error_xml("InvalidRange", "range"))
            return self.send(206, data[a:min(b + 1, len(data))])
        return self.send(200, data)

    def mem_put(self, key, body):
        with LOCK:
            exists = key in MEM
        if self.headers.get("If-None-Match") == "*" and exists:
            return self.send(412, error_xml("PreconditionFailed", "exists"))
        with LOCK:
            MEM[key] = body
            lose = (key.startswith(("memlost/", "memdark/")) and
                    key.endswith(".metadata.json") and key not in LOST)
            if lose:
                LOST.add(key)
                if key.startswith("memdark/"):
                    DARK[key] = 4
        if lose:  # stored, and the answer never comes
            self.close_connection = True
            return
        self.send(200, headers=[("ETag", '"0123456789abcdef"')])

    def mem_listing(self, prefix):
        with LOCK:
            keys = sorted(k for k in MEM if k.startswith(prefix))
            sizes = [len(MEM[k]) for k in keys]
        doc = b"<ListBucketResult><IsTruncated>false</IsTruncated>"
        for k, n in zip(keys, sizes):
            doc += (b"<Contents><Key>%s</Key><Size>%d</Size></Contents>" %
                    (k.replace("&", "&amp;").replace("<", "&lt;").encode(),
                     n))
        self.send(200, doc + b"</ListBucketResult>")

    def do_GET(self):
        if self.path.startswith("/__count/"):
            with LOCK:
                n = COUNTS[self.path[len("/__count/"):]]
            return self.send(200, str(n).encode())
        key, q = self.key(), self.query()
        if not key and "list-type" in q:
            prefix = q.get("prefix", [""])[0]
            if self.in_mem(prefix):
                return self.mem_listing(prefix)
            return self.listing(prefix)
        if self.in_mem(key):
            return self.mem_get(key)
        if not key and "uploads" in q:
            return self.send(200, b"<ListMultipartUploadsResult>"
                             b"<IsTruncated>false</IsTruncated>"
                             b"</ListMultipartUploadsResult>")
        name = self.count(key)
        rng = self.headers.get("Range", "bytes=0-0")
        a, b = (int(x) for x in rng[len("bytes="):].split("-"))
        want = b - a + 1
        if name == "long":
            return self.send(206, b"x" * (want + 100))
        if name == "hugelen":
            self.send_response(206)
            self.send_header("Content-Length", str(1 << 62))
            self.end_headers()
            self.wfile.write(b"y" * (want + 10))
            self.close_connection = True
            return
        if name == "weird":
            return self.send(400, error_xml("WeirdNewError", "never seen"))
        if name == "busy":
            return self.send(503, error_xml("SlowDown", "busy"))
        if name == "garbage500":
            return self.send(500, b"<html>oops</html")
        if name == "short":
            self.send_response(206)
            self.send_header("Content-Length", str(want))
            self.end_headers()
            self.wfile.write(b"z" * (want // 2))
            self.close_connection = True
            return
        if name == "nolength":
            return self.send(200, b"w" * (want * 3))
        return self.send(404, error_xml("NoSuchKey", "no such key"))

    def do_HEAD(self):
        key = self.key()
        if self.in_mem(key):
            if self.dark(key):
                return self.send(500)
            with LOCK:
                data = MEM.get(key)
            return self.send(404) if data is None else \
                self.send(200, length=len(data))
        name = self.count(key)
        if name == "hugelen":
            return self.send(200, length=1 << 62)
        if name == "nolen":
            self.send_response(200)
            self.end_headers()
            return
        return self.send(404)

    def listing(self, prefix):
        if prefix.endswith("trunc/"):
            doc = b"<ListBucketResult><Contents><Key>a</Key><Si"
        elif prefix.endswith("dtd/"):
            doc = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY e "x">]>'
                   b"<ListBucketResult><Contents><Key>&e;</Key>"
                   b"<Size>1</Size></Contents></ListBucketResult>")
        elif prefix.endswith("notoken/"):
            doc = (b"<ListBucketResult><IsTruncated>true</IsTruncated>"
                   b"<Contents><Key>%sk</Key><Size>1</Size></Contents>"
                   b"</ListBucketResult>" % prefix.encode())
        elif prefix.endswith("bigsize/"):
            doc = (b"<ListBucketResult><Contents><Key>%sk</Key>"
                   b"<Size>99999999999999999999999</Size></Contents>"
                   b"</ListBucketResult>" % prefix.encode())
        else:
            doc = b"<ListBucketResult></ListBucketResult>"
        self.send(200, doc)

    def do_PUT(self):
        body = self.body()
        if self.in_mem(self.key()):
            return self.mem_put(self.key(), body)
        name = self.count(self.key())
        sent = self.headers.get("x-amz-checksum-crc32c")
        if name.startswith("ck") and sent != crc32c_b64(body):
            return self.send(400, error_xml("BadDigest", "CRC32C %s is not "
                                            "the body's" % sent))
        if name.startswith("ck"):
            self.count("crc-ok")
            part = self.query().get("partNumber", ["0"])[0]
            with LOCK:
                PARTS[(name, part)] = sent
        self.send(200, headers=[("ETag", '"0123456789abcdef"')])

    def do_POST(self):
        body = self.body()
        q = self.query()
        if "delete" in q:
            return self.delete_objects(body)
        name = self.count(self.key())
        if "uploads" in q and name.startswith("ck") and \
                self.headers.get("x-amz-checksum-algorithm") != "CRC32C":
            return self.send(400, error_xml("InvalidRequest",
                                            "no checksum algorithm"))
        if "uploads" in q:
            return self.send(200, b"<InitiateMultipartUploadResult>"
                             b"<UploadId>UP1</UploadId>"
                             b"</InitiateMultipartUploadResult>")
        if name == "mp":
            return self.send(200, error_xml("InternalError",
                                            "complete failed late"))
        if name.startswith("ck"):
            import xml.etree.ElementTree as ET
            for part in ET.fromstring(body).iter("Part"):
                n = part.find("PartNumber").text
                sent = part.find("ChecksumCRC32C")
                with LOCK:
                    want = PARTS.get((name, n))
                if sent is None or sent.text != want:
                    return self.send(400, error_xml(
                        "InvalidPart", "part %s checksum %s, uploaded %s" %
                        (n, sent is None or sent.text, want)))
            self.count("complete-ok")
        return self.send(200, b"<CompleteMultipartUploadResult>"
                         b"</CompleteMultipartUploadResult>")

    def delete_objects(self, body):
        """DeleteObjects: checks Content-MD5 as S3 does; keys containing
        "locked" fail with AccessDenied."""
        import base64
        import hashlib
        import xml.etree.ElementTree as ET
        md5 = base64.b64encode(hashlib.md5(body).digest()).decode()
        if self.headers.get("Content-MD5") != md5:
            return self.send(400, error_xml("InvalidDigest", "bad MD5"))
        errors = b""
        for k in ET.fromstring(body).iter("Key"):
            with LOCK:
                MEM.pop(k.text, None)
            self.count(k.text)
            if "locked" in k.text:
                errors += (b"<Error><Key>%s</Key><Code>AccessDenied</Code>"
                           b"<Message>locked</Message></Error>" %
                           k.text.replace("&", "&amp;").encode())
        self.send(200, b"<DeleteResult>%s</DeleteResult>" % errors)

    def do_DELETE(self):
        with LOCK:
            MEM.pop(self.key(), None)
        self.count(self.key())
        self.send(204)


def main():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(sys.argv[1] + ".tmp", sys.argv[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
