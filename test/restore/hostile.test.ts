/**
 * Restore of hostile archives (DESIGN.md §2.3). The attacker owns the backed-up host: it holds the
 * recipients and the signing key, so its packs and manifests are validly encrypted, signed and
 * chained (test/helpers/forge.ts builds them that way). Whatever they hold, `isnad restore` must
 * refuse each hostile entry, name it, exit 3, write nothing outside the target, still restore the
 * benign entries beside them, and leave no temporary file behind.
 */
import { generateKeyPairSync, randomBytes, sign } from "node:crypto";
import * as fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signerFingerprint, type Signer } from "../../src/keys/signer.js";
import { sandbox, type RunResult, type Sandbox } from "../helpers/cli.js";
import { dirEntry, fileEntry, forgeSnapshot, symlinkEntry, type ForgedEntry, type ForgedMember } from "../helpers/forge.js";
import { initRepo, type TestRepo } from "../helpers/repo.js";

const UNIQUE = `isnad-hostile-${process.pid}-${randomBytes(6).toString("hex")}`;
/** Targeted by absolute member names; must never be created. */
const ABS_DIR = `/tmp/${UNIQUE}`;
const ABS_FLAT = `/tmp/${UNIQUE}.txt`;

let sb: Sandbox;
let r: TestRepo;
let legit: string;
let sandboxTop: string[];
let outsideMeta: string;

/** Mode and mtime of a path (not followed), to see that nothing changed them. */
const metaOf = (p: string): string => {
  const st = fs.lstatSync(p);
  return `mode ${(st.mode & 0o7777).toString(8)}, mtime ${st.mtime.toISOString()}`;
};

/** Every entry under root as "rel" (lstat, never followed), sorted. */
function listTree(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string, rel: string) => {
    for (const name of fs.readdirSync(dir).sort()) {
      const r2 = rel ? `${rel}/${name}` : name;
      out.push(r2);
      if (fs.lstatSync(path.join(dir, name)).isDirectory()) walk(path.join(dir, name), r2);
    }
  };
  if (fs.existsSync(root)) walk(root, "");
  return out;
}

/** A sentinel folder holding only the target: anything escaping one level up lands beside it. */
function makeSentinel(name: string): { sentinel: string; target: string } {
  const sentinel = sb.path(name);
  fs.mkdirSync(sentinel);
  return { sentinel, target: path.join(sentinel, "target") };
}

function restore(snapshot: string, target: string, extra: string[] = []): Promise<RunResult> {
  return sb.run(["restore", snapshot, "--repo", r.repo, "--target", target, "-i", r.key, ...extra]);
}

/** The REFUSED lines of a text-mode restore. */
const refusedLines = (res: RunResult): string[] => res.stdout.split("\n").filter((l) => l.startsWith("REFUSED"));

const escapeRe = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The entry is named on its own (not merely as the prefix of a longer path) in a REFUSED line on
 * stdout and in an error line of the JSON log on stderr.
 */
function expectNamed(res: RunResult, name: string): void {
  const re = new RegExp(`(^|[\\s"])${escapeRe(name)}(?=$|[\\s":;,)])`);
  const out = refusedLines(res).some((l) => re.test(l));
  expect(out, `no REFUSED line names ${JSON.stringify(name)}:\n${res.stdout}`).toBe(true);
  const logged = res.stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as { level: number; path?: string; msg: string })
    .some((l) => l.level >= 50 && (l.path === name || re.test(l.msg)));
  expect(logged, `no error line on stderr names ${JSON.stringify(name)}:\n${res.stderr}`).toBe(true);
}

