#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
# md2man: turns a man-page-shaped README.md (## Name, ## Synopsis, ...) into a man(7) page.
# Only the Markdown our READMEs use: headings, paragraphs, indented and fenced code, bullet and
# numbered lists, pipe tables (tbl), `code`, **bold**, *em*, [text](url). Used by the build
# (cmake/Man.cmake); `man -l OUT` renders the result.
#
#   md2man.py IN.md OUT.N NAME SECTION VERSION
import re
import sys


def esc(text):
    """Escapes roff's specials in running text; non-ASCII becomes groff's \\[uXXXX], so the page
    is plain ASCII and renders without preconv."""
    text = text.replace("\\", "\\e")
    return "".join(c if ord(c) < 128 else "\\[u%04X]" % ord(c) for c in text)


def inline(text):
    out = []
    pos = 0
    for m in re.finditer(r"`([^`]+)`|\*\*([^*]+)\*\*|(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])|\[([^\]]+)\]\(([^)]+)\)", text):
        out.append(esc(text[pos:m.start()]))
        if m.group(1) is not None:
            out.append("\\fB" + esc(m.group(1)).replace("-", "\\-") + "\\fR")
        elif m.group(2) is not None:
            out.append("\\fB" + esc(m.group(2)) + "\\fR")
        elif m.group(3) is not None:
            out.append("\\fI" + esc(m.group(3)) + "\\fR")
        else:
            out.append(esc(m.group(4)) + " (" + esc(m.group(5)) + ")")
        pos = m.end()
    out.append(esc(text[pos:]))
    return "".join(out)


def line(text):
    """One output line of running text: a leading '.' or ''' would be read as a request."""
    text = inline(text)
    return "\\&" + text if text[:1] in (".", "'") else text


def code_line(text):
    text = esc(text).replace("-", "\\-")
    return "\\&" + text if text[:1] in (".", "'") else text


def table(rows):
    cells = [[c.strip() for c in r.strip().strip("|").split("|")] for r in rows]
    cells = [r for r in cells if not all(re.fullmatch(r":?-+:?", c) for c in r)]
    width = max(len(r) for r in cells)
    out = [".TS", "allbox tab(\t);", " ".join(["lb"] * width), " ".join(["lx"] * width) + "."]
    for i, r in enumerate(cells):
        r += [""] * (width - len(r))
        out.append("\t".join("T{\n" + line(c) + "\nT}" for c in r))
    out.append(".TE")
    return out


def convert(src, name, section, version):
    lines = src.splitlines()
    out = ["'\\\" t", '.TH "%s" "%s" "" "nbdkit++ %s" "nbdkit++"' % (name.upper(), section, version)]
    i = 0
    in_name = False
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("# "):  # the page title: .TH says it
            i += 1
            continue
        m = re.match(r"(#{2,4}) +(.*)", ln)
        if m:
            title = m.group(2).strip()
            in_name = title.lower() == "name"
            title = inline(title).replace('"', "")
            out.append('.SH "%s"' % title.upper() if len(m.group(1)) == 2 else '.SS "%s"' % title)
            i += 1
            continue
        if ln.startswith("```"):
            i += 1
            out += [".PP", ".RS 4", ".nf"]
            while i < len(lines) and not lines[i].startswith("```"):
                out.append(code_line(lines[i]))
                i += 1
            out += [".fi", ".RE"]
            i += 1
            continue
        if ln.startswith("    ") and ln.strip():
            out += [".PP", ".RS 4", ".nf"]
            while i < len(lines) and (lines[i].startswith("    ") or not lines[i].strip()):
                # A blank line inside an indented block belongs to it only if code follows.
                if not lines[i].strip():
                    j = i
                    while j < len(lines) and not lines[j].strip():
                        j += 1
                    if j >= len(lines) or not lines[j].startswith("    "):
                        break
                out.append(code_line(lines[i][4:]))
                i += 1
            out += [".fi", ".RE"]
            continue
        if ln.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(lines[i])
                i += 1
            out += table(rows)
            continue
        m = re.match(r"( *)([-*]|\d+\.) +(.*)", ln)
        if m:
            depth = len(m.group(1)) // 2
            mark = "\\(bu" if m.group(2) in ("-", "*") else m.group(2)
            text = [m.group(3)]
            i += 1
            indent = len(m.group(1)) + 2
            while i < len(lines) and lines[i].strip() and lines[i].startswith(" " * indent) \
                    and not re.match(r" *([-*]|\d+\.) +", lines[i]):
                text.append(lines[i].strip())
                i += 1
            out += [".RS %d" % (4 * depth)] if depth else []
            out += ['.IP "%s" 4' % mark, line(" ".join(text))]
            out += [".RE"] if depth else []
            continue
        if not ln.strip():
            i += 1
            continue
        text = []
        while i < len(lines) and lines[i].strip() and not re.match(r"(#|    |```|\||( *)([-*]|\d+\.) +)", lines[i]):
            text.append(lines[i].strip())
            i += 1
        para = " ".join(text)
        if in_name:
            # "`memory` — a RAM disk ..." becomes "nbdkit-memory-plugin \- a RAM disk ..."
            para = re.sub(r"^.*? [—-]+ ", "", para, count=1)
            out.append(esc(name) + " \\- " + inline(para))
            in_name = False
        else:
            out += [".PP", line(para)]
    return "\n".join(out) + "\n"


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: md2man.py IN.md OUT NAME SECTION VERSION")
    src, dst, name, section, version = sys.argv[1:]
    with open(src, encoding="utf-8") as f:
        text = convert(f.read(), name, section, version)
    with open(dst, "w", encoding="utf-8") as f:
        f.write(text)


if __name__ == "__main__":
    main()
