/**
 * The `.isnad/manifest-sha256.txt` member of every pack: GNU `sha256sum` output for the pack's own
 * members, so `tar -x && sha256sum -c .isnad/manifest-sha256.txt` checks them with standard tools.
 * GNU coreutils escapes a name holding a backslash, newline or carriage return and marks the line
 * with a leading backslash; we write exactly what `sha256sum` would.
 */

export const PACK_CHECKSUMS_MEMBER = ".isnad/manifest-sha256.txt";

export function sha256sumLine(sha256Hex: string, name: string): string {
  if (!/[\\\n\r]/.test(name)) return `${sha256Hex}  ${name}\n`;
  const escaped = name.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/\r/g, "\\r");
  return `\\${sha256Hex}  ${escaped}\n`;
}

/** Parses sha256sum output back into (hash, name) pairs; throws on a malformed line. */
export function parseSha256sum(text: string): Array<{ sha256: string; name: string }> {
  const out: Array<{ sha256: string; name: string }> = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const escaped = line.startsWith("\\");
    const body = escaped ? line.slice(1) : line;
    const m = /^([0-9a-f]{64}) [ *](.+)$/s.exec(body);
    if (!m?.[1] || m[2] === undefined) throw new Error(`malformed checksum line ${JSON.stringify(line)}`);
    // GNU sha256sum -c --strict accepts only \\, \n and \r escapes; so do we.
    if (escaped && !/^(?:[^\\]|\\[\\nr])*$/.test(m[2])) throw new Error(`malformed checksum line ${JSON.stringify(line)}`);
    const name = escaped
      ? m[2].replace(/\\(.)/g, (_s, c: string) => (c === "n" ? "\n" : c === "r" ? "\r" : c))
      : m[2];
    out.push({ sha256: m[1], name });
  }
  return out;
}