function expectNothingOutside(sentinel: string): void {
  expect(fs.readdirSync(sentinel)).toEqual(["target"]);
  expect(fs.existsSync(ABS_DIR), `${ABS_DIR} was created`).toBe(false);
  expect(fs.existsSync(ABS_FLAT), `${ABS_FLAT} was created`).toBe(false);
  // Folders the tests make themselves are named sentinel-* and outside-*; nothing else may appear.
  expect(fs.readdirSync(sb.dir).filter((n) => !sandboxTop.includes(n) && !/^(sentinel|outside)-/.test(n))).toEqual([]);
  expect(listTree(sb.path("outside"))).toEqual(["victim.txt"]);
  expect(fs.readFileSync(sb.path("outside/victim.txt"), "utf8")).toBe("victim\n");
  expect(metaOf(sb.path("outside")), "mode or mtime of a folder outside the target changed").toBe(outsideMeta);
}

const noTempFiles = (target: string) => expect(listTree(target).filter((p) => path.posix.basename(p).startsWith(".isnad-restore-"))).toEqual([]);

/**
 * Symlinks under root that lead outside it, as "rel -> where". realpath(3) (.native): Node's JS
 * realpathSync folds ".." lexically before following links, so it misses escapes through a link.
 */
function symlinkEscapes(root: string): string[] {
  const real = fs.realpathSync.native(root);
  return listTree(root).flatMap((rel) => {
    const abs = path.join(root, rel);
    if (!fs.lstatSync(abs).isSymbolicLink()) return [];
    let to: string;
    try {
      to = fs.realpathSync.native(abs);
    } catch {
      // Dangling: resolve the link text lexically from its real parent (a best effort).
      to = path.resolve(fs.realpathSync.native(path.dirname(abs)), fs.readlinkSync(abs));
    }
    return to === real || to.startsWith(real + path.sep) ? [] : [`${rel} -> ${to}`];
  });
}

beforeAll(async () => {
  sb = sandbox();
  r = await initRepo(sb);
  fs.mkdirSync(sb.path("outside"));
  fs.writeFileSync(sb.path("outside/victim.txt"), "victim\n");
  const site = sb.path("src/site");
  fs.mkdirSync(path.join(site, "sub"), { recursive: true });
  fs.writeFileSync(path.join(site, "index.html"), "<h1>legit</h1>\n");
  fs.writeFileSync(path.join(site, "sub/page.txt"), "legit page\n");
  fs.writeFileSync(path.join(site, "zz.txt"), "last file\n");
  // A folder mode and time that differ from any folder the tests make, so a chmod or utimes
  // that reaches outside the target shows.
  fs.chmodSync(path.join(site, "sub"), 0o750);
  fs.utimesSync(path.join(site, "sub"), new Date("2001-02-03T04:05:06Z"), new Date("2001-02-03T04:05:06Z"));
  const snap = await sb.run(["--json", "snapshot", "--repo", r.repo, site]);
  expect(snap.code, snap.stderr).toBe(0);
  legit = (JSON.parse(snap.stdout) as { snapshot: string }).snapshot;
  sandboxTop = fs.readdirSync(sb.dir);
  outsideMeta = metaOf(sb.path("outside"));
});

afterAll(() => {
  sb?.cleanup();
  fs.rmSync(ABS_DIR, { recursive: true, force: true });
  fs.rmSync(ABS_FLAT, { force: true });
});

