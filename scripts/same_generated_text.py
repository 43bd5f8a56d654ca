#!/usr/bin/env python3
"""Compares the generated text a device program printed (between 'text:' and its last
'\\nids:' line) with what the host's generate printed (the text and one newline), byte for byte.
Prints 'same', or where they differ. Usage: same_generated_text.py DEVICE_OUTPUT HOST_OUTPUT"""
import sys

device = open(sys.argv[1], "rb").read().replace(b"\r", b"")
host = open(sys.argv[2], "rb").read().replace(b"\r", b"")
start = device.find(b"text:")
end = device.rfind(b"\nids:")
if start < 0 or end < start:
    print("the device printed no text:/ids: lines")
    sys.exit(0)
text = device[start + 5:end]
expected = host[:-1] if host.endswith(b"\n") else host
if text == expected:
    print("same")
else:
    at = next((i for i, (a, b) in enumerate(zip(text, expected)) if a != b), min(len(text), len(expected)))
    print(f"differ at byte {at}: device {text[at:at + 16]!r} host {expected[at:at + 16]!r} ({len(text)} vs {len(expected)} bytes)")
