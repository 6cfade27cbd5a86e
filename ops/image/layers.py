"""`inv layers`: what each layer of a built image adds, against the size budget."""
import re

from ops.core.console import shorten, table

# "|3 VERSION=.. /bin/sh -c #(nop) " prefixes in history say how, not what, a layer is.
CONTENT_HASH = re.compile(r"(file|dir):([0-9a-f]{12})[0-9a-f]+")


HISTORY_NOISE = re.compile(r"^(\|\d+ (\S+=\S* )*)?(/bin/sh -c )?(#\(nop\) )?")


# BuildKit writes "RUN |3 VERSION=.. /bin/sh -c CMD" and "COPY ... # buildkit".
BUILDKIT_NOISE = re.compile(r"^RUN \|\d+ (\S+=\S* )*(/bin/sh -c )?|\s+# buildkit$")


def layers(engine, ref, budget_mb):
    """The image's layers oldest first, with running totals against the size budget."""
    from ops.engine.connection import image_or_fail

    image = image_or_fail(engine, ref)
    rows, total = [], 0
    for n, entry in enumerate(reversed(image.history()), start=1):
        total += entry["Size"]
        created_by = BUILDKIT_NOISE.sub(lambda m: "RUN " if m.group(0).startswith("RUN") else "",
                                        entry.get("CreatedBy") or "")
        created_by = HISTORY_NOISE.sub("", created_by) or "(base image)"
        created_by = CONTENT_HASH.sub(r" \1:\2", created_by)
        rows.append({"layer": n, "size_mb": round(entry["Size"] / 1e6, 2),
                     "cumulative_mb": round(total / 1e6, 2),
                     "created_by": " ".join(created_by.split())})
    size_mb = round(image.attrs["Size"] / 1e6, 2)
    return {"image": ref, "size_mb": size_mb, "budget_mb": budget_mb,
            "within_budget": size_mb <= budget_mb, "layers": rows}


def render_layers(result):
    rows = [dict(row, created_by=shorten(row["created_by"], 90)) for row in result["layers"]]
    return (table(rows, [("layer", "#"), ("size_mb", "MB"), ("cumulative_mb", "total MB"),
                         ("created_by", "created by")])
            + f"\n{result['image']}: {result['size_mb']} MB of {result['budget_mb']:g} MB budget"
            + ("" if result["within_budget"] else "  OVER BUDGET"))