describe("a signed pack full of hostile members", () => {
  const INDEX = "<h1>benign</h1>\n";
  const PAGE = "benign page\n";
  // Larger than a read chunk, so they arrive in pieces and go through a temporary name (the
  // small members above are checked whole before their name is created).
  const BIG = randomBytes(3 << 20);
  const BIG_EVIL = Buffer.concat([BIG.subarray(0, BIG.length - 1), Buffer.from([BIG.at(-1)! ^ 1])]);
  /** Each hostile member, with the name a REFUSED line must carry. */
  const hostile: Array<{ what: string; member: ForgedMember; entry?: ForgedEntry }> = [
    { what: "absolute path into a folder", member: { name: `${ABS_DIR}/abs.txt`, content: "absolute\n" } },
    { what: "absolute path of a file", member: { name: ABS_FLAT, content: "absolute\n" } },
    { what: "'..' first", member: { name: "../escape.txt", content: "escape\n" } },
    { what: "'..' in the middle", member: { name: "ok/../../escape2.txt", content: "escape2\n" } },
    {
      what: "hard link",
      member: { name: "site/hard", type: "link", linkname: "" }, // linkname set in beforeAll (outside victim)
      entry: fileEntry("site/hard", ""),
    },
    { what: "symlink member", member: { name: "site/sym", type: "symlink", linkname: "/etc" }, entry: fileEntry("site/sym", "") },
    {
      what: "character device",
      member: { name: "site/null", type: "character-device", devmajor: 1, devminor: 3 },
      entry: fileEntry("site/null", ""),
    },
    { what: "fifo", member: { name: "site/fifo", type: "fifo" }, entry: fileEntry("site/fifo", "") },
    { what: "directory member", member: { name: "site/dirmember", type: "directory" } },
  ];
  let res: RunResult;
  let sentinel: string;
  let target: string;

  beforeAll(async () => {
    hostile.find((h) => h.what === "hard link")!.member.linkname = sb.path("outside/victim.txt");
    ({ sentinel, target } = makeSentinel("sentinel-pack"));
    const members: ForgedMember[] = [
      { name: "site/index.html", content: INDEX },
      ...hostile.map((h) => h.member),
      // A duplicate: the first copy matches the manifest, the second must not replace it.
      { name: "site/dup.txt", content: "first copy\n" },
      { name: "site/dup.txt", content: "second copy, hostile\n" },
      // The tar size disagrees with the manifest's.
      { name: "site/size.txt", content: "ten bytes!" },
      // Not listed in the manifest at all.
      { name: "site/unlisted.txt", content: "unlisted\n" },
      // Same size as the manifest says, other content.
      { name: "site/hash.txt", content: "evil" },
      { name: "site/big-hash.bin", content: BIG_EVIL },
      { name: "site/big.bin", content: BIG },
      { name: "site/sub/page.txt", content: PAGE },
    ];
    const entries: ForgedEntry[] = [
      dirEntry("site"),
      dirEntry("site/sub"),
      fileEntry("site/index.html", INDEX),
      ...hostile.flatMap((h) => (h.entry ? [h.entry] : [])),
      fileEntry("site/dup.txt", "first copy\n"),
      fileEntry("site/size.txt", "five!"),
      fileEntry("site/hash.txt", "good"),
      fileEntry("site/big-hash.bin", BIG),
      fileEntry("site/big.bin", BIG),
      fileEntry("site/sub/page.txt", PAGE),
    ];
    const snap = await forgeSnapshot({ repo: r.repo, signingKey: r.signingKey, recipient: r.recipient, packs: [{ members }], entries });
    res = await restore(snap.snapshot, target);
  });

  it("exits 3", () => {
    expect(res.code, res.stdout + res.stderr).toBe(3);
  });

  it.each([
    "absolute path into a folder",
    "absolute path of a file",
    "'..' first",
    "'..' in the middle",
    "hard link",
    "symlink member",
    "character device",
    "fifo",
    "directory member",
  ])("refuses and names the %s", (what) => {
    expectNamed(res, hostile.find((h) => h.what === what)!.member.name);
  });

  it("refuses and names the duplicate, keeping the first copy that matches the manifest", () => {
    expect(refusedLines(res).some((l) => l.includes('"site/dup.txt"') && l.includes("duplicate")), res.stdout).toBe(true);
    expect(fs.readFileSync(path.join(target, "site/dup.txt"), "utf8")).toBe("first copy\n");
  });

  it("refuses and names the member whose tar size disagrees with the manifest", () => {
    expectNamed(res, "site/size.txt");
    expect(fs.existsSync(path.join(target, "site/size.txt"))).toBe(false);
  });

  it.each(["site/hash.txt", "site/big-hash.bin"])("refuses and names %s, whose content does not match its SHA-256, and writes none of it", (name) => {
    expect(refusedLines(res).some((l) => l.includes(name) && /SHA-256/.test(l)), res.stdout).toBe(true);
    expect(fs.existsSync(path.join(target, name))).toBe(false);
  });

  it("does not restore the member no manifest entry lists", () => {
    expect(fs.existsSync(path.join(target, "site/unlisted.txt"))).toBe(false);
    expect(listTree(target).filter((p) => p.includes("unlisted"))).toEqual([]);
  });

  // A member no entry of this manifest lists is not named: with dedup, packs are shared between
  // snapshots and legitimately hold members of others (files deleted or changed since), so it is
  // drained unread like them. It is still never written (above).

  it("writes nothing outside the target", () => {
    expectNothingOutside(sentinel);
  });

  it("creates no link, device, fifo or stray file in the target", () => {
    const tree = listTree(target);
    expect(tree).toEqual(["site", "site/big.bin", "site/dup.txt", "site/index.html", "site/sub", "site/sub/page.txt"]);
    for (const rel of tree) {
      const st = fs.lstatSync(path.join(target, rel));
      expect(st.isFile() || st.isDirectory(), rel).toBe(true);
      if (st.isFile()) expect(st.nlink, `${rel} is a hard link`).toBe(1);
    }
  });

  it("restores the benign members of the same pack, byte for byte", () => {
    expect(fs.readFileSync(path.join(target, "site/index.html"), "utf8")).toBe(INDEX);
    expect(fs.readFileSync(path.join(target, "site/sub/page.txt"), "utf8")).toBe(PAGE);
    expect(fs.readFileSync(path.join(target, "site/big.bin")).equals(BIG)).toBe(true);
    expect(res.stdout).toMatch(/restored snapshot [0-9a-f]{16} into .*: 4 files/);
  });

  it("leaves no .isnad-restore-* temporary file", () => {
    noTempFiles(target);
  });
});

