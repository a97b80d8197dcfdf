# A gRPC client from another implementation than ours (Python's grpcio: gRPC's C core, with its own
# HTTP/2), against a running ringkv node: a put with a 100 KB value and its get (bodies beyond the
# default windows), 200 puts at once, an unknown method, and a watch (a server stream) that sees two
# puts. Messages are encoded by hand (no protobuf package needed). Prints what it saw as one JSON
# line; scripts/interop-python.ts checks it. Usage: python3 grpc_client.py PORT
import grpc, json, sys, threading, time
port = sys.argv[1]
ch = grpc.insecure_channel(f"127.0.0.1:{port}")
def ld(field, b):
    """A length-delimited protobuf field."""
    n = len(b); out = bytes([field << 3 | 2])
    while True:
        x = n & 0x7f; n >>= 7
        if n: out += bytes([x | 0x80])
        else: out += bytes([x]); break
    return out + b
def fields(b):
    """A protobuf message's fields: number -> values (varints as ints, length-delimited as bytes)."""
    i = 0; res = {}
    while i < len(b):
        tag = 0; s = 0
        while True:
            c = b[i]; i += 1; tag |= (c & 0x7f) << s; s += 7
            if c < 0x80: break
        f, w = tag >> 3, tag & 7
        if w == 0:
            v = 0; s = 0
            while True:
                c = b[i]; i += 1; v |= (c & 0x7f) << s; s += 7
                if c < 0x80: break
        elif w == 2:
            n = 0; s = 0
            while True:
                c = b[i]; i += 1; n |= (c & 0x7f) << s; s += 7
                if c < 0x80: break
            v = b[i:i+n]; i += n
        else: raise Exception(f"wire type {w}")
        res.setdefault(f, []).append(v)
    return res
put = ch.unary_unary("/ringkv.v1.KVService/Put")
get = ch.unary_unary("/ringkv.v1.KVService/Get")
out = {}
big = b"x" * 100000
r = fields(put(ld(1, b"py-k") + ld(2, big), timeout=10))
out["put_version"] = r.get(2, [0])[0]
g = fields(get(ld(1, b"py-k"), timeout=10))
out["get_len"] = len(g.get(2, [b""])[0])
futs = [put.future(ld(1, b"py-%d" % i) + ld(2, b"v%d" % i), timeout=10) for i in range(200)]
out["concurrent_ok"] = sum(1 for f in futs if f.result() is not None)
try:
    ch.unary_unary("/ringkv.v1.KVService/Nope")(b"", timeout=5)
    out["unknown"] = "ok?"
except grpc.RpcError as e:
    out["unknown"] = e.code().name
watch = ch.unary_stream("/ringkv.v1.KVService/Watch")
events = []
call = watch(ld(2, b"py-w"), timeout=20)
def reader():
    try:
        for m in call:
            events.append(len(fields(m).get(3, [])))
            if sum(events) >= 2: break
    except grpc.RpcError as e:
        events.append(e.code().name)
t = threading.Thread(target=reader); t.start()
time.sleep(0.5)
put(ld(1, b"py-w") + ld(2, b"1"), timeout=10)
put(ld(1, b"py-w") + ld(2, b"2"), timeout=10)
t.join(15)
call.cancel()
out["watch_events"] = events
print(json.dumps(out))
