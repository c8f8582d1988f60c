/** Writes rows as aligned columns (the header first), trailing spaces trimmed. */
export function printTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>, out: NodeJS.WritableStream = process.stdout): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => (row[i] ?? '').length)));
  for (const row of [header, ...rows]) out.write(`${row.map((c, i) => (c ?? '').padEnd(widths[i]!)).join('  ').trimEnd()}\n`);
}