describe("manifest symlinks that point outside, with entries below them", () => {
  let res: RunResult;
  let sentinel: string;
  let target: string;
  let absOutside: string;

  beforeAll(async () => {
    ({ sentinel, target } = makeSentinel("sentinel-links"));
    absOutside = sb.path("outside");
    const snap = await forgeSnapshot({
      repo: r.repo,
      signingKey: r.signingKey,
      recipient: r.recipient,
      packs: [
        {
          members: [
            { name: "site/index.html", content: "index\n" },
            { name: "site/abs/planted.txt", content: "planted\n" },
            { name: "site/etc/cron.d/evil", content: "* * * * * root evil\n" },
            { name: "site/inside/x.txt", content: "under an inside link\n" },
          ],
        },
      ],
      entries: [
        dirEntry("site"),
        // From target/site, "../../etc" is the sentinel's sibling "etc": outside the target.
        symlinkEntry("site/etc", "../../etc"),
        dirEntry("site/etc/cron.d"),
        fileEntry("site/etc/cron.d/evil", "* * * * * root evil\n"),
        symlinkEntry("site/passwd", "/etc/passwd"),
        symlinkEntry("site/abs", absOutside),
        fileEntry("site/abs/planted.txt", "planted\n"),
        // Inside the target, but a file below a link of the same snapshot is refused all the same.
        symlinkEntry("site/inside", "."),
        fileEntry("site/inside/x.txt", "under an inside link\n"),
        fileEntry("site/index.html", "index\n"),
        symlinkEntry("site/home", "index.html"),
      ],
    });
    res = await restore(snap.snapshot, target);
  });

  it("exits 3", () => {
    expect(res.code, res.stdout + res.stderr).toBe(3);
  });

  it.each(["site/etc", "site/passwd", "site/abs"])("refuses and names the symlink %s", (p) => {
    expect(refusedLines(res).some((l) => l.includes(`${p}: refused symlink`)), res.stdout).toBe(true);
    expect(fs.existsSync(path.join(target, p))).toBe(false);
  });

  it.each(["site/etc/cron.d", "site/etc/cron.d/evil", "site/abs/planted.txt", "site/inside/x.txt"])(
    "refuses and names %s, below a symlink",
    (p) => {
      expectNamed(res, p);
    },
  );

  it("writes nothing outside the target", () => {
    expectNothingOutside(sentinel);
    expect(fs.existsSync(path.join(sentinel, "etc"))).toBe(false);
  });

  it("restores the benign file and the symlink that stays inside", () => {
    expect(fs.readFileSync(path.join(target, "site/index.html"), "utf8")).toBe("index\n");
    expect(fs.readlinkSync(path.join(target, "site/home"))).toBe("index.html");
    expect(fs.readlinkSync(path.join(target, "site/inside"))).toBe(".");
    expect(listTree(target)).toEqual(["site", "site/home", "site/index.html", "site/inside"]);
    noTempFiles(target);
  });
});

