"""Shared by the benchmark scripts: each owns one section of RESULTS.md and rewrites only that one."""
import os
from pathlib import Path

SECTION = '<!-- bench_'   # every section but the head starts with a marker `<!-- bench_NAME -->`

def replace_section(md:Path, marker, section:str, title:str='# Benchmarks\n'):
    "Write `section` in place of `marker`'s section of `md` (from the marker to the next one), keeping every other; None: the head."
    md = Path(md)
    text = md.read_text() if md.exists() else title
    first = text.find(SECTION)
    head, rest = (text, '') if first < 0 else (text[:first], text[first:])
    if marker is None: head = section
    else:
        parts = [SECTION + p for p in rest.split(SECTION)[1:]]
        mine = [i for i, p in enumerate(parts) if p.startswith(marker)]
        if mine: parts[mine[0]] = section
        else: parts.append(section)
        rest = ''.join(p.rstrip() + '\n\n' for p in parts)
    body = head.rstrip() + '\n\n' + rest.rstrip() + '\n' if rest.strip() else head.rstrip() + '\n'
    tmp = md.with_name(f'.{md.name}.tmp'); tmp.write_text(body); os.replace(tmp, md)
