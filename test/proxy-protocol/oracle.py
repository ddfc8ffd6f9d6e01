# A second, independent writer of PROXY protocol headers (HAProxy's doc/proxy-protocol.txt), in
# Python with its own address library: the oracle src/proxy-protocol/encode.ts is held against.
# argv[1]: a JSON list of cases {source?, destination?, authority?, alpn?}; prints a JSON list of
# {v1, v2} hex strings.
import ipaddress, json, struct, sys

SIGNATURE = b'\r\n\r\n\x00\r\nQUIT\n'

def endpoint(e):
    if e is None:
        return None
    try:
        a = ipaddress.ip_address(e['address'])
    except ValueError:
        return None
    p = e['port']
    if not isinstance(p, int) or not 0 <= p <= 65535:
        return None
    return a, p

def as_v4(a):
    return a if a.version == 4 else a.ipv4_mapped

def as_v6(a):
    return a if a.version == 6 else ipaddress.IPv6Address('::ffff:' + str(a))

def text(a):
    # IPv4-mapped in the mixed form, as inet_ntop writes it; other IPv6 compressed (RFC 5952)
    if a.version == 6 and a.ipv4_mapped is not None:
        return '::ffff:' + str(a.ipv4_mapped)
    return str(a)

def tlv(t, v):
    return bytes([t]) + struct.pack('!H', len(v)) + v

def encode(case):
    s, d = endpoint(case.get('source')), endpoint(case.get('destination'))
    pair = None
    if s and d:
        s4, d4 = as_v4(s[0]), as_v4(d[0])
        if s4 is not None and d4 is not None:
            pair = (4, s4, d4, s[1], d[1])
        else:
            pair = (6, as_v6(s[0]), as_v6(d[0]), s[1], d[1])
    if pair is None:
        v1 = 'PROXY UNKNOWN\r\n'
    else:
        v1 = 'PROXY TCP%d %s %s %d %d\r\n' % (pair[0], text(pair[1]), text(pair[2]), pair[3], pair[4])
    tlvs = b''
    if case.get('alpn'):
        tlvs += tlv(0x01, case['alpn'].encode('latin-1'))
    if case.get('authority'):
        tlvs += tlv(0x02, case['authority'].encode('utf-8'))
    if pair is None:
        head, body = bytes([0x20, 0x00]), tlvs
    else:
        head = bytes([0x21, 0x11 if pair[0] == 4 else 0x21])
        body = pair[1].packed + pair[2].packed + struct.pack('!HH', pair[3], pair[4]) + tlvs
    v2 = SIGNATURE + head + struct.pack('!H', len(body)) + body
    return {'v1': v1.encode('ascii').hex(), 'v2': v2.hex()}

print(json.dumps([encode(c) for c in json.loads(sys.argv[1])]))
