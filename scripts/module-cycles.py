#!/usr/bin/env python3
"""Lists import cycles between the source files of a crate.

Usage: python3 scripts/module-cycles.py [SRC_DIR ...]   (default: src server/src)

Each `crate::a::b` or `super::x` path in a file (imports and inline paths
alike, brace imports spelled out; comments skipped) is resolved to the file that defines that module,
giving a file -> file graph; its strongly connected components of more than
one file are the cycles. A child module naming its parent (`use super::*`
in `mod tests`, say) is not counted: the parent declares the child. Exits 1
when there is a cycle.
"""
import os
import re
import sys

PATH = re.compile(r"\b(crate|super)((?:::[a-z_][a-z0-9_]*)+)")
# `use crate::{a, b::c}` / `use super::x::{y, z}`: expanded before matching
BRACES = re.compile(r"\b((?:crate|super)(?:::[a-z_][a-z0-9_]*)*)::\{([^{}]*)\}")


def expand(text):
    """Spells out one level of brace imports, innermost first."""
    while True:
        new = BRACES.sub(
            lambda m: " ".join(
                f"{m.group(1)}::{item.strip()}"
                for item in m.group(2).split(",")
                if item.strip() and item.strip() != "self"
            )
            + f" {m.group(1)}",
            text,
        )
        if new == text:
            return text
        text = new


def module_file(root, parts):
    """The file defining module `parts` under `root`, or None."""
    base = os.path.join(root, *parts) if parts else root
    for cand in (base + ".rs", os.path.join(base, "mod.rs")):
        if os.path.isfile(cand):
            return cand
    if not parts:
        for top in ("lib.rs", "main.rs"):
            if os.path.isfile(os.path.join(root, top)):
                return os.path.join(root, top)
    return None


def module_of(root, path):
    rel = os.path.relpath(path, root)[: -len(".rs")].split(os.sep)
    if rel[-1] == "mod" or rel == ["lib"] or rel == ["main"]:
        rel = rel[:-1]
    return rel


def edges(root):
    graph = {}
    for d, _, files in os.walk(root):
        for f in files:
            if not f.endswith(".rs"):
                continue
            path = os.path.join(d, f)
            me = module_of(root, path)
            text = expand(
                "\n".join(line.split("//")[0] for line in open(path, encoding="utf-8"))
            )
            out = graph.setdefault(path, set())
            for kind, rest in PATH.findall(text):
                parts = [p for p in rest.split("::") if p]
                start = [] if kind == "crate" else me[:-1]
                names = start + parts
                # the longest prefix of the path that is a module file
                for n in range(len(names), len(start) - 1, -1):
                    target = module_file(root, names[:n])
                    if target:
                        break
                if not target or target == path:
                    continue
                # a child naming its ancestor is declared by it, not a loop
                if module_of(root, target) == me[: len(module_of(root, target))]:
                    continue
                out.add(target)
    return graph


def cycles(graph):
    """Tarjan's strongly connected components with more than one node."""
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return found


def main():
    roots = sys.argv[1:] or ["src", "server/src"]
    bad = False
    for root in roots:
        graph = edges(root)
        found = cycles(graph)
        n = sum(len(v) for v in graph.values())
        print(f"{root}: {len(graph)} files, {n} file-to-file imports, {len(found)} cycles")
        for c in found:
            bad = True
            print("  cycle: " + " <-> ".join(c))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