describe("a symlink that escapes through another symlink of the snapshot", () => {
  // d/b -> ".." is the target itself (inside); d/a -> "b/../.." reads as "." lexically, but the
  // system resolves d/b first: target/../.. , two levels above the target (the sandbox folder).
  let res: RunResult;
  let chainMeta: string;
  let sentinel: string;
  let target: string;

  beforeAll(async () => {
    ({ sentinel, target } = makeSentinel("sentinel-chain"));
    fs.mkdirSync(sb.path("outside-chain"));
    fs.chmodSync(sb.path("outside-chain"), 0o755);
    chainMeta = metaOf(sb.path("outside-chain"));
    const snap = await forgeSnapshot({
      repo: r.repo,
      signingKey: r.signingKey,
      recipient: r.recipient,
      packs: [{ members: [{ name: "d/ok.txt", content: "ok\n" }] }],
      entries: [
        dirEntry("d"),
        symlinkEntry("d/a", "b/../.."),
        // Refused when folders are made (it lies below d/a), but still a folder whose mode and time
        // restore sets at the end: through d/a, that is the sandbox's "outside-chain" folder.
        dirEntry("d/a/outside-chain", 0o777),
        symlinkEntry("d/b", ".."),
        fileEntry("d/ok.txt", "ok\n"),
      ],
    });
    res = await restore(snap.snapshot, target);
  });

  it("writes nothing outside the target", () => {
    expectNothingOutside(sentinel);
    expect(fs.readFileSync(path.join(target, "d/ok.txt"), "utf8")).toBe("ok\n");
  });

  it("sets no mode or time on a folder outside the target through the escaping link", () => {
    expect(metaOf(sb.path("outside-chain"))).toBe(chainMeta);
  });

  it("leaves no symlink in the target that resolves outside it", () => {
    expect(symlinkEscapes(target), res.stdout).toEqual([]);
  });

  it("refuses and names d/a and the folder below it, exit 3", () => {
    expect(res.code, res.stdout + res.stderr).toBe(3);
    expectNamed(res, "d/a");
    expectNamed(res, "d/a/outside-chain");
  });
});

describe.each([
  { what: "'..' first", bad: "../escape.txt" },
  { what: "absolute", bad: `${ABS_FLAT}` },
  { what: "'..' in the middle", bad: "site/../../escape2.txt" },
  { what: "'.' segment", bad: "site/./x.txt" },
  { what: "empty segment", bad: "site//x.txt" },
])("a manifest entry with an unsafe path ($what)", ({ bad }) => {
  let res: RunResult;
  let sentinel: string;
  let target: string;

  beforeAll(async () => {
    ({ sentinel, target } = makeSentinel(`sentinel-manifest-${randomBytes(4).toString("hex")}`));
    const snap = await forgeSnapshot({
      repo: r.repo,
      signingKey: r.signingKey,
      recipient: r.recipient,
      packs: [{ members: [{ name: "site/a.txt", content: "a\n" }, { name: bad, content: "bad\n" }] }],
      entries: [dirEntry("site"), fileEntry("site/a.txt", "a\n"), fileEntry(bad, "bad\n")],
      keepOrder: true,
    });
    res = await restore(snap.snapshot, target);
  });

  it("refuses the whole manifest, naming the path, exit 3", () => {
    expect(res.code, res.stdout + res.stderr).toBe(3);
    const all = res.stdout + res.stderr;
    expect(all).toContain("unsafe path");
    expect(all).toContain(bad);
  });

  it("writes nothing at all: not even the target folder, inside or outside it", () => {
    expect(fs.existsSync(target)).toBe(false);
    fs.mkdirSync(target); // what expectNothingOutside expects to find alone in the sentinel
    expectNothingOutside(sentinel);
  });
});

