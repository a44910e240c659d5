"""The row benchmark's results as one table: a line per case, tap against baseline, and the
batch and typed runs' figures when they ran."""

from __future__ import annotations

#: Columns of the typed run: `cols/in row` is its first record's typed columns / keys left
#: in `row`.
TYPED_HEADS = ("typed rows/s", "typed ratio", "RSS typed", "cols/in row")


def table(results: list[dict]) -> str:
    heads = ("case", "rows", "MiB", "rows/s tap", "rows/s base", "ratio", "run/s tap")
    heads += ("run/s base", "run ratio", "RSS tap", "RSS base", "same")
    if any("batch" in r for r in results):
        heads += ("batch run/s", "batch/tap run", "RSS batch")
    if any("typed" in r for r in results):
        heads += TYPED_HEADS
    lines = [heads]
    for r in results:
        tap, base = r["tap"], r["baseline"]
        lines.append(
            (
                r["case"],
                f"{r['rows']:,}",
                f"{r['file_mib']:.0f}",
                f"{tap['row_phase_rows_per_s']:,}",
                f"{base['row_phase_rows_per_s']:,}",
                f"{r['ratio_row_phase']:.2f}",
                f"{tap['run_rows_per_s']:,}",
                f"{base['run_rows_per_s']:,}",
                f"{r['ratio_run']:.2f}",
                f"{tap['peak_rss_mib']:.0f}",
                f"{base['peak_rss_mib']:.0f}",
                "yes" if r["same_messages"] else "NO",
                *(
                    (
                        f"{r['batch']['run_rows_per_s']:,}",
                        f"{r['ratio_batch_to_record_run']:.2f}",
                        f"{r['batch']['peak_rss_mib']:.0f}",
                    )
                    if "batch" in r
                    else ()
                ),
                *_typed_cells(r),
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(heads))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    )


def _typed_cells(result: dict) -> tuple[str, ...]:
    """`result`'s cells under TYPED_HEADS (none when it has no typed run)."""
    if "typed" not in result:
        return ()
    typed, shape = result["typed"], result["typed_first_record"]
    return (
        f"{typed['row_phase_rows_per_s']:,}",
        f"{result['ratio_typed_row_phase']:.2f}",
        f"{typed['peak_rss_mib']:.0f}",
        f"{shape['columns']}/{shape['left_in_row']}"
        + ("" if shape["typed"] else " NOT TYPED")
        + ("" if shape["fast_path"] else " SDK PATH"),
    )
