/**
 * Restoring the members of one pack: each tar member is checked against the plan (a safe name,
 * a regular file, one the manifest lists, not twice, the size it records), then written by
 * FileWrite, which checks its SHA-256; other paths with the same content are copied from the
 * first and checked again. Everything else is refused with a reason, or skipped unread. What
 * happens is told to a PackSink, as data.
 */
import type { TarVisitor } from "../format/tar-reader.js";
import { unsafePathReason } from "../format/manifest.js";
import { PACK_CHECKSUMS_MEMBER } from "../format/sha256sum.js";
import type { FindingCode } from "../verify/findings.js";
import { messageOf } from "../errors.js";
import { copyFileEntry, FileWrite } from "./file-write.js";
import { parentsOf } from "./select.js";
import type { FileRecord } from "./selected-files.js";

/** One pack's share of a restore plan. */
export interface PackPlan {
  key: string;
  /** The selected member names (keys only). */
  members: ReadonlyMap<string, unknown>;
  /** The files that share a selected member's content, in manifest order (made when it comes). */
  filesOf(member: string): FileRecord[];
  /**
   * Every member name the manifest gives this pack, selected or not (a partial restore only: any
   * other member is unexpected). Without it, that is `members`' keys.
   */
  known?: ReadonlySet<string>;
}

/** Where a restore writes. */
export interface RestorePlace {
  target: string;
  /** Folders (relative paths) checked or made so far: never checked twice. */
  checked: Set<string>;
  /** The snapshot's symlinks: nothing is written under one. */
  links: ReadonlySet<string>;
}

export interface PackSink {
  refuse(code: FindingCode, message: string, path?: string, object?: string): void;
  restored(path: string, bytes: number): void;
}

export class PackRestore {
  private readonly done = new Set<string>();
  /** The file being written, if the pack turns out bad in its middle: removed, never left half-written. */
  private writing: FileWrite | undefined;

  constructor(
    private readonly place: RestorePlace,
    private readonly plan: PackPlan,
    private readonly sink: PackSink,
  ) {}

  /** Whether a path lies under one of the snapshot's symlinks. */
  private underLink(p: string): boolean {
    return parentsOf(p).some((d) => this.place.links.has(d));
  }

  readonly visitor: TarVisitor = (h) => {
    const { key, members } = this.plan;
    const name = h.name;
    const refuse = (why: string, p = name) => this.sink.refuse("entry-refused", `${key}: refused entry ${JSON.stringify(name)}: ${why}`, p, key);
    if (name === PACK_CHECKSUMS_MEMBER && h.type === "file") return undefined;
    const unsafe = unsafePathReason(name);
    if (unsafe) return void refuse(unsafe);
    if (h.type !== "file") return void refuse(`a ${h.type}, packs hold only regular files`);
    // With dedup a snapshot points into packs other snapshots wrote, which hold their members
    // too (files since deleted or changed): a regular file this manifest does not name is
    // another snapshot's content, skipped unread. Nothing is ever written but what it names.
    if (!(this.plan.known ?? members).has(name)) return undefined;
    if (this.done.has(name)) return void refuse("duplicate");
    if (!members.has(name)) return undefined; // in the manifest but not selected: skipped unread
    const list = this.plan.filesOf(name);
    this.done.add(name);
    const first = list[0]!;
    if (h.size !== first.size) {
      for (const x of list) refuse(`${h.size} bytes, the manifest says ${first.size}`, x.path);
      return undefined;
    }
    const eligible = list.filter((x) => {
      if (!this.underLink(x.path)) return true;
      this.sink.refuse("entry-refused", `${x.path}: refused, it lies under a symlink of the same snapshot`, x.path);
      return false;
    });
    const head = eligible[0];
    if (!head) return undefined;
    let out: FileWrite;
    try {
      out = this.writing = new FileWrite(this.place.target, this.place.checked, head);
    } catch (err) {
      for (const x of eligible) this.sink.refuse("restore-failed", `${x.path}: ${messageOf(err)}; not restored`, x.path, key);
      return undefined;
    }
    return {
      data: (chunk) => out.write(chunk),
      end: () => {
        this.writing = undefined;
        this.finishFile(out, eligible);
      },
    };
  };

  private finishFile(out: FileWrite, files: FileRecord[]): void {
    const key = this.plan.key;
    const [head, ...copies] = files as [FileRecord, ...FileRecord[]];
    let written: { dest: string } | string;
    try {
      written = out.finish();
    } catch (err) {
      written = messageOf(err); // e.g. the rename into place failed: this file only, not the pack
      out.failedOnDisk = true;
    }
    if (typeof written === "string") {
      this.sink.refuse(out.failedOnDisk ? "restore-failed" : "member-hash", `${head.path}: ${written}; not restored`, head.path, key);
      for (const x of copies) this.sink.refuse("restore-failed", `${x.path}: the content it shares with ${head.path} was not restored`, x.path, key);
      return;
    }
    this.sink.restored(head.path, head.size);
    // Other paths with the same content: copied from the first, checked again as they are written.
    for (const x of copies) {
      const copied = copyFileEntry(this.place.target, this.place.checked, x, written.dest);
      if (typeof copied === "string") this.sink.refuse("restore-failed", `${x.path}: ${copied}; not restored`, x.path, key);
      else this.sink.restored(x.path, x.size);
    }
  }

  /** The pack failed part way: removes the file being written. */
  abort(): void {
    this.writing?.abort();
    this.writing = undefined;
  }

  /** Once the pack was read or failed: every selected member it did not hold is reported. */
  reportMissing(): void {
    for (const member of this.plan.members.keys()) {
      if (!this.done.has(member)) for (const e of this.plan.filesOf(member)) this.sink.refuse("member-missing", `${e.path}: not found in ${this.plan.key}; not restored`, e.path, this.plan.key);
    }
  }
}