describe("a pre-existing symlink in the target that points outside (--overwrite)", () => {
  describe("target/site -> outside, the snapshot has site/index.html, site/sub/page.txt, site/zz.txt", () => {
    let res: RunResult;
    let sentinel: string;
    let target: string;
    let outside: string;
    let before: string;

    beforeAll(async () => {
      ({ sentinel, target } = makeSentinel("sentinel-prelink-top"));
      outside = sb.path("outside-top");
      fs.mkdirSync(path.join(outside, "sub"), { recursive: true });
      fs.chmodSync(path.join(outside, "sub"), 0o755);
      before = metaOf(path.join(outside, "sub"));
      fs.mkdirSync(target);
      fs.symlinkSync(outside, path.join(target, "site"));
      res = await restore(legit, target, ["--overwrite"]);
    });

    it("writes no file through the link, and leaves the link as it was", () => {
      expect(listTree(outside)).toEqual(["sub"]);
      expect(fs.readlinkSync(path.join(target, "site"))).toBe(outside);
      expect(fs.readdirSync(sentinel)).toEqual(["target"]);
      noTempFiles(target);
      noTempFiles(outside);
    });

    it("sets no mode or time through the link (the snapshot's site/sub is mode 750, mtime 2001)", () => {
      expect(metaOf(path.join(outside, "sub"))).toBe(before);
    });

    it("exits 3", () => {
      expect(res.code, res.stdout + res.stderr).toBe(3);
    });

    it.each(["site", "site/index.html", "site/sub/page.txt", "site/zz.txt"])("refuses and names %s", (p) => {
      expectNamed(res, p);
    });
  });

  describe("target/site/sub -> outside", () => {
    let res: RunResult;
    let sentinel: string;
    let target: string;
    let outside: string;

    beforeAll(async () => {
      ({ sentinel, target } = makeSentinel("sentinel-prelink-deep"));
      outside = sb.path("outside-deep");
      fs.mkdirSync(outside);
      fs.mkdirSync(path.join(target, "site"), { recursive: true });
      fs.symlinkSync(outside, path.join(target, "site/sub"));
      res = await restore(legit, target, ["--overwrite"]);
    });

    it("writes nothing through the link", () => {
      expect(listTree(outside)).toEqual([]);
      expect(fs.readdirSync(sentinel)).toEqual(["target"]);
      noTempFiles(target);
    });

    it("refuses and names site/sub/page.txt, exit 3", () => {
      expect(res.code, res.stdout + res.stderr).toBe(3);
      expectNamed(res, "site/sub/page.txt");
    });

    it("still restores the pack's other files, before and after the refused one", () => {
      expect(fs.readFileSync(path.join(target, "site/index.html"), "utf8")).toBe("<h1>legit</h1>\n");
      expect(fs.readFileSync(path.join(target, "site/zz.txt"), "utf8")).toBe("last file\n");
    });
  });

  it("target/site/index.html -> outside file: replaced by the restored file, the outside file untouched", async () => {
    const { target } = makeSentinel("sentinel-prelink-file");
    fs.mkdirSync(path.join(target, "site"), { recursive: true });
    fs.symlinkSync(sb.path("outside/victim.txt"), path.join(target, "site/index.html"));
    const res = await restore(legit, target, ["--overwrite"]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(fs.lstatSync(path.join(target, "site/index.html")).isFile()).toBe(true);
    expect(fs.readFileSync(path.join(target, "site/index.html"), "utf8")).toBe("<h1>legit</h1>\n");
    expect(fs.readFileSync(sb.path("outside/victim.txt"), "utf8")).toBe("victim\n");
    noTempFiles(target);
  });

  it("target/site/index.html, a hard link to an outside file: replaced by the restored file, the outside file untouched", async () => {
    const { target } = makeSentinel("sentinel-prehardlink");
    fs.mkdirSync(path.join(target, "site"), { recursive: true });
    fs.linkSync(sb.path("outside/victim.txt"), path.join(target, "site/index.html"));
    const res = await restore(legit, target, ["--overwrite"]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    expect(fs.readFileSync(path.join(target, "site/index.html"), "utf8")).toBe("<h1>legit</h1>\n");
    expect(fs.statSync(path.join(target, "site/index.html")).nlink).toBe(1);
    expect(fs.readFileSync(sb.path("outside/victim.txt"), "utf8")).toBe("victim\n");
    noTempFiles(target);
  });

  it("a folder where the snapshot has a file: named, left as it is, the other files restored", async () => {
    const { target } = makeSentinel("sentinel-prefolder");
    fs.mkdirSync(path.join(target, "site/index.html"), { recursive: true });
    fs.writeFileSync(path.join(target, "site/index.html/keep.txt"), "kept\n");
    const res = await restore(legit, target, ["--overwrite"]);
    expect(res.code, res.stdout + res.stderr).toBe(3);
    expect(refusedLines(res).some((l) => l.includes("site/index.html") && l.includes("a folder is in the way")), res.stdout).toBe(true);
    expect(fs.readFileSync(path.join(target, "site/index.html/keep.txt"), "utf8")).toBe("kept\n");
    expect(fs.readFileSync(path.join(target, "site/sub/page.txt"), "utf8")).toBe("legit page\n");
    noTempFiles(target);
  });

  it("an existing file with other content and mode: replaced, with the snapshot's content, mode and time", async () => {
    const { target } = makeSentinel("sentinel-prefile");
    fs.mkdirSync(path.join(target, "site/sub"), { recursive: true });
    const dest = path.join(target, "site/sub/page.txt");
    fs.writeFileSync(dest, "defaced by the attacker, and longer than the original\n", { mode: 0o777 });
    fs.chmodSync(dest, 0o777);
    const res = await restore(legit, target, ["--overwrite"]);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const orig = fs.statSync(sb.path("src/site/sub/page.txt"));
    const st = fs.statSync(dest);
    expect(fs.readFileSync(dest, "utf8")).toBe("legit page\n");
    expect(st.mode & 0o7777).toBe(orig.mode & 0o7777);
    expect(Math.abs(st.mtimeMs - orig.mtimeMs)).toBeLessThan(1);
    noTempFiles(target);
  });
});

describe("a seal the repository's signer did not sign", () => {
  // Not the compromised host this time, but the storage (DESIGN.md §2.2): it can encrypt to the
  // public recipient, but cannot sign. Such a snapshot does not exist, so restore must not use it.
  it("is refused, exit 3, and nothing is restored", async () => {
    const { privateKey, publicKey } = generateKeyPairSync("ed25519");
    const raw = Buffer.from(publicKey.export({ format: "jwk" }).x!, "base64url");
    const stranger: Signer = { publicKey: raw, fingerprint: signerFingerprint(raw), sign: (d) => sign(null, d, privateKey) };
    const snap = await forgeSnapshot({
      repo: r.repo,
      signer: stranger,
      claimSigner: r.fingerprint,
      recipient: r.recipient,
      packs: [{ members: [{ name: "site/index.html", content: "forged by the storage\n" }] }],
      entries: [dirEntry("site"), fileEntry("site/index.html", "forged by the storage\n")],
    });
    const { target } = makeSentinel("sentinel-unsigned");
    const res = await restore(snap.snapshot, target);
    expect(res.code, res.stdout + res.stderr).toBe(3);
    expect(fs.existsSync(path.join(target, "site/index.html"))).toBe(false);
  });
});
