#!/usr/bin/env python3
"""Flash bytes of a bare-metal program by origin, from its GNU ld map: the input sections the
link kept, but those of RAM only (.bss, .noinit, stack, heap), summed per object. Prints
'engine E picolibc P runtime R model M' in bytes: engine is the program's own code and
constants (the engine and the firmware around it), runtime libgcc and the compiler's start
files, model the embedded model. Usage: firmware_flash.py MAP [MODEL_OBJECT_SUBSTRING]"""
import re
import sys

text = open(sys.argv[1]).read()
model_tag = sys.argv[2] if len(sys.argv) > 2 else "_model.S"
text = text[text.index("Linker script and memory map"):]
text = re.sub(r"\n (\.\S+)\n\s+(0x)", r"\n \1 \2", text)  # long section names wrap to the next line
totals = {"engine": 0, "picolibc": 0, "runtime": 0, "model": 0}
for line in text.split("\n"):
    m = re.match(r"^ (\.\S+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+(\S+)$", line)
    if not m:
        continue
    section, size, obj = m.group(1), int(m.group(2), 16), m.group(3)
    if any(s in section for s in (".bss", ".noinit", ".stack", ".heap", ".ARM.attributes", ".comment", ".debug")):
        continue
    if model_tag in obj:
        totals["model"] += size
    elif "picolibc" in obj and ("libc.a" in obj or "libsemihost.a" in obj or "libm.a" in obj or "crt0" in obj):
        totals["picolibc"] += size
    elif "libgcc" in obj or "libstdc++" in obj or "libsupc++" in obj or "crtbegin" in obj or "crtend" in obj or "crti" in obj or "crtn" in obj:
        totals["runtime"] += size
    else:
        totals["engine"] += size
print(" ".join(f"{k} {v}" for k, v in totals.items()))
