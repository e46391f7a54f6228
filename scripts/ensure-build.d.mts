// Types of scripts/ensure-build.mjs (plain JavaScript: it must run before anything is compiled).
export declare const SOURCE_DIRS: readonly string[];
export declare const SOURCE_FILE_PATTERN: RegExp;
export declare const STAMP: string;
export declare const ENTRY: string;
export interface BuildFacts {
  entryExists: boolean;
  stampMs: number | undefined;
  newestSourceMs: number;
}
export declare function buildReason(facts: BuildFacts): string | null;
export declare function newestSourceMtime(root: string): number;
export declare function readBuildFacts(root: string): BuildFacts;
export declare function ensureBuild(
  root: string,
  build: (reason: string) => number,
): { built: boolean; reason: string | null; status: number };
